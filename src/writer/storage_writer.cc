#include "writer/storage_writer.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/logging.h"
#include "google/protobuf/arena.h"
#include "metrics/remote_write.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "signal/batch.h"
#include "storage/schema.h"
#include "writer/otlp_rows.h"

namespace observex::writer {
namespace {

// Requests are parsed on an arena whose first block is a buffer owned by the thread: Reset
// keeps that block, so a steady stream of requests up to its size allocates nothing.
constexpr size_t kArenaBlockBytes = 8u << 20;

google::protobuf::ArenaOptions ArenaWithBlock(char* block) {
  google::protobuf::ArenaOptions o;
  o.initial_block = block;
  o.initial_block_size = kArenaBlockBytes;
  o.max_block_size = kArenaBlockBytes;
  return o;
}

struct ThreadArenaHolder {
  std::unique_ptr<char[]> block = std::make_unique_for_overwrite<char[]>(kArenaBlockBytes);
  google::protobuf::Arena arena{ArenaWithBlock(block.get())};
};

google::protobuf::Arena& ThreadArena() {
  thread_local ThreadArenaHolder holder;
  return holder.arena;
}

}  // namespace

StorageWriter::StorageWriter(wal::Wal* wal, storage::Store* store, StorageWriterOptions options)
    : wal_(wal), store_(store), options_(std::move(options)) {
  if (options_.metrics_cache_points > 0) {
    metrics_cache_ =
        std::make_unique<MetricsSeriesCache>(options_.convert, options_.metrics_cache_points);
  }
}

StorageWriter::~StorageWriter() { Stop(); }

absl::Status StorageWriter::ApplyExponentialHistograms(int64_t tenant, uint64_t lsn,
                                                       const metrics::MetricsBatch& batch) {
  if (batch.exponential_histograms.empty()) return absl::OkStatus();
  std::vector<const query::Labels*> labels;
  for (const auto& s : batch.exponential_histograms) labels.push_back(&s.labels);
  auto ids = store_->ResolveSeries(tenant, labels);
  if (!ids.ok()) return ids.status();
  storage::ColumnBatch rows = storage::ExpHistogramsSchema().NewBatch();
  for (size_t i = 0; i < batch.exponential_histograms.size(); ++i) {
    for (const auto& p : batch.exponential_histograms[i].points) {
      std::get<0>(rows.columns[0]).push_back((*ids)[i]);
      std::get<0>(rows.columns[1]).push_back(p.t_ms);
      std::get<2>(rows.columns[2]).push_back(metrics::EncodeExponentialPoint(p));
    }
  }
  return store_->Append(tenant, storage::Table::kExpHistograms, rows, lsn);
}

absl::Status StorageWriter::UpdateMetadata(int64_t tenant,
                                           std::vector<query::MetricMetadata> families) {
  std::vector<query::MetricMetadata> changed;
  for (query::MetricMetadata& m : families) {
    auto it = metadata_sent_.find(std::make_pair(tenant, m.metric));
    if (it != metadata_sent_.end() && it->second.type == m.type && it->second.help == m.help &&
        it->second.unit == m.unit) {
      continue;
    }
    changed.push_back(std::move(m));
  }
  if (changed.empty()) return absl::OkStatus();
  if (auto s = store_->UpdateMetadata(tenant, changed); !s.ok()) return s;
  if (metadata_sent_.size() + changed.size() > kMaxMetadataCache) metadata_sent_.clear();
  for (query::MetricMetadata& m : changed) {
    std::string name = m.metric;
    metadata_sent_.insert_or_assign(std::make_pair(tenant, std::move(name)), std::move(m));
  }
  return absl::OkStatus();
}

absl::Status StorageWriter::ApplyOtlpMetrics(int64_t tenant, uint64_t lsn, std::string_view request,
                                             uint64_t* rows, absl::Status* unconvertible) {
  const auto metadata = [](std::vector<metrics::MetricFamily>& families) {
    std::vector<query::MetricMetadata> md;
    md.reserve(families.size());
    for (auto& f : families) {
      md.push_back({std::move(f.name), std::string(metrics::PrometheusTypeName(f.type)),
                    std::move(f.help), std::move(f.unit)});
    }
    return md;
  };
  if (metrics_cache_) {
    storage::ColumnBatch samples = storage::SamplesSchema().NewBatch();
    std::vector<metrics::MetricFamily> families;
    if (metrics_cache_->TryConvert(tenant, request, &samples, &families)) {
      *rows = samples.rows();
      if (auto s = UpdateMetadata(tenant, metadata(families)); !s.ok()) return s;
      if (samples.rows() == 0) return absl::OkStatus();
      return store_->Append(tenant, storage::Table::kSamples, samples, lsn);
    }
  }
  google::protobuf::Arena& arena = ThreadArena();
  auto* req = google::protobuf::Arena::CreateMessage<metrics::MetricsRequest>(&arena);
  if (request.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !req->ParseFromArray(request.data(), static_cast<int>(request.size()))) {
    arena.Reset();
    *unconvertible = absl::DataLossError(
        absl::StrCat("metrics request of ", request.size(), " bytes does not parse as protobuf"));
    return absl::OkStatus();
  }
  metrics::ConversionTrace trace;
  auto batch = metrics::ConvertMetrics(*req, options_.convert, metrics_cache_ ? &trace : nullptr);
  arena.Reset();
  if (!batch.ok()) {
    *unconvertible = batch.status();
    return absl::OkStatus();
  }
  if (options_.observer) {
    for (size_t r = 0; r < metrics::kRejectReasonCount; ++r) {
      if (batch->stats.rejected[r] == 0) continue;
      options_.observer->OnRejectedPoints(
          SignalType::kMetrics, metrics::RejectReasonName(static_cast<metrics::RejectReason>(r)),
          batch->stats.rejected[r]);
    }
  }
  *rows = batch->sample_count();
  std::vector<int64_t> ids;
  auto s = ApplyMetrics(tenant, lsn, *batch, &ids);
  // The ids are the index's whatever happened to the append (it is retried).
  if (metrics_cache_ && ids.size() == batch->series.size()) {
    metrics_cache_->Learn(tenant, request, trace, ids);
  }
  return s;
}

absl::Status StorageWriter::ApplyMetrics(int64_t tenant, uint64_t lsn,
                                         const metrics::MetricsBatch& batch,
                                         std::vector<int64_t>* ids_out) {
  if (auto s = ApplyExponentialHistograms(tenant, lsn, batch); !s.ok()) return s;
  if (batch.series.empty()) return absl::OkStatus();
  std::vector<const query::Labels*> labels;
  labels.reserve(batch.series.size());
  for (const auto& s : batch.series) labels.push_back(&s.labels);
  auto ids = store_->ResolveSeries(tenant, labels);
  if (!ids.ok()) return ids.status();
  if (ids_out) *ids_out = *ids;
  storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
  auto& sid = std::get<0>(rows.columns[0]);
  auto& time = std::get<0>(rows.columns[1]);
  auto& value = std::get<1>(rows.columns[2]);
  const size_t n = batch.sample_count();
  sid.reserve(n);
  time.reserve(n);
  value.reserve(n);
  for (size_t i = 0; i < batch.series.size(); ++i) {
    for (const auto& p : batch.series[i].samples) {
      sid.push_back((*ids)[i]);
      time.push_back(p.t_ms);
      value.push_back(p.value);
    }
  }
  if (!batch.families.empty()) {
    std::vector<query::MetricMetadata> md;
    md.reserve(batch.families.size());
    for (const auto& f : batch.families) {
      md.push_back({f.name, std::string(metrics::PrometheusTypeName(f.type)), f.help, f.unit});
    }
    if (auto s = UpdateMetadata(tenant, std::move(md)); !s.ok()) return s;
  }
  return store_->Append(tenant, storage::Table::kSamples, rows, lsn);
}

absl::Status StorageWriter::Apply(uint64_t lsn, std::string_view payload) {
  const int64_t start = MonotonicNanos();
  auto record = DecodeBatchRecord(payload);
  if (!record.ok()) {
    OBX_LOG_ERROR("storage writer: WAL entry {} is not a batch record, skipped: {}", lsn,
                  record.status().ToString());
    if (options_.observer) options_.observer->OnBadRecord();
    return absl::OkStatus();
  }
  const int64_t tenant = record->header.tenant_id;
  const SignalType type = record->header.type;
  const auto bad = [&](const absl::Status& s) {
    OBX_LOG_ERROR("storage writer: WAL entry {} ({} of tenant {}) cannot be stored, skipped: {}",
                  lsn, std::string(SignalTypeName(type)), tenant, s.ToString());
    if (options_.observer) options_.observer->OnBadRecord();
    return absl::OkStatus();
  };
  uint64_t rows = 0;
  absl::Status stored;
  google::protobuf::Arena& arena = ThreadArena();
  switch (type) {
    case SignalType::kTraces: {
      auto* req = google::protobuf::Arena::CreateMessage<TracesRequest>(&arena);
      if (!req->ParseFromArray(record->request.data(), static_cast<int>(record->request.size()))) {
        arena.Reset();
        return bad(absl::DataLossError("traces request does not parse"));
      }
      storage::ColumnBatch batch = storage::SpansSchema().NewBatch();
      auto n = AppendSpanRows(*req, &batch);
      arena.Reset();
      if (!n.ok()) return bad(n.status());
      rows = *n;
      stored = store_->Append(tenant, storage::Table::kSpans, batch, lsn);
      break;
    }
    case SignalType::kLogs: {
      auto* req = google::protobuf::Arena::CreateMessage<LogsRequest>(&arena);
      if (!req->ParseFromArray(record->request.data(), static_cast<int>(record->request.size()))) {
        arena.Reset();
        return bad(absl::DataLossError("logs request does not parse"));
      }
      storage::ColumnBatch batch = storage::LogsSchema().NewBatch();
      auto n = AppendLogRows(*req, &batch);
      arena.Reset();
      if (!n.ok()) return bad(n.status());
      rows = *n;
      stored = store_->Append(tenant, storage::Table::kLogs, batch, lsn);
      break;
    }
    case SignalType::kMetrics: {
      absl::Status unconvertible;
      stored = ApplyOtlpMetrics(tenant, lsn, record->request, &rows, &unconvertible);
      if (!unconvertible.ok()) return bad(unconvertible);
      break;
    }
    case SignalType::kPrometheus: {
      // Remote write, or text import converted to a WriteRequest at ingest.
      auto batch = metrics::ParseWriteRequest(record->request);
      if (!batch.ok()) return bad(batch.status());
      if (!batch->metadata.empty()) {
        std::vector<query::MetricMetadata> md;
        md.reserve(batch->metadata.size());
        for (const auto& f : batch->metadata) {
          md.push_back({f.name, std::string(metrics::MetadataTypeName(f.type)), f.help, f.unit});
        }
        if (auto s = UpdateMetadata(tenant, std::move(md)); !s.ok()) return s;
      }
      rows = batch->sample_count();
      stored = ApplyMetrics(tenant, lsn, batch->metrics);
      break;
    }
    default:
      return bad(absl::UnimplementedError(
          absl::StrCat("signal type ", static_cast<int>(type), " is not stored yet")));
  }
  if (!stored.ok()) {
    // Invalid rows cannot get better by waiting; anything else (I/O) is retried.
    if (stored.code() == absl::StatusCode::kInvalidArgument) return bad(stored);
    return stored;
  }
  if (options_.observer) {
    options_.observer->OnApplied(type, rows, static_cast<double>(MonotonicNanos() - start) / 1e9);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StorageWriter::Pass() {
  uint64_t applied = 0;
  auto s = wal_->Replay(next_lsn_.load(), [&](wal::Lsn lsn, int64_t, std::string_view payload) {
    if (auto a = Apply(lsn, payload); !a.ok()) return a;
    next_lsn_.store(lsn + wal::kEntryHeaderBytes + payload.size());
    ++applied;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return applied;
}

absl::Status StorageWriter::Recover(
    const std::function<void(uint64_t, uint64_t, uint64_t)>& progress) {
  const wal::WalStats st = wal_->stats();
  next_lsn_.store(st.checkpoint_lsn);
  const uint64_t from = st.checkpoint_lsn;
  const uint64_t total = st.next_lsn > from ? st.next_lsn - from : 0;
  uint64_t entries = 0;
  auto s = wal_->Replay(from, [&](wal::Lsn lsn, int64_t, std::string_view payload) {
    if (auto a = Apply(lsn, payload); !a.ok()) return a;
    next_lsn_.store(lsn + wal::kEntryHeaderBytes + payload.size());
    if (++entries % 4096 == 0 && progress) progress(entries, next_lsn_.load() - from, total);
    return absl::OkStatus();
  });
  if (progress) progress(entries, next_lsn_.load() - from, total);
  if (!s.ok()) return s;
  return Checkpoint();
}

absl::Status StorageWriter::Checkpoint() {
  const uint64_t durable = store_->DurableLsn(next_lsn_.load());
  last_checkpoint_ = absl::Now();
  return wal_->Checkpoint(durable);
}

void StorageWriter::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void StorageWriter::Loop() {
  absl::Duration wait = options_.poll_interval;
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, absl::ToChronoMilliseconds(wait), [this] { return stopping_; })) break;
    }
    auto n = Pass();
    if (!n.ok()) {
      OBX_LOG_ERROR("storage writer: stopped at WAL entry {}, retrying: {}", next_lsn_.load(),
                    n.status().ToString());
      wait = options_.retry_interval;
      continue;
    }
    // Caught up: poll; otherwise go straight on.
    wait = *n == 0 ? options_.poll_interval : absl::ZeroDuration();
    if (absl::Now() - last_checkpoint_ >= options_.checkpoint_interval) {
      if (auto s = Checkpoint(); !s.ok()) {
        OBX_LOG_WARN("storage writer: WAL checkpoint failed: {}", s.ToString());
      }
    }
  }
  // Drain what is already durable in the WAL.
  if (auto n = Pass(); !n.ok()) {
    OBX_LOG_ERROR("storage writer: final pass stopped at {}: {}", next_lsn_.load(),
                  n.status().ToString());
  }
}

void StorageWriter::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace observex::writer
