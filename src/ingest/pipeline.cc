#include "ingest/pipeline.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/logging.h"
#include "metrics/remote_write.h"
#include "metrics/text_format.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "snappy.h"

namespace observex::ingest {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;

struct Pipeline::Work {
  IngestRequest request;
  uint64_t weight = 0;  // signals accounted in the budgets (estimate, then actual)
  uint64_t bytes = 0;   // body bytes accounted in the byte budget
  otlp::DecodedRequest decoded;
  bool reencode = false;  // the stored form must be re-serialised from `decoded`
  int64_t rejected = 0;
  std::string warning;
};

namespace {

// Removes items no query could use; returns how many were removed and why.
int64_t RejectUnusableSpans(coltrace::ExportTraceServiceRequest& req, std::string& why) {
  int64_t rejected = 0;
  for (auto& rs : *req.mutable_resource_spans()) {
    for (auto& ss : *rs.mutable_scope_spans()) {
      auto* spans = ss.mutable_spans();
      auto keep = std::remove_if(spans->begin(), spans->end(), [](const auto& span) {
        return span.trace_id().empty() || span.span_id().empty();
      });
      int64_t n = spans->end() - keep;
      if (n > 0) {
        spans->erase(keep, spans->end());
        rejected += n;
      }
    }
  }
  if (rejected) why = absl::StrCat(rejected, " span(s) rejected: traceId and spanId are required");
  return rejected;
}

int64_t PointCount(const opentelemetry::proto::metrics::v1::Metric& m) {
  switch (m.data_case()) {
    case opentelemetry::proto::metrics::v1::Metric::kGauge:
      return m.gauge().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kSum:
      return m.sum().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kHistogram:
      return m.histogram().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kExponentialHistogram:
      return m.exponential_histogram().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kSummary:
      return m.summary().data_points_size();
    default:
      return 0;
  }
}

int64_t RejectUnusableMetrics(colmetrics::ExportMetricsServiceRequest& req, std::string& why) {
  int64_t rejected = 0;
  for (auto& rm : *req.mutable_resource_metrics()) {
    for (auto& sm : *rm.mutable_scope_metrics()) {
      auto* metrics = sm.mutable_metrics();
      auto keep = std::remove_if(metrics->begin(), metrics->end(), [&](const auto& m) {
        if (!m.name().empty()) return false;
        rejected += PointCount(m);
        return true;
      });
      metrics->erase(keep, metrics->end());
    }
  }
  if (rejected) {
    why = absl::StrCat(rejected, " data point(s) rejected: the metric name is required");
  }
  return rejected;
}

std::string PromRejection(const metrics::PromStats& stats) {
  return absl::StrCat(stats.rejected(), " of ", stats.samples_read + stats.histogram_points,
                      " sample(s) rejected; the first: ", stats.first_rejection);
}

}  // namespace

Pipeline::Pipeline(PipelineOptions options, wal::Wal* wal, IngestMetrics* metrics)
    : options_(std::move(options)),
      wal_(wal),
      metrics_(metrics),
      decode_queue_(options_.queue_signals),
      validate_queue_(options_.queue_signals),
      enrich_queue_(options_.queue_signals) {
  for (int i = 0; i < std::max(1, options_.decode_threads); ++i) {
    decode_threads_.emplace_back([this] { DecodeLoop(); });
  }
  validate_thread_ = std::thread([this] { ValidateLoop(); });
  enrich_thread_ = std::thread([this] { EnrichLoop(); });
}

Pipeline::~Pipeline() { Shutdown(); }

uint64_t Pipeline::TenantCap() const {
  return std::max<uint64_t>(1, static_cast<uint64_t>(options_.tenant_share *
                                                     static_cast<double>(options_.queue_signals)));
}

absl::Status Pipeline::Submit(IngestRequest& request) {
  const uint64_t bytes = request.body.size();
  // One request counts at most a tenant's share, so a single huge request can neither
  // bypass the share nor hold the whole queue against other tenants.
  const uint64_t tenant_cap = TenantCap();
  const uint64_t estimate =
      std::clamp<uint64_t>(bytes / options_.estimate_bytes_per_signal, 1, tenant_cap);
  const std::string& tenant = request.tenant.tenant_name;
  {
    absl::MutexLock lock(&mu_);
    if (!accepting_) return absl::UnavailableError("server is shutting down");
    std::string refusal;
    auto it = tenant_signals_.find(request.tenant.tenant_id);
    const uint64_t tenant_used = it == tenant_signals_.end() ? 0 : it->second;
    if (tenant_used + estimate > tenant_cap) {
      refusal = absl::StrCat("tenant '", tenant, "' holds its share of the ingest queue (",
                             tenant_cap, " of ", options_.queue_signals, " signals); retry later");
    } else if (inflight_signals_ + estimate > options_.queue_signals) {
      refusal =
          absl::StrCat("ingest queue is full (", options_.queue_signals, " signals); retry later");
    } else if (inflight_bytes_ > 0 && inflight_bytes_ + bytes > options_.max_inflight_bytes) {
      refusal = absl::StrCat("in-flight request bytes are at the memory budget (",
                             options_.max_inflight_bytes, " bytes); retry later");
    } else if (!wal_->HasRoomFor(bytes)) {
      refusal = "the write-ahead log is at its size budget; retry later";
    }
    if (!refusal.empty()) {
      metrics_->SignalsDropped(tenant, request.type, DropReason::kOverload, estimate);
      return absl::ResourceExhaustedError(refusal);
    }
    inflight_signals_ += estimate;
    inflight_bytes_ += bytes;
    tenant_signals_[request.tenant.tenant_id] += estimate;
  }
  auto work = std::make_unique<Work>();
  work->request = std::move(request);
  work->weight = estimate;
  work->bytes = bytes;
  // Admission already bounds what the queue holds, so this only fails once closed.
  if (!decode_queue_.TryPush(work, estimate)) {
    Release(*work);
    request = std::move(work->request);
    return absl::UnavailableError("server is shutting down");
  }
  return absl::OkStatus();
}

void Pipeline::Resize(Work& work, uint64_t new_weight) {
  absl::MutexLock lock(&mu_);
  inflight_signals_ = inflight_signals_ - work.weight + new_weight;
  tenant_signals_[work.request.tenant.tenant_id] += new_weight;
  tenant_signals_[work.request.tenant.tenant_id] -= work.weight;
  work.weight = new_weight;
}

void Pipeline::Release(const Work& work) {
  absl::MutexLock lock(&mu_);
  inflight_signals_ -= work.weight;
  inflight_bytes_ -= work.bytes;
  auto it = tenant_signals_.find(work.request.tenant.tenant_id);
  if (it != tenant_signals_.end()) {
    it->second -= work.weight;
    if (it->second == 0) tenant_signals_.erase(it);
  }
}

void Pipeline::Finish(WorkPtr work, IngestResult result) {
  Release(*work);
  auto done = std::move(work->request.done);
  work.reset();  // free the request's memory before the reply is written
  if (done) std::move(done)(std::move(result));
}

void Pipeline::DecodePrometheus(WorkPtr work) {
  IngestRequest& req = work->request;
  const std::string& tenant = req.tenant.tenant_name;
  auto refuse = [&](Outcome outcome, DropReason reason, uint64_t signals, std::string message) {
    metrics_->SignalsDropped(tenant, req.type, reason, signals);
    Finish(std::move(work), {outcome, std::move(message)});
  };
  std::string inflated;
  std::string_view body = req.body;
  if (req.snappy) {
    // The block's header states its length: check it before allocating anything.
    size_t length = 0;
    if (!snappy::GetUncompressedLength(req.body.data(), req.body.size(), &length)) {
      return refuse(Outcome::kBadRequest, DropReason::kDecode, work->weight,
                    "the body is not snappy-compressed (remote write uses the snappy block "
                    "format)");
    }
    if (length > options_.max_decompressed_bytes) {
      return refuse(Outcome::kTooLarge, DropReason::kTooLarge, work->weight,
                    absl::StrCat("decompressed body of ", length, " bytes exceeds the limit of ",
                                 options_.max_decompressed_bytes, " bytes"));
    }
    if (!snappy::Uncompress(req.body.data(), req.body.size(), &inflated)) {
      return refuse(Outcome::kBadRequest, DropReason::kDecode, work->weight,
                    "the snappy-compressed body is corrupt");
    }
    body = inflated;
  } else if (req.gzip) {
    auto out = otlp::Gunzip(req.body, options_.max_decompressed_bytes);
    if (!out.ok()) {
      const bool too_large = out.status().code() == absl::StatusCode::kResourceExhausted;
      return refuse(too_large ? Outcome::kTooLarge : Outcome::kBadRequest,
                    too_large ? DropReason::kTooLarge : DropReason::kDecode, work->weight,
                    std::string(out.status().message()));
    }
    inflated = std::move(*out);
    body = inflated;
  } else if (req.body.size() > options_.max_decompressed_bytes) {
    return refuse(Outcome::kTooLarge, DropReason::kTooLarge, work->weight,
                  absl::StrCat("request body exceeds the limit of ",
                               options_.max_decompressed_bytes, " bytes"));
  }
  absl::StatusOr<metrics::PromBatch> batch;
  if (req.prom_format == PromFormat::kRemoteWrite) {
    batch = metrics::ParseWriteRequest(body);
  } else {
    metrics::TextParseOptions text;
    text.format = req.prom_format == PromFormat::kOpenMetricsText
                      ? metrics::TextFormat::kOpenMetrics
                      : metrics::TextFormat::kPrometheus;
    text.default_timestamp_ms = req.received_at_ms;
    batch = metrics::ParseText(body, text);
  }
  if (!batch.ok()) {
    return refuse(Outcome::kBadRequest, DropReason::kDecode, work->weight,
                  std::string(batch.status().message()));
  }
  const uint64_t accepted = batch->sample_count();
  const uint64_t rejected = batch->stats.rejected();
  if (rejected > 0 && accepted == 0) {
    return refuse(Outcome::kBadRequest, DropReason::kDecode, rejected, PromRejection(batch->stats));
  }
  // The WAL keeps remote write as sent (uncompressed) unless something in it was refused;
  // text always becomes a WriteRequest, so storage reads one format.
  std::string stored;
  if (rejected > 0) {
    work->rejected = static_cast<int64_t>(rejected);
    work->warning = PromRejection(batch->stats);
    metrics_->SignalsDropped(tenant, req.type, DropReason::kDecode, rejected);
    stored = metrics::EncodeWriteRequest(*batch);
  } else if (req.prom_format != PromFormat::kRemoteWrite) {
    stored = metrics::EncodeWriteRequest(*batch);
  } else if (req.snappy || req.gzip) {
    stored = std::move(inflated);
  } else {
    stored = std::move(req.body);
  }
  req.body = std::move(stored);
  work->decoded.type = req.type;
  work->decoded.signal_count = static_cast<uint32_t>(accepted);
  const uint64_t actual = std::clamp<uint64_t>(accepted, 1, TenantCap());
  Resize(*work, actual);
  validate_queue_.Push(std::move(work), actual);
}

void Pipeline::DecodeLoop() {
  while (auto item = decode_queue_.Pop()) {
    WorkPtr work = std::move(*item);
    if (work->request.type == SignalType::kPrometheus) {
      DecodePrometheus(std::move(work));
      continue;
    }
    IngestRequest& req = work->request;
    const std::string& tenant = req.tenant.tenant_name;
    std::string inflated;
    std::string_view body = req.body;
    if (req.gzip) {
      auto out = otlp::Gunzip(req.body, options_.max_decompressed_bytes);
      if (!out.ok()) {
        const bool too_large = out.status().code() == absl::StatusCode::kResourceExhausted;
        metrics_->SignalsDropped(tenant, req.type,
                                 too_large ? DropReason::kTooLarge : DropReason::kDecode,
                                 work->weight);
        Finish(std::move(work), {too_large ? Outcome::kTooLarge : Outcome::kBadRequest,
                                 std::string(out.status().message())});
        continue;
      }
      inflated = std::move(*out);
      body = inflated;
    } else if (req.body.size() > options_.max_decompressed_bytes) {
      metrics_->SignalsDropped(tenant, req.type, DropReason::kTooLarge, work->weight);
      Finish(std::move(work),
             {Outcome::kTooLarge, absl::StrCat("request body exceeds the limit of ",
                                               options_.max_decompressed_bytes, " bytes")});
      continue;
    }
    auto decoded = otlp::Decode(req.type, req.encoding, body, options_.limits);
    if (!decoded.ok()) {
      metrics_->SignalsDropped(tenant, req.type, DropReason::kDecode, work->weight);
      Finish(std::move(work), {Outcome::kBadRequest, std::string(decoded.status().message())});
      continue;
    }
    work->decoded = std::move(*decoded);
    // The stored form is the request's own protobuf bytes unless it must be re-encoded.
    work->reencode = req.gzip || req.encoding == otlp::Encoding::kJson;
    if (work->reencode) {
      std::string().swap(req.body);
    }
    const uint64_t actual = std::clamp<uint64_t>(work->decoded.signal_count, 1, TenantCap());
    Resize(*work, actual);
    validate_queue_.Push(std::move(work), actual);
  }
}

void Pipeline::ValidateLoop() {
  while (auto item = validate_queue_.Pop()) {
    WorkPtr work = std::move(*item);
    IngestRequest& req = work->request;
    if (req.tenant.tenant_id <= 0) {
      metrics_->SignalsDropped("", req.type, DropReason::kNoTenant, work->weight);
      Finish(std::move(work), {Outcome::kBadRequest, "request has no tenant"});
      continue;
    }
    int64_t rejected = 0;
    if (req.type == SignalType::kTraces) {
      rejected = RejectUnusableSpans(
          static_cast<coltrace::ExportTraceServiceRequest&>(*work->decoded.message), work->warning);
    } else if (req.type == SignalType::kMetrics) {
      rejected = RejectUnusableMetrics(
          static_cast<colmetrics::ExportMetricsServiceRequest&>(*work->decoded.message),
          work->warning);
    }
    if (rejected > 0) {
      work->rejected = rejected;
      work->reencode = true;
      work->decoded.signal_count -=
          static_cast<uint32_t>(std::min<int64_t>(rejected, work->decoded.signal_count));
      metrics_->SignalsDropped(req.tenant.tenant_name, req.type, DropReason::kDecode,
                               static_cast<uint64_t>(rejected));
    }
    const uint64_t w = work->weight;
    enrich_queue_.Push(std::move(work), w);
  }
}

void Pipeline::EnrichLoop() {
  while (auto item = enrich_queue_.Pop()) {
    WorkPtr work = std::move(*item);
    IngestRequest& req = work->request;
    otlp::LimitReport limits = otlp::ApplyLimits(options_.limits, work->decoded);
    if (limits.truncated_values || limits.dropped_attributes) {
      work->reencode = true;
      metrics_->AttributesTruncated(req.tenant.tenant_name, limits.truncated_values,
                                    limits.dropped_attributes);
      std::string note = absl::StrCat(
          limits.items_affected, " item(s) exceeded attribute limits (max ",
          options_.limits.max_attributes, " attributes, ", options_.limits.max_attribute_key_bytes,
          "-byte keys, ", options_.limits.max_attribute_value_bytes,
          "-byte values): ", limits.dropped_attributes, " attribute(s) dropped, ",
          limits.truncated_values, " key(s)/value(s) truncated");
      work->warning = work->warning.empty() ? note : absl::StrCat(work->warning, "; ", note);
    }
    // kPrometheus work has no decoded message (ApplyLimits leaves it alone) and its body
    // already holds the WriteRequest to store.
    BatchHeader header;
    header.tenant_id = req.tenant.tenant_id;
    header.tenant_name = req.tenant.tenant_name;
    header.type = req.type;
    header.ingested_at_unix_nanos = NowUnixNanos();
    header.observex_version = options_.version;
    header.signal_count = work->decoded.signal_count;
    header.truncated_values = limits.truncated_values;
    header.dropped_attributes = limits.dropped_attributes;
    std::string record;
    if (work->reencode) {
      std::string wire;
      work->decoded.message->SerializeToString(&wire);
      record = EncodeBatchRecord(header, wire);
    } else {
      record = EncodeBatchRecord(header, req.body);
    }
    // The request's copies are no longer needed once the record exists.
    std::string().swap(req.body);
    work->decoded.message.reset();
    const int64_t ts = header.ingested_at_unix_nanos;
    const uint32_t count = header.signal_count;
    Work* raw = work.get();
    in_wal_signals_.fetch_add(raw->weight);
    wal_->AppendAsync(
        std::move(record), ts,
        [this, work = std::move(work), count](absl::StatusOr<wal::Lsn> lsn) mutable {
          in_wal_signals_.fetch_sub(work->weight);
          IngestRequest& r = work->request;
          if (!lsn.ok()) {
            const bool full = lsn.status().code() == absl::StatusCode::kResourceExhausted;
            metrics_->SignalsDropped(r.tenant.tenant_name, r.type,
                                     full ? DropReason::kOverload : DropReason::kWalError, count);
            if (!full) OBX_LOG_ERROR("WAL append failed: {}", lsn.status().ToString());
            Finish(std::move(work), {full ? Outcome::kOverloaded : Outcome::kUnavailable,
                                     std::string(lsn.status().message())});
            return;
          }
          metrics_->SignalsReceived(r.tenant.tenant_name, r.type, count);
          IngestResult result{Outcome::kAccepted, std::move(work->warning), count, work->rejected};
          Finish(std::move(work), std::move(result));
        });
  }
}

void Pipeline::Shutdown() {
  if (shut_down_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
  }
  decode_queue_.Close();
  for (auto& t : decode_threads_) t.join();
  validate_queue_.Close();
  validate_thread_.join();
  enrich_queue_.Close();
  enrich_thread_.join();
  // Every admitted request is now with the WAL; wait for its completion to run.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Pipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
        return p->inflight_signals_ == 0 && p->inflight_bytes_ == 0;
      },
      this));
}

void Pipeline::PublishQueueDepths() {
  metrics_->SetQueueDepth("decode", static_cast<double>(decode_queue_.used_weight()));
  metrics_->SetQueueDepth("validate", static_cast<double>(validate_queue_.used_weight()));
  metrics_->SetQueueDepth("enrich", static_cast<double>(enrich_queue_.used_weight()));
  metrics_->SetQueueDepth("wal", static_cast<double>(in_wal_signals_.load()));
  absl::MutexLock lock(&mu_);
  metrics_->SetQueueDepth("admitted", static_cast<double>(inflight_signals_));
}

Pipeline::Budget Pipeline::inflight() const {
  absl::MutexLock lock(&mu_);
  return {inflight_signals_, inflight_bytes_};
}

}  // namespace observex::ingest
