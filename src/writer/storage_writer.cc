#include "writer/storage_writer.h"

#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/bounded_queue.h"
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
  return store_->Append(tenant, storage::Table::kExpHistograms, std::move(rows), lsn);
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
      return store_->Append(tenant, storage::Table::kSamples, std::move(samples), lsn);
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
  return store_->Append(tenant, storage::Table::kSamples, std::move(rows), lsn);
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
  switch (type) {
    case SignalType::kTraces:
    case SignalType::kLogs: {
      Converted c = ConvertRows(lsn, lsn + wal::kEntryHeaderBytes + payload.size(), payload);
      c.convert_nanos = 0;  // counted from `start` here
      return StoreRows(c, start);
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

StorageWriter::Converted StorageWriter::ConvertRows(uint64_t lsn, uint64_t next_lsn,
                                                    std::string_view payload) {
  const int64_t start = MonotonicNanos();
  Converted c;
  c.lsn = lsn;
  c.next_lsn = next_lsn;
  auto record = DecodeBatchRecord(payload);
  if (!record.ok()) {
    c.bad = record.status();
    return c;
  }
  c.tenant = record->header.tenant_id;
  c.type = record->header.type;
  google::protobuf::Arena& arena = ThreadArena();
  const auto convert = [&](auto* req, const storage::TableSchema& schema, auto append) {
    c.table = schema.table;
    if (record->request.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        !req->ParseFromArray(record->request.data(), static_cast<int>(record->request.size()))) {
      c.bad = absl::DataLossError(
          absl::StrCat(std::string(SignalTypeName(c.type)), " request does not parse"));
    } else {
      c.rows = schema.NewBatch();
      auto n = append(*req, &c.rows);
      if (n.ok()) {
        c.row_count = *n;
      } else {
        c.bad = n.status();
      }
    }
    arena.Reset();
  };
  if (c.type == SignalType::kTraces) {
    convert(google::protobuf::Arena::CreateMessage<TracesRequest>(&arena), storage::SpansSchema(),
            [](const TracesRequest& r, storage::ColumnBatch* b) { return AppendSpanRows(r, b); });
  } else if (c.type == SignalType::kLogs) {
    convert(google::protobuf::Arena::CreateMessage<LogsRequest>(&arena), storage::LogsSchema(),
            [](const LogsRequest& r, storage::ColumnBatch* b) { return AppendLogRows(r, b); });
  } else {
    c.bad = absl::InternalError("not a spans or logs record");
  }
  c.convert_nanos = MonotonicNanos() - start;
  return c;
}

absl::Status StorageWriter::StoreRows(Converted& c, int64_t start) {
  const auto bad = [&](const absl::Status& s) {
    if (c.type == SignalType{}) {
      OBX_LOG_ERROR("storage writer: WAL entry {} is not a batch record, skipped: {}", c.lsn,
                    s.ToString());
    } else {
      OBX_LOG_ERROR("storage writer: WAL entry {} ({} of tenant {}) cannot be stored, skipped: {}",
                    c.lsn, std::string(SignalTypeName(c.type)), c.tenant, s.ToString());
    }
    if (options_.observer) options_.observer->OnBadRecord();
    return absl::OkStatus();
  };
  if (!c.bad.ok()) return bad(c.bad);
  // The rows are moved into the store: a failed entry is converted again when retried.
  if (auto s = store_->Append(c.tenant, c.table, std::move(c.rows), c.lsn); !s.ok()) {
    // Invalid rows cannot get better by waiting; anything else (I/O) is retried.
    if (s.code() == absl::StatusCode::kInvalidArgument) return bad(s);
    return s;
  }
  if (options_.observer) {
    options_.observer->OnApplied(
        c.type, c.row_count, static_cast<double>(c.convert_nanos + MonotonicNanos() - start) / 1e9);
  }
  return absl::OkStatus();
}

// Worker threads that decode and convert spans and logs entries; results are taken by
// sequence number, so the caller stores them in WAL order.
class StorageWriter::ConvertPool {
 public:
  ConvertPool(size_t threads, size_t max_in_flight) : jobs_(max_in_flight) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~ConvertPool() {
    jobs_.Close();
    for (std::thread& t : threads_) t.join();
  }

  void Submit(uint64_t seq, uint64_t lsn, uint64_t next_lsn, std::string payload) {
    jobs_.Push(Job{seq, lsn, next_lsn, std::move(payload)}, 1);
  }
  bool Ready(uint64_t seq) {
    std::lock_guard<std::mutex> l(mu_);
    return done_.contains(seq);
  }
  Converted Take(uint64_t seq) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_.contains(seq); });
    auto node = done_.extract(seq);
    return std::move(node.mapped());
  }

 private:
  struct Job {
    uint64_t seq, lsn, next_lsn;
    std::string payload;
  };
  void Run() {
    while (std::optional<Job> job = jobs_.Pop()) {
      Converted c = ConvertRows(job->lsn, job->next_lsn, job->payload);
      std::lock_guard<std::mutex> l(mu_);
      done_.emplace(job->seq, std::move(c));
      cv_.notify_all();
    }
  }

  BoundedQueue<Job> jobs_;
  std::mutex mu_;
  std::condition_variable cv_;
  absl::flat_hash_map<uint64_t, Converted> done_;  // at most max_in_flight
  std::vector<std::thread> threads_;
};

absl::StatusOr<uint64_t> StorageWriter::ReplayFrom(
    uint64_t from, const std::function<void(uint64_t entries)>& progress) {
  if (options_.convert_threads > 0 && !pool_) {
    pool_ = std::make_unique<ConvertPool>(options_.convert_threads, MaxInFlight());
  }
  uint64_t applied = 0;
  uint64_t submitted = 0, taken = 0;  // sequence numbers of pool entries
  const auto applied_one = [&](uint64_t next_lsn) {
    next_lsn_.store(next_lsn);
    if (++applied % 4096 == 0 && progress) progress(applied);
  };
  // Stores converted entries in order: those ready, all of them when `all`, and always
  // enough to bring the entries in flight under the bound. On a Store error the rest are
  // dropped (they are converted again when the entry is retried).
  const auto store_ready = [&](bool all) -> absl::Status {
    while (taken < submitted) {
      if (!all && submitted - taken < MaxInFlight() && !pool_->Ready(taken)) break;
      Converted c = pool_->Take(taken++);
      if (auto s = StoreRows(c, MonotonicNanos()); !s.ok()) {
        while (taken < submitted) pool_->Take(taken++);
        return s;
      }
      applied_one(c.next_lsn);
    }
    return absl::OkStatus();
  };
  auto s = wal_->Replay(from, [&](wal::Lsn lsn, int64_t, std::string_view payload) {
    const uint64_t next_lsn = lsn + wal::kEntryHeaderBytes + payload.size();
    if (pool_ && IsRowsRecord(payload)) {
      pool_->Submit(submitted++, lsn, next_lsn, std::string(payload));
      return store_ready(false);
    }
    // Other entries are applied here, after everything before them.
    if (auto a = store_ready(true); !a.ok()) return a;
    if (auto a = Apply(lsn, payload); !a.ok()) return a;
    applied_one(next_lsn);
    return absl::OkStatus();
  });
  // Entries read before a WAL error are still stored.
  const absl::Status rest = pool_ ? store_ready(true) : absl::OkStatus();
  if (!s.ok()) return s;
  if (!rest.ok()) return rest;
  return applied;
}

size_t StorageWriter::MaxInFlight() const { return 2 * options_.convert_threads + 2; }

bool StorageWriter::IsRowsRecord(std::string_view payload) {
  // Batch record layout (signal/batch.h): u8 format version, u8 signal type, ...
  if (payload.size() < 2 || payload[0] != 1) return false;
  const auto type = static_cast<SignalType>(payload[1]);
  return type == SignalType::kTraces || type == SignalType::kLogs;
}

absl::StatusOr<uint64_t> StorageWriter::Pass() { return ReplayFrom(next_lsn_.load(), nullptr); }

absl::Status StorageWriter::Recover(
    const std::function<void(uint64_t, uint64_t, uint64_t)>& progress) {
  const wal::WalStats st = wal_->stats();
  next_lsn_.store(st.checkpoint_lsn);
  const uint64_t from = st.checkpoint_lsn;
  const uint64_t total = st.next_lsn > from ? st.next_lsn - from : 0;
  auto n = ReplayFrom(from, [&](uint64_t entries) {
    if (progress) progress(entries, next_lsn_.load() - from, total);
  });
  if (progress) progress(n.ok() ? *n : 0, next_lsn_.load() - from, total);
  if (!n.ok()) return n.status();
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
  pool_.reset();  // joins the conversion threads
}

}  // namespace observex::writer
