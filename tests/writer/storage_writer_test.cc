#include "writer/storage_writer.h"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "signal/batch.h"
#include "storage/store.h"
#include "wal/wal.h"

namespace observex::writer {
namespace {

namespace fs = std::filesystem;
namespace pbc = opentelemetry::proto::common::v1;
namespace pbm = opentelemetry::proto::metrics::v1;
using metrics::MetricsRequest;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ULL;
constexpr uint64_t kSecond = 1'000'000'000ULL;

using Row = std::tuple<int64_t, int64_t, uint64_t>;  // series id, time, value bits

void SetStr(pbc::KeyValue* kv, const std::string& k, const std::string& v) {
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

// `pods` gauge points and as many counter points for one service at time t.
MetricsRequest Request(const std::string& service, uint64_t t, int pods, bool delta = false) {
  MetricsRequest req;
  auto* rm = req.add_resource_metrics();
  SetStr(rm->mutable_resource()->add_attributes(), "service.name", service);
  SetStr(rm->mutable_resource()->add_attributes(), "host.name", "h1");
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("meter");
  auto* gauge = sm->add_metrics();
  gauge->set_name("memory.usage");
  gauge->set_unit("By");
  auto* counter = sm->add_metrics();
  counter->set_name("requests");
  counter->mutable_sum()->set_is_monotonic(true);
  counter->mutable_sum()->set_aggregation_temporality(
      delta ? pbm::AGGREGATION_TEMPORALITY_DELTA : pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  for (int i = 0; i < pods; ++i) {
    auto* g = gauge->mutable_gauge()->add_data_points();
    g->set_time_unix_nano(t);
    g->set_as_double(static_cast<double>(t / kSecond % 1000) + i);
    SetStr(g->add_attributes(), "pod", absl::StrCat("pod-", i));
    auto* c = counter->mutable_sum()->add_data_points();
    c->set_time_unix_nano(t);
    c->set_as_int(static_cast<int64_t>(t / kSecond % 1000) * 10 + i);
    SetStr(c->add_attributes(), "pod", absl::StrCat("pod-", i));
  }
  return req;
}

std::string Spans(int batch, int n) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  SetStr(rs->mutable_resource()->add_attributes(), "service.name", "checkout");
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < n; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(absl::StrCat("trace-", batch, "-", i / 4, "xxxxxxxxxxxx").substr(0, 16));
    span->set_span_id(absl::StrCat("s", batch, "-", i, "xxxxxxx").substr(0, 8));
    span->set_name(absl::StrCat("op ", i % 3));
    span->set_start_time_unix_nano(kT0 + static_cast<uint64_t>(batch * 1000 + i) * 1000);
    span->set_end_time_unix_nano(span->start_time_unix_nano() + 5000);
    SetStr(span->add_attributes(), "batch", absl::StrCat(batch));
  }
  return req.SerializeAsString();
}

std::string Logs(int batch, int n) {
  opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  SetStr(rl->mutable_resource()->add_attributes(), "service.name", "checkout");
  auto* sl = rl->add_scope_logs();
  for (int i = 0; i < n; ++i) {
    auto* r = sl->add_log_records();
    r->set_time_unix_nano(kT0 + static_cast<uint64_t>(batch * 1000 + i) * 1000);
    r->mutable_body()->set_string_value(absl::StrCat("record ", batch, " ", i));
  }
  return req.SerializeAsString();
}

// Forwards to a Store, records the LSN of every Append and fails the Append of one LSN once.
class RecordingStore : public storage::Store {
 public:
  explicit RecordingStore(storage::Store* inner) : inner_(inner) {}
  uint64_t fail_lsn = ~uint64_t{0};
  std::vector<uint64_t> appended;  // LSNs in call order (failed calls included)

  absl::Status Append(int64_t tenant, storage::Table table, storage::ColumnBatch rows,
                      std::optional<uint64_t> lsn) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      appended.push_back(lsn.value_or(0));
      if (lsn == fail_lsn) {
        fail_lsn = ~uint64_t{0};
        return absl::UnavailableError("disk full (test)");
      }
    }
    return inner_->Append(tenant, table, std::move(rows), lsn);
  }
  absl::StatusOr<std::vector<int64_t>> ResolveSeries(
      int64_t tenant, absl::Span<const query::Labels* const> labels) override {
    return inner_->ResolveSeries(tenant, labels);
  }
  absl::Status UpdateMetadata(int64_t tenant,
                              const std::vector<query::MetricMetadata>& families) override {
    return inner_->UpdateMetadata(tenant, families);
  }
  uint64_t DurableLsn(uint64_t appended_up_to) const override {
    return inner_->DurableLsn(appended_up_to);
  }
  absl::StatusOr<std::unique_ptr<storage::ScanResult>> Scan(
      const storage::TenantScope& scope, storage::Table table,
      storage::ScanOptions options) const override {
    return inner_->Scan(scope, table, std::move(options));
  }
  std::unique_ptr<query::SeriesSource> Series(const storage::TenantScope& scope) const override {
    return inner_->Series(scope);
  }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status Maintain(absl::Time now) override { return inner_->Maintain(now); }
  std::vector<storage::PartInfo> Parts() const override { return inner_->Parts(); }
  storage::StoreStats stats() const override { return inner_->stats(); }
  void Close() override { inner_->Close(); }

 private:
  storage::Store* const inner_;
  std::mutex mu_;
};

class StorageWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("storage_writer_test_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<wal::Wal> OpenWal(const std::string& name) {
    wal::WalOptions o;
    o.dir = dir_ / name / "wal";
    o.fsync = false;
    o.preallocate = false;
    auto w = wal::Wal::Open(o);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }
  std::unique_ptr<storage::Store> OpenStore(const std::string& name) {
    storage::StoreOptions o;
    o.dir = dir_ / name / "store";
    o.background = false;
    o.retention = absl::InfiniteDuration();
    o.head.fsync = false;
    auto s = storage::OpenEmbeddedStore(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  static void Put(wal::Wal& wal, int64_t tenant, const MetricsRequest& req) {
    BatchHeader h;
    h.tenant_id = tenant;
    h.tenant_name = absl::StrCat("t", tenant);
    h.type = SignalType::kMetrics;
    ASSERT_TRUE(wal.Append(EncodeBatchRecord(h, req.SerializeAsString()), 0).ok());
  }

  // The WAL a run of ingest leaves: known and new series, two tenants, a rejected metric, a
  // malformed record, a request with a histogram.
  void Fill(wal::Wal& wal) {
    for (int i = 0; i < 30; ++i) {
      const uint64_t t = kT0 + static_cast<uint64_t>(i) * 15 * kSecond;
      Put(wal, 1, Request("checkout", t, 4 + i / 10));  // new pods every 10 requests
      Put(wal, 2, Request("checkout", t, 3));
      if (i % 7 == 3) Put(wal, 1, Request("cart", t, 2, /*delta=*/true));
    }
    BatchHeader h;
    h.tenant_id = 1;
    h.type = SignalType::kMetrics;
    ASSERT_TRUE(wal.Append(EncodeBatchRecord(h, "\xff\xff not protobuf"), 0).ok());
    MetricsRequest hist = Request("checkout", kT0 + 1000 * kSecond, 4);
    auto* m = hist.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
    m->set_name("latency");
    m->mutable_histogram()->set_aggregation_temporality(pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
    auto* p = m->mutable_histogram()->add_data_points();
    p->set_time_unix_nano(kT0 + 1000 * kSecond);
    p->set_count(2);
    p->add_bucket_counts(2);
    Put(wal, 1, hist);
    Put(wal, 1, Request("checkout", kT0 + 1015 * kSecond, 6));
  }

  static void PutRaw(wal::Wal& wal, int64_t tenant, SignalType type, const std::string& request) {
    BatchHeader h;
    h.tenant_id = tenant;
    h.type = type;
    ASSERT_TRUE(wal.Append(EncodeBatchRecord(h, request), 0).ok());
  }

  // Spans and logs of two tenants, with metrics, bad records and an unparsable request among
  // them.
  void FillMixed(wal::Wal& wal) {
    for (int i = 0; i < 40; ++i) {
      PutRaw(wal, 1 + i % 2, SignalType::kTraces, Spans(i, 1 + i % 7));
      PutRaw(wal, 1, SignalType::kLogs, Logs(i, 1 + i % 5));
      if (i % 9 == 0) Put(wal, 1, Request("checkout", kT0 + static_cast<uint64_t>(i) * kSecond, 2));
      if (i % 13 == 5) PutRaw(wal, 1, SignalType::kTraces, "\x0a\xff not protobuf");
      if (i % 17 == 8) {
        ASSERT_TRUE(wal.Append("not a batch record", 0).ok());
      }
    }
  }

  // Every row of a table as text, sorted.
  static std::vector<std::string> AllRows(const storage::Store& store, int64_t tenant,
                                          storage::Table table) {
    tenant::AuthResult auth;
    auth.tenant_id = tenant;
    auto scan = store.Scan(storage::TenantScope(auth), table, {});
    EXPECT_TRUE(scan.ok()) << scan.status();
    std::vector<std::string> rows;
    storage::ColumnBatch b;
    while (true) {
      auto more = (*scan)->rows().Next(&b);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      for (size_t r = 0; r < b.rows(); ++r) {
        std::string row;
        for (const auto& c : b.columns) {
          std::visit(
              [&](const auto& col) {
                if constexpr (std::is_same_v<std::decay_t<decltype(col)>, storage::StringColumn>) {
                  absl::StrAppend(&row, std::string(col.at(r)), "|");
                } else {
                  absl::StrAppend(&row, col[r], "|");
                }
              },
              c);
        }
        rows.push_back(std::move(row));
      }
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  static std::vector<Row> Samples(const storage::Store& store, int64_t tenant) {
    tenant::AuthResult auth;
    auth.tenant_id = tenant;
    auto scan = store.Scan(storage::TenantScope(auth), storage::Table::kSamples, {});
    EXPECT_TRUE(scan.ok()) << scan.status();
    std::vector<Row> rows;
    storage::ColumnBatch b;
    while (true) {
      auto more = (*scan)->rows().Next(&b);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      const auto& sid = std::get<0>(b.columns[0]);
      const auto& t = std::get<0>(b.columns[1]);
      const auto& v = std::get<1>(b.columns[2]);
      for (size_t i = 0; i < sid.size(); ++i) {
        rows.emplace_back(sid[i], t[i], std::bit_cast<uint64_t>(v[i]));
      }
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  fs::path dir_;
};

TEST_F(StorageWriterTest, TheCacheStoresWhatTheFullConversionStores) {
  std::vector<Row> with[3], without[3];
  for (bool cache : {true, false}) {
    const std::string name = cache ? "cached" : "full";
    auto wal = OpenWal(name);
    auto store = OpenStore(name);
    ASSERT_TRUE(wal && store);
    Fill(*wal);
    StorageWriterOptions o;
    o.metrics_cache_points = cache ? 1000 : 0;
    StorageWriter writer(wal.get(), store.get(), o);
    ASSERT_TRUE(writer.Recover(nullptr).ok());
    for (int64_t tenant : {1, 2}) (cache ? with : without)[tenant] = Samples(*store, tenant);
  }
  for (int64_t tenant : {1, 2}) {
    EXPECT_EQ(with[tenant], without[tenant]) << "tenant " << tenant;
  }
  // 30 requests of 4, 5 or 6 pods x 2 metrics + target_info; 4 with a rejected delta sum
  // (2 gauge samples + target_info); the histogram request (8 + _count + _bucket +
  // target_info); the last request (12 + target_info).
  EXPECT_EQ(with[1].size(), 10u * (9 + 11 + 13) + 4 * 3 + 11 + 13);
  EXPECT_EQ(with[2].size(), 30u * 7);
}

TEST_F(StorageWriterTest, ReplayAfterARestartLosesAndDuplicatesNothing) {
  std::vector<Row> first;
  {
    auto wal = OpenWal("w");
    auto store = OpenStore("w");
    ASSERT_TRUE(wal && store);
    Fill(*wal);
    StorageWriter writer(wal.get(), store.get(), {});
    ASSERT_TRUE(writer.Recover(nullptr).ok());
    // Part of it sealed, the rest only in the head when the process "dies".
    ASSERT_TRUE(store->Flush().ok());
    Put(*wal, 1, Request("checkout", kT0 + 1030 * kSecond, 6));
    writer.Start();
    writer.Stop();
    first = Samples(*store, 1);
    store->Close();
  }
  auto wal = OpenWal("w");
  auto store = OpenStore("w");
  ASSERT_TRUE(wal && store);
  StorageWriter writer(wal.get(), store.get(), {});
  ASSERT_TRUE(writer.Recover(nullptr).ok());
  EXPECT_EQ(Samples(*store, 1), first);
  EXPECT_FALSE(first.empty());
}

}  // namespace
}  // namespace observex::writer

namespace observex::writer {
namespace {

TEST_F(StorageWriterTest, ConversionThreadsStoreTheSameRowsInWalOrder) {
  std::vector<std::string> rows[2][3];
  for (size_t threads : {size_t{0}, size_t{2}}) {
    const std::string name = absl::StrCat("threads", threads);
    auto wal = OpenWal(name);
    auto inner = OpenStore(name);
    ASSERT_TRUE(wal && inner);
    FillMixed(*wal);
    RecordingStore store(inner.get());
    StorageWriterOptions o;
    o.convert_threads = threads;
    StorageWriter writer(wal.get(), &store, o);
    ASSERT_TRUE(writer.Recover(nullptr).ok());
    EXPECT_EQ(writer.applied_lsn(), wal->stats().next_lsn);
    EXPECT_TRUE(std::is_sorted(store.appended.begin(), store.appended.end()));
    auto& out = rows[threads == 0 ? 0 : 1];
    out[0] = AllRows(*inner, 1, storage::Table::kSpans);
    out[1] = AllRows(*inner, 2, storage::Table::kSpans);
    out[2] = AllRows(*inner, 1, storage::Table::kLogs);
  }
  for (int t = 0; t < 3; ++t) EXPECT_EQ(rows[0][t], rows[1][t]) << t;
  EXPECT_EQ(rows[1][2].size(), 40u / 5 * (1 + 2 + 3 + 4 + 5));
  EXPECT_FALSE(rows[1][1].empty());
}

TEST_F(StorageWriterTest, AStoreErrorStopsAtItsEntryAndIsRetried) {
  auto wal = OpenWal("w");
  auto inner = OpenStore("w");
  ASSERT_TRUE(wal && inner);
  FillMixed(*wal);
  // The LSNs of the entries, to fail one in the middle.
  std::vector<uint64_t> lsns;
  ASSERT_TRUE(wal->Replay(0,
                          [&](wal::Lsn lsn, int64_t, std::string_view) {
                            lsns.push_back(lsn);
                            return absl::OkStatus();
                          })
                  .ok());
  RecordingStore store(inner.get());
  store.fail_lsn = lsns[lsns.size() / 2];
  StorageWriterOptions o;
  o.convert_threads = 2;
  o.poll_interval = absl::Milliseconds(1);
  o.retry_interval = absl::Milliseconds(1);
  StorageWriter writer(wal.get(), &store, o);
  // Recover stops at the failed entry.
  const absl::Status s = writer.Recover(nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(writer.applied_lsn(), lsns[lsns.size() / 2]);
  // The tail thread goes on from there.
  writer.Start();
  writer.Stop();
  EXPECT_EQ(writer.applied_lsn(), wal->stats().next_lsn);
  // In WAL order, the failed entry twice, nothing else twice.
  std::vector<uint64_t> calls = store.appended;
  EXPECT_TRUE(std::is_sorted(calls.begin(), calls.end()));
  EXPECT_EQ(std::adjacent_find(calls.begin(), calls.end()) - calls.begin(),
            std::find(calls.begin(), calls.end(), lsns[lsns.size() / 2]) - calls.begin());
  calls.erase(std::unique(calls.begin(), calls.end()), calls.end());
  EXPECT_EQ(calls.size() + 1, store.appended.size());
  EXPECT_EQ(AllRows(*inner, 1, storage::Table::kLogs).size(), 40u / 5 * (1 + 2 + 3 + 4 + 5));
}

}  // namespace
}  // namespace observex::writer
