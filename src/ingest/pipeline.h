// The ingest pipeline: admission, then decode -> validate -> enrich -> WAL, each stage a
// bounded queue and its own thread(s), moving whole requests (one pointer per request).
//
// Admission is the only place a request waits for nothing: Submit() either takes the
// request or refuses it at once (ResourceExhausted), before the body is decoded, when
// accepting it would pass the ingest queue's signal budget, a tenant's share of it, the
// in-flight byte budget or the WAL's budgets. Signals are estimated from the body size
// until decoding tells the real count; one request counts at most its tenant's share, so
// an idle tenant is always admitted and no single request can shut other tenants out. Everything a
// request holds is released when its completion runs, which happens exactly once: after the WAL
// fsync that covers it (accepted), or when a stage refuses it.
//
// Thread-safety: Submit may be called from any thread. Completions run on pipeline or
// WAL threads and must not block.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/bounded_queue.h"
#include "ingest/metrics.h"
#include "otlp/otlp.h"
#include "signal/batch.h"
#include "tenant/key_store.h"
#include "wal/wal.h"

namespace observex::ingest {

// What happened to a request; the receivers map it to HTTP / gRPC codes in one place
// (status_mapping.h).
enum class Outcome {
  kAccepted,     // durable; 200 / OK (possibly with a partial-success message)
  kBadRequest,   // malformed or invalid; 400 / INVALID_ARGUMENT
  kTooLarge,     // decompressed body over the limit; 413 / RESOURCE_EXHAUSTED
  kOverloaded,   // a budget is full; 429 / RESOURCE_EXHAUSTED + retry
  kUnavailable,  // shutting down or the WAL failed; 503 / UNAVAILABLE + retry
};

struct IngestResult {
  Outcome outcome = Outcome::kAccepted;
  std::string message;    // error text, or a partial-success warning when accepted
  uint32_t accepted = 0;  // signals made durable
  int64_t rejected = 0;   // signals refused inside an accepted request
};

// What the body of a SignalType::kPrometheus request holds. The decode stage turns each into
// an uncompressed remote-write WriteRequest, the form the WAL stores.
enum class PromFormat : uint8_t {
  kRemoteWrite,      // WriteRequest protobuf (remote write 1.0)
  kPrometheusText,   // text exposition format 0.0.4
  kOpenMetricsText,  // OpenMetrics 1.0 text
};

struct IngestRequest {
  tenant::AuthResult tenant;
  SignalType type = SignalType::kTraces;
  otlp::Encoding encoding = otlp::Encoding::kProtobuf;  // OTLP only
  bool gzip = false;
  bool snappy = false;  // a snappy block (remote write); kPrometheus only
  PromFormat prom_format = PromFormat::kRemoteWrite;  // kPrometheus only
  // Text samples written without a timestamp get this time (the request's arrival).
  int64_t received_at_ms = 0;
  std::string body;
  absl::AnyInvocable<void(IngestResult) &&> done;
};

struct PipelineOptions {
  uint64_t queue_signals = 65'536;           // the ingest queue's budget, in signals
  double tenant_share = 0.5;                 // most of the queue one tenant may hold
  uint64_t max_inflight_bytes = 512u << 20;  // request bytes held between admission and ack
  size_t max_decompressed_bytes = 20u << 20;
  otlp::Limits limits;
  int decode_threads = 2;
  std::string version = "0.0.0";
  // Bytes of body per estimated signal, before decoding tells the real count.
  uint64_t estimate_bytes_per_signal = 128;
};

class Pipeline {
 public:
  // `wal` and `metrics` must outlive the pipeline.
  Pipeline(PipelineOptions options, wal::Wal* wal, IngestMetrics* metrics);
  ~Pipeline();

  // Takes the request (and later runs its `done`) or refuses at once: ResourceExhausted
  // with a message naming the budget, Unavailable once shutting down. On refusal
  // `request` is left intact and `done` is not called.
  absl::Status Submit(IngestRequest& request);

  // Stops admitting, lets every admitted request finish, joins the stage threads.
  void Shutdown();

  // Publishes queue depths to the metrics (called before /metrics is served).
  void PublishQueueDepths();

  struct Budget {
    uint64_t signals = 0;
    uint64_t bytes = 0;
  };
  Budget inflight() const;

 private:
  struct Work;
  using WorkPtr = std::unique_ptr<Work>;

  void DecodeLoop();
  // The decode stage for SignalType::kPrometheus: leaves the WriteRequest to store in the
  // request's body and passes the work on, or finishes it.
  void DecodePrometheus(WorkPtr work);
  void ValidateLoop();
  void EnrichLoop();
  void Finish(WorkPtr work, IngestResult result);
  void Release(const Work& work);
  void Resize(Work& work, uint64_t new_weight);
  uint64_t TenantCap() const;

  const PipelineOptions options_;
  wal::Wal* const wal_;
  IngestMetrics* const metrics_;

  mutable absl::Mutex mu_;
  uint64_t inflight_signals_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t inflight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<int64_t, uint64_t> tenant_signals_ ABSL_GUARDED_BY(mu_);
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;

  BoundedQueue<WorkPtr> decode_queue_;
  BoundedQueue<WorkPtr> validate_queue_;
  BoundedQueue<WorkPtr> enrich_queue_;
  std::atomic<uint64_t> in_wal_signals_{0};
  std::vector<std::thread> decode_threads_;
  std::thread validate_thread_;
  std::thread enrich_thread_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace observex::ingest
