// The platform's own metrics for the write path (the seed's taxonomy), registered in one
// prometheus-cpp registry that the API serves at /metrics. Label values come from bounded
// sets: tenant names from the control plane, the signal types, the fixed drop reasons of
// DESIGN.md §2, route names and status codes. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "signal/batch.h"
#include "wal/wal.h"

namespace observex::ingest {

// The fixed set of reasons a signal is refused or dropped.
enum class DropReason {
  kOverload,
  kAuth,
  kDecode,
  kNoTenant,
  kTooLarge,
  kActorFull,
  kSampledOut,
  kWalError,
  kPluginDrop
};
std::string_view DropReasonName(DropReason reason);

class IngestMetrics : public wal::WalObserver {
 public:
  explicit IngestMetrics(std::shared_ptr<prometheus::Registry> registry);

  void SignalsReceived(std::string_view tenant, SignalType type, uint64_t n);
  void SignalsDropped(std::string_view tenant, SignalType type, DropReason reason, uint64_t n);
  void SetQueueDepth(std::string_view stage, double signals);
  void HttpRequest(std::string_view route, int code);
  void GrpcRequest(std::string_view method, std::string_view code);
  void AttributesTruncated(std::string_view tenant, uint64_t values, uint64_t dropped);

  // wal::WalObserver
  void OnWrite(double seconds, uint64_t bytes) override;
  void OnFsync(double seconds, uint64_t entries) override;
  void OnCorruptBytes(uint64_t bytes) override;

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Counter>& grpc_requests_;
  prometheus::Family<prometheus::Counter>& truncated_values_;
  prometheus::Family<prometheus::Counter>& dropped_attributes_;
  prometheus::Histogram& wal_write_seconds_;
  prometheus::Histogram& wal_fsync_seconds_;
  prometheus::Counter& wal_written_bytes_;
  prometheus::Counter& wal_fsyncs_;
  prometheus::Counter& wal_corrupt_bytes_;
};

}  // namespace observex::ingest
