// The embedded Store: appended rows scan back exactly once across heads, seals, merges,
// restarts and WAL replays; tenants never see each other; corrupt parts are quarantined and
// reported; retention, the disk cap and the cold tier; the series index.
#include "storage/store.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <map>
#include <random>
#include <set>

#include "storage/attributes.h"
#include "storage/series_index.h"
#include "test_util.h"

namespace observex::storage {
namespace {

using testing::TempDir;

constexpr int32_t kDay = 20'000;  // 2024-10-04

TenantScope Scope(int64_t tenant) { return TenantScope(tenant::AuthResult{tenant, "t", 1}); }

StoreOptions TestOptions(const std::filesystem::path& dir) {
  StoreOptions o;
  o.dir = dir;
  o.background = false;
  o.head.fsync = false;
  o.head.block_rows = 64;  // many blocks, so the sparse index is exercised
  o.merge.max_parts_per_day = 2;
  o.merge.max_inputs = 3;
  o.merge.max_bytes_per_second = 0;
  o.retention = absl::InfiniteDuration();
  return o;
}

std::unique_ptr<Store> Open(const StoreOptions& o) {
  auto s = OpenEmbeddedStore(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// A row as one comparable string: every column's value, in schema order.
std::string RowKey(const ColumnBatch& b, size_t r) {
  std::string k;
  for (const Column& c : b.columns) {
    switch (c.index()) {
      case 0:
        k += std::to_string(std::get<0>(c)[r]);
        break;
      case 1: {
        const uint64_t bits = std::bit_cast<uint64_t>(std::get<1>(c)[r]);
        k += std::to_string(bits);
        break;
      }
      default:
        k += std::string(std::get<2>(c).at(r));
        break;
    }
    k += '\x1f';
  }
  return k;
}

struct Scanned {
  std::vector<std::string> rows;
  std::vector<int64_t> times;
  bool truncated = false;
  std::vector<std::string> warnings;
};

Scanned ScanAll(const Store& store, int64_t tenant, Table table, const ScanOptions& o) {
  Scanned out;
  auto result = store.Scan(Scope(tenant), table, o);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return out;
  ColumnBatch b;
  const int time_col = [&] {
    const auto& names = (*result)->rows().column_names();
    const std::string& t = SchemaFor(table).columns[SchemaFor(table).time_column].name;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == t) return static_cast<int>(i);
    }
    return -1;
  }();
  while (true) {
    auto more = (*result)->rows().Next(&b);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    for (size_t r = 0; r < b.rows(); ++r) {
      out.rows.push_back(RowKey(b, r));
      if (time_col >= 0) out.times.push_back(std::get<0>(b.columns[time_col])[r]);
    }
  }
  out.truncated = (*result)->rows().truncated();
  out.warnings = (*result)->warnings();
  return out;
}

// The reference: every row appended for (tenant, table), once.
struct Reference {
  std::map<std::pair<int64_t, Table>, std::vector<ColumnBatch>> batches;

  // Expected matching rows with their times, in no particular order.
  std::vector<std::pair<int64_t, std::string>> Expected(int64_t tenant, Table table,
                                                        const ScanOptions& o) const {
    std::vector<std::pair<int64_t, std::string>> out;
    auto it = batches.find({tenant, table});
    if (it == batches.end()) return out;
    const TableSchema& schema = SchemaFor(table);
    for (const ColumnBatch& b : it->second) {
      const auto& t = std::get<0>(b.columns[schema.time_column]);
      for (size_t r = 0; r < b.rows(); ++r) {
        if (t[r] < o.min_time || t[r] > o.max_time) continue;
        bool all = true;
        for (const auto& p : o.predicates) all = all && testing::RowMatches(schema, b, r, p);
        if (all) out.emplace_back(t[r], RowKey(b, r));
      }
    }
    return out;
  }
};

ScanOptions RandomOptions(Table table, std::mt19937_64& rng) {
  const TableSchema& schema = SchemaFor(table);
  ScanOptions o;
  const int64_t per_day = schema.time_units_per_day();
  if (rng() % 2) {
    const int64_t a =
        int64_t{kDay} * per_day + static_cast<int64_t>(rng() % static_cast<uint64_t>(3 * per_day));
    o.min_time = a;
    o.max_time = a + static_cast<int64_t>(rng() % static_cast<uint64_t>(per_day));
  }
  const bool neg = rng() % 4 == 0;
  switch (table) {
    case Table::kSpans:
      switch (rng() % 6) {
        case 0:
          o.predicates.push_back(Predicate::Equal("service", testing::Services()[rng() % 5]));
          break;
        case 1:
          o.predicates.push_back(Predicate::Range("duration", 1'000'000'000, 3'000'000'000));
          break;
        case 2:
          o.predicates.push_back(Predicate::Regex("name", "(GET|POST) /.*"));
          break;
        case 3:
          o.predicates.push_back(
              Predicate::Attribute("attributes", "http.status_code", PredicateOp::kEqual, "500"));
          break;
        case 4:
          o.predicates.push_back(Predicate::Contains("name", "query"));
          break;
        default:
          break;
      }
      break;
    case Table::kLogs:
      switch (rng() % 4) {
        case 0:
          o.predicates.push_back(Predicate::Range("severity_number", 5, 12));
          break;
        case 1:
          o.predicates.push_back(Predicate::RegexFind("body", "error|retry"));
          break;
        case 2:
          o.predicates.push_back(
              Predicate::Attribute("attributes", "user.id", PredicateOp::kRegex, "u1.*"));
          break;
        default:
          break;
      }
      break;
    case Table::kExpHistograms:
    case Table::kSamples:
      if (rng() % 2) {
        o.predicates.push_back(Predicate::In("series_id", {1 + static_cast<int64_t>(rng() % 40),
                                                           1 + static_cast<int64_t>(rng() % 40)}));
      }
      break;
  }
  if (neg && !o.predicates.empty()) o.predicates.back().negate = true;
  o.order = rng() % 2 ? ScanOrder::kTimeAscending : ScanOrder::kTimeDescending;
  if (rng() % 3 == 0) o.limit = 1 + rng() % 50;
  o.max_batch_rows = rng() % 2 ? 1 + rng() % 30 : 8192;
  return o;
}

// Random rows over three days; samples use series ids 1..40 (resolved beforehand).
ColumnBatch RandomBatch(Table table, std::mt19937_64& rng, size_t n) {
  const TableSchema& schema = SchemaFor(table);
  ColumnBatch all = schema.NewBatch();
  for (int d = 0; d < 3; ++d) {
    ColumnBatch day = testing::RandomRows(schema, rng, rng() % (n + 1), kDay + d);
    std::vector<uint32_t> idx(day.rows());
    std::iota(idx.begin(), idx.end(), 0u);
    for (size_t c = 0; c < all.columns.size(); ++c) AppendRows(day.columns[c], idx, all.columns[c]);
  }
  if (table == Table::kSamples || table == Table::kExpHistograms) {
    for (int64_t& id : std::get<0>(all.columns[0])) id = id / 1'000'003 + 1;
  }
  return all;
}

void CheckScan(const Store& store, const Reference& ref, int64_t tenant, Table table,
               const ScanOptions& o, const std::string& when) {
  SCOPED_TRACE(when + " tenant " + std::to_string(tenant) + " " + std::string(TableName(table)));
  const Scanned got = ScanAll(store, tenant, table, o);
  auto expected = ref.Expected(tenant, table, o);
  const bool asc = o.order == ScanOrder::kTimeAscending;
  for (size_t i = 1; i < got.times.size(); ++i) {
    ASSERT_TRUE(asc ? got.times[i - 1] <= got.times[i] : got.times[i - 1] >= got.times[i])
        << "out of time order at row " << i;
  }
  std::multiset<std::string> got_set(got.rows.begin(), got.rows.end());
  std::multiset<std::string> want;
  if (o.limit == 0 || expected.size() <= o.limit) {
    for (auto& [t, k] : expected) want.insert(k);
    EXPECT_FALSE(got.truncated);
    ASSERT_EQ(got_set, want);
    return;
  }
  // Cut by the limit: the first `limit` rows by time; rows tied at the boundary may be any.
  EXPECT_TRUE(got.truncated);
  ASSERT_EQ(got.rows.size(), o.limit);
  std::sort(expected.begin(), expected.end());
  if (!asc) std::reverse(expected.begin(), expected.end());
  const int64_t boundary = got.times.back();
  std::multiset<std::string> all;
  for (auto& [t, k] : expected) {
    all.insert(k);
    if (asc ? t < boundary : t > boundary) want.insert(k);
  }
  for (const auto& k : want) EXPECT_EQ(got_set.count(k), want.count(k));
  for (const auto& k : got_set) EXPECT_GE(all.count(k), got_set.count(k));
}

std::vector<query::Labels> FortySeries() {
  std::vector<query::Labels> out;
  for (int i = 0; i < 40; ++i) {
    out.push_back(query::Labels({{"__name__", i % 2 ? "http_requests_total" : "memory_bytes"},
                                 {"job", i % 4 < 2 ? "api" : "db"},
                                 {"instance", "host-" + std::to_string(i)}}));
  }
  return out;
}

void ResolveForty(Store& store, int64_t tenant) {
  const auto labels = FortySeries();
  std::vector<const query::Labels*> ptrs;
  for (const auto& l : labels) ptrs.push_back(&l);
  auto ids = store.ResolveSeries(tenant, ptrs);
  ASSERT_TRUE(ids.ok()) << ids.status();
  for (size_t i = 0; i < ids->size(); ++i) ASSERT_EQ((*ids)[i], static_cast<int64_t>(i) + 1);
}

void RunStoreProperty(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  std::mt19937_64 rng(seed);
  Reference ref;
  struct Entry {
    uint64_t lsn;
    int64_t tenant;
    Table table;
    ColumnBatch rows;
  };
  std::vector<Entry> wal;  // what a WAL would hold, in LSN order
  uint64_t lsn = 100;
  for (int64_t tenant : {1, 2}) ResolveForty(*store, tenant);
  int scans = 0;
  uint64_t merges = 0;
  for (int round = 0; round < 16; ++round) {
    for (int i = 0; i < 6; ++i) {
      const int64_t tenant = 1 + static_cast<int64_t>(rng() % 2);
      const Table table = static_cast<Table>(1 + rng() % std::size(kAllTables));
      ColumnBatch rows = RandomBatch(table, rng, 40);
      lsn += 1 + rng() % 1000;
      ASSERT_TRUE(store->Append(tenant, table, rows, lsn).ok());
      ref.batches[{tenant, table}].push_back(rows);
      wal.push_back({lsn, tenant, table, std::move(rows)});
    }
    const int step = static_cast<int>(rng() % 4);
    if (step == 1) {
      ASSERT_TRUE(store->Flush().ok());
    }
    if (step == 2) {
      ASSERT_TRUE(store->Flush().ok());
      ASSERT_TRUE(store->Maintain(absl::Now()).ok());
    }
    if (step == 3) {
      // Restart: the WAL is replayed from the checkpoint the store allowed; entries whose
      // rows are already in parts must not come back twice.
      const uint64_t durable = store->DurableLsn(lsn + 1);
      merges += store->stats().merges;
      store->Close();
      store.reset();
      store = Open(options);
      ASSERT_NE(store, nullptr);
      // Replay from a little before the checkpoint too: a checkpoint is only a lower bound.
      for (const Entry& e : wal) {
        if (e.lsn + 3000 >= durable) {
          ASSERT_TRUE(store->Append(e.tenant, e.table, e.rows, e.lsn).ok());
        }
      }
    }
    for (int s = 0; s < 8; ++s) {
      const int64_t tenant = 1 + static_cast<int64_t>(rng() % 2);
      const Table table = static_cast<Table>(1 + rng() % std::size(kAllTables));
      CheckScan(*store, ref, tenant, table, RandomOptions(table, rng),
                "round " + std::to_string(round));
      ++scans;
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(merges + store->stats().merges, 0u) << "the merge path was not exercised";
  EXPECT_EQ(scans, 128);
}

TEST(StoreProperty, RowsScanBackOnceAcrossHeadSealsMergesRestartsAndReplays) {
  for (uint64_t seed : {20261125u, 7u, 99u, 4242u}) {
    RunStoreProperty(seed);
    if (HasFatalFailure()) return;
  }
}

TEST(Store, ReplayAfterFlushDuplicatesNothingAndDurableLsnFollowsTheHead) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  auto store = Open(options);
  std::mt19937_64 rng(7);
  ColumnBatch a = RandomBatch(Table::kLogs, rng, 30);
  ColumnBatch b = RandomBatch(Table::kLogs, rng, 30);
  ASSERT_TRUE(store->Append(1, Table::kLogs, a, 10).ok());
  EXPECT_EQ(store->DurableLsn(500), 10u) << "entry 10 is only in the head";
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->DurableLsn(500), 500u);
  ASSERT_TRUE(store->Append(1, Table::kLogs, b, 600).ok());
  EXPECT_EQ(store->DurableLsn(700), 600u);
  store.reset();  // crash: entry 600 is only in the WAL
  store = Open(options);
  ASSERT_TRUE(store->Append(1, Table::kLogs, a, 10).ok());   // skipped: in a part
  ASSERT_TRUE(store->Append(1, Table::kLogs, b, 600).ok());  // applied
  Reference ref;
  ref.batches[{1, Table::kLogs}] = {a, b};
  CheckScan(*store, ref, 1, Table::kLogs, ScanOptions{}, "after replay");
}

// A head that stopped receiving rows while below its size bounds must not hold the WAL
// checkpoint back while other heads go on: once the WAL has moved on far enough, it is sealed.
TEST(Store, AHeadFarBehindTheWalIsSealedSoTheCheckpointMovesOn) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.max_head_wal_lag_bytes = 1000;
  auto store = Open(options);
  std::mt19937_64 rng(8);
  const absl::Time now = absl::Now();
  const auto rows = [&](Table t) { return testing::RandomRows(SchemaFor(t), rng, 20, kDay); };
  ASSERT_TRUE(store->Append(1, Table::kSpans, rows(Table::kSpans), 10).ok());
  ASSERT_TRUE(store->Append(1, Table::kLogs, rows(Table::kLogs), 500).ok());
  ASSERT_TRUE(store->Maintain(now).ok());
  EXPECT_TRUE(store->Parts().empty()) << "490 bytes of WAL behind: not yet";
  EXPECT_EQ(store->DurableLsn(600), 10u);

  ASSERT_TRUE(store->Append(1, Table::kLogs, rows(Table::kLogs), 1011).ok());
  ASSERT_TRUE(store->Maintain(now).ok());
  const std::vector<PartInfo> parts = store->Parts();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].table, Table::kSpans) << "only the head 1,001 bytes behind is sealed";
  EXPECT_EQ(store->DurableLsn(1100), 500u);
}

TEST(Store, TenantsNeverSeeEachOther) {
  TempDir dir;
  auto store = Open(TestOptions(dir.path()));
  std::mt19937_64 rng(3);
  ColumnBatch spans = RandomBatch(Table::kSpans, rng, 50);
  ASSERT_TRUE(store->Append(1, Table::kSpans, spans, 1).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Append(1, Table::kSpans, spans, 2).ok());  // head too
  // Tenant 2 has one span with a trace id tenant 1 also has.
  ColumnBatch one = SpansSchema().NewBatch();
  std::vector<uint32_t> first = {0};
  for (size_t c = 0; c < one.columns.size(); ++c)
    AppendRows(spans.columns[c], first, one.columns[c]);
  ASSERT_TRUE(store->Append(2, Table::kSpans, one, 3).ok());
  const std::string trace(std::get<2>(spans.columns[SpansSchema().IndexOf("trace_id")]).at(0));
  ScanOptions by_trace;
  by_trace.predicates.push_back(Predicate::Equal("trace_id", trace));
  EXPECT_EQ(ScanAll(*store, 2, Table::kSpans, by_trace).rows.size(), 1u);
  EXPECT_GT(ScanAll(*store, 1, Table::kSpans, by_trace).rows.size(), 1u);
  EXPECT_EQ(ScanAll(*store, 2, Table::kSpans, ScanOptions{}).rows.size(), 1u);
  EXPECT_TRUE(ScanAll(*store, 3, Table::kSpans, ScanOptions{}).rows.empty());

  // Series look-ups.
  ResolveForty(*store, 1);
  ColumnBatch samples = RandomBatch(Table::kSamples, rng, 50);
  ASSERT_TRUE(store->Append(1, Table::kSamples, samples, 4).ok());
  auto other = store->Series(Scope(2));
  auto mine = store->Series(Scope(1));
  auto any = query::LabelMatcher::Create(query::LabelMatcher::Type::kRegexMatch, "__name__", ".+");
  ASSERT_TRUE(any.ok());
  const int64_t lo = int64_t{kDay} * 86'400'000, hi = lo + 3 * 86'400'000;
  auto none = other->Series({*any}, lo, hi);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(other->LabelNames({}, lo, hi)->empty());
  EXPECT_TRUE(other->LabelValues("job", {}, lo, hi)->empty());
  auto set = other->Select({*any}, lo, hi);
  ASSERT_TRUE(set.ok());
  EXPECT_FALSE((*set)->Next());
  EXPECT_FALSE(mine->Series({*any}, lo, hi)->empty());
  EXPECT_EQ(*mine->LabelValues("job", {}, lo, hi), (std::vector<std::string>{"api", "db"}));
}

TEST(Store, SelectReturnsEachSeriesSamplesInTimeOrderFromHeadAndParts) {
  TempDir dir;
  auto store = Open(TestOptions(dir.path()));
  ResolveForty(*store, 1);
  const int64_t t0 = int64_t{kDay} * 86'400'000;
  ColumnBatch rows = SamplesSchema().NewBatch();
  auto add = [&](int64_t id, int64_t t, double v) {
    std::get<0>(rows.columns[0]).push_back(id);
    std::get<0>(rows.columns[1]).push_back(t);
    std::get<1>(rows.columns[2]).push_back(v);
  };
  for (int i = 0; i < 10; ++i) add(2, t0 + i * 15'000, i);
  ASSERT_TRUE(store->Append(1, Table::kSamples, rows, 1).ok());
  ASSERT_TRUE(store->Flush().ok());
  rows = SamplesSchema().NewBatch();
  for (int i = 10; i < 20; ++i) add(2, t0 + i * 15'000, i);
  add(4, t0, 42);
  ASSERT_TRUE(store->Append(1, Table::kSamples, rows, 2).ok());
  auto m = query::LabelMatcher::Create(query::LabelMatcher::Type::kEqual, "__name__",
                                       "http_requests_total");
  auto job =
      query::LabelMatcher::Create(query::LabelMatcher::Type::kNotEqual, "instance", "host-3");
  auto set = store->Series(Scope(1))->Select({*m, *job}, t0, t0 + 1'000'000);
  ASSERT_TRUE(set.ok());
  std::map<std::string, std::vector<query::SamplePoint>> got;
  while ((*set)->Next()) {
    auto s = (*set)->samples();
    got[std::string((*set)->labels().Get("instance"))] = {s.begin(), s.end()};
  }
  ASSERT_EQ(got.size(), 1u) << "host-3 is excluded and only host-1 (id 2) has samples";
  const auto& s = got["host-1"];
  ASSERT_EQ(s.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(s[i].t_ms, t0 + i * 15'000);
    EXPECT_EQ(s[i].value, i);
  }
}

TEST(Store, SelectMergesInterleavedSourcesAndKeepsTheNewestValueOfARewrittenTimestamp) {
  TempDir dir;
  auto store = Open(TestOptions(dir.path()));
  ResolveForty(*store, 1);
  const int64_t t0 = int64_t{kDay} * 86'400'000;
  auto batch = [&](std::initializer_list<std::pair<int, double>> samples) {
    ColumnBatch rows = SamplesSchema().NewBatch();
    for (const auto& [i, v] : samples) {
      std::get<0>(rows.columns[0]).push_back(2);
      std::get<0>(rows.columns[1]).push_back(t0 + i * 15'000);
      std::get<1>(rows.columns[2]).push_back(v);
    }
    return rows;
  };
  // Two parts and the head, each in time order, together out of order; step 4 is written
  // again by the head with another value.
  ASSERT_TRUE(store->Append(1, Table::kSamples, batch({{0, 0}, {4, 4}, {8, 8}}), 1).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Append(1, Table::kSamples, batch({{1, 1}, {5, 5}, {6, 6}}), 2).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Append(1, Table::kSamples, batch({{2, 2}, {3, 3}, {4, 40}, {7, 7}}), 3).ok());
  auto m = query::LabelMatcher::Create(query::LabelMatcher::Type::kEqual, "instance", "host-1");
  auto set = store->Series(Scope(1))->Select({*m}, t0, t0 + 1'000'000);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE((*set)->Next());
  const auto s = (*set)->samples();
  ASSERT_EQ(s.size(), 9u);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(s[i].t_ms, t0 + i * 15'000) << i;
    EXPECT_EQ(s[i].value, i == 4 ? 40 : i) << i;
  }
  EXPECT_FALSE((*set)->Next());
}

TEST(Store, CorruptColumnFileIsQuarantinedAndOtherPartsKeepServing) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  auto store = Open(options);
  std::mt19937_64 rng(11);
  ColumnBatch a = testing::RandomRows(LogsSchema(), rng, 200, kDay);
  ColumnBatch b = testing::RandomRows(LogsSchema(), rng, 200, kDay);
  ASSERT_TRUE(store->Append(1, Table::kLogs, a, 1).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Append(1, Table::kLogs, b, 2).ok());
  ASSERT_TRUE(store->Flush().ok());
  auto parts = store->Parts();
  ASSERT_EQ(parts.size(), 2u);
  const auto body = parts[0].dir / "body.col";
  testing::FlipByte(body, std::filesystem::file_size(body) / 2);
  Scanned got = ScanAll(*store, 1, Table::kLogs, ScanOptions{});
  ASSERT_EQ(got.warnings.size(), 1u);
  EXPECT_NE(got.warnings[0].find("quarantined"), std::string::npos) << got.warnings[0];
  EXPECT_GE(got.rows.size(), 200u) << "the good part still serves";
  EXPECT_EQ(store->stats().quarantined_parts, 1u);
  EXPECT_EQ(store->Parts().size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(parts[0].dir));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "quarantine" / "1" / "logs" / DayDirName(kDay) /
                                      parts[0].name));
  // The next scan is complete over what is left, with no warning.
  got = ScanAll(*store, 1, Table::kLogs, ScanOptions{});
  EXPECT_TRUE(got.warnings.empty());
  EXPECT_EQ(got.rows.size(), 200u);

  // A flipped manifest byte: quarantined when the store opens; the store still opens.
  const auto left = store->Parts();
  ASSERT_EQ(left.size(), 1u);
  store.reset();
  testing::FlipByte(left[0].dir / kManifestFileName, 30);
  store = Open(options);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Parts().empty());
  EXPECT_EQ(store->stats().quarantined_parts, 1u);
  EXPECT_TRUE(ScanAll(*store, 1, Table::kLogs, ScanOptions{}).rows.empty());
}

ColumnBatch LogsOnDay(int32_t day, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  return testing::RandomRows(LogsSchema(), rng, n, day);
}

TEST(Store, RetentionDropsWholeDaysAndTheDiskCapDropsTheOldestFirst) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.retention = absl::Hours(48);
  auto store = Open(options);
  for (int d = 0; d < 5; ++d) {
    ASSERT_TRUE(store->Append(1, Table::kLogs, LogsOnDay(kDay + d, 100, d), d + 1).ok());
  }
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_EQ(store->Parts().size(), 5u);
  // Noon of day kDay+4: days ending more than 48 h ago are kDay and kDay+1.
  const absl::Time now = absl::FromUnixSeconds((int64_t{kDay} + 4) * 86'400 + 43'200);
  ASSERT_TRUE(store->Maintain(now).ok());
  std::set<int32_t> days;
  for (const auto& p : store->Parts()) days.insert(p.day);
  EXPECT_EQ(days, (std::set<int32_t>{kDay + 2, kDay + 3, kDay + 4}));
  ScanOptions all;
  EXPECT_EQ(ScanAll(*store, 1, Table::kLogs, all).rows.size(), 300u);

  // Cap: a little more than two days' parts fit; the oldest goes.
  uint64_t per_part = store->Parts()[0].bytes;
  store.reset();
  options.retention = absl::InfiniteDuration();
  options.max_disk_bytes = per_part * 2 + per_part / 2;
  store = Open(options);
  ASSERT_TRUE(store->Maintain(now).ok());
  days.clear();
  for (const auto& p : store->Parts()) days.insert(p.day);
  EXPECT_EQ(days, (std::set<int32_t>{kDay + 3, kDay + 4}));
  EXPECT_LE(store->stats().part_bytes, options.max_disk_bytes);
}

TEST(Store, ColdTierKeepsOldPartsScannableAcrossRestarts) {
  TempDir dir;
  TempDir cold;
  StoreOptions options = TestOptions(dir.path());
  options.cold_dir = cold.path();
  options.cold_after = absl::Hours(24);
  auto store = Open(options);
  ASSERT_TRUE(store->Append(1, Table::kLogs, LogsOnDay(kDay, 100, 1), 1).ok());
  ASSERT_TRUE(store->Append(1, Table::kLogs, LogsOnDay(kDay + 2, 100, 2), 2).ok());
  ASSERT_TRUE(store->Flush().ok());
  const absl::Time now = absl::FromUnixSeconds((int64_t{kDay} + 2) * 86'400 + 3600);
  ASSERT_TRUE(store->Maintain(now).ok());
  int cold_parts = 0;
  for (const auto& p : store->Parts()) {
    if (p.cold) {
      ++cold_parts;
      EXPECT_EQ(p.day, kDay);
      EXPECT_EQ(p.dir.string().rfind(cold.path().string(), 0), 0u) << p.dir;
    }
  }
  EXPECT_EQ(cold_parts, 1);
  EXPECT_FALSE(std::filesystem::exists(DayDir(dir.path(), 1, Table::kLogs, kDay) /
                                       "p-00000000000000000001"));
  EXPECT_EQ(ScanAll(*store, 1, Table::kLogs, ScanOptions{}).rows.size(), 200u);
  store.reset();
  store = Open(options);
  EXPECT_EQ(store->Parts().size(), 2u);
  EXPECT_EQ(ScanAll(*store, 1, Table::kLogs, ScanOptions{}).rows.size(), 200u);
  EXPECT_EQ(store->stats().cold_bytes > 0, true);
}

// Three parts of 50 log rows each on kDay, WAL LSNs 10-12: one merge's worth.
void WriteThreeLogParts(Store& store) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store.Append(1, Table::kLogs, LogsOnDay(kDay, 50, i), 10 + i).ok());
    ASSERT_TRUE(store.Flush().ok());
  }
}

TEST(Store, MergeInputsLeftByACrashAreRemovedOnOpen) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  auto store = Open(options);
  WriteThreeLogParts(*store);
  // Keep copies of every part, then restore the merge inputs, as if the crash came
  // before they were deleted.
  const auto before = store->Parts();
  for (const auto& p : before) {
    std::filesystem::copy(p.dir, dir.path() / ("saved-" + p.name));
  }
  ASSERT_TRUE(store->Maintain(absl::Now()).ok());
  ASSERT_EQ(store->stats().merges, 1u);
  const size_t after_merge = store->Parts().size();
  ASSERT_LT(after_merge, before.size());
  store.reset();
  int restored = 0;
  for (const auto& p : before) {
    if (!std::filesystem::exists(p.dir)) {
      std::filesystem::rename(dir.path() / ("saved-" + p.name), p.dir);
      ++restored;
    }
  }
  ASSERT_GE(restored, 2);
  store = Open(options);
  EXPECT_EQ(store->Parts().size(), after_merge);
  EXPECT_EQ(ScanAll(*store, 1, Table::kLogs, ScanOptions{}).rows.size(), 150u);
  for (const auto& p : before) {
    if (std::filesystem::exists(dir.path() / ("saved-" + p.name))) continue;  // not an input
    EXPECT_FALSE(std::filesystem::exists(p.dir)) << p.dir << " was a merge input";
  }
}

TEST(Store, ADeletionCutShortByACrashLeavesNoPartWithFilesMissing) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  auto store = Open(options);
  WriteThreeLogParts(*store);
  const auto before = store->Parts();
  ASSERT_EQ(before.size(), 3u);
  std::filesystem::copy(before[0].dir, dir.path() / "saved");
  ASSERT_TRUE(store->Maintain(absl::Now()).ok());
  ASSERT_EQ(store->stats().merges, 1u);
  ASSERT_FALSE(std::filesystem::exists(before[0].dir));
  const auto day_dir = before[0].dir.parent_path();
  for (const auto& e : std::filesystem::directory_iterator(day_dir)) {
    EXPECT_NE(e.path().filename().string().rfind(kTempPartPrefix, 0), 0u)
        << e.path() << " left behind by a completed deletion";
  }
  store.reset();

  // A crash in the middle of deleting a merge input: the input was first renamed out of the
  // part namespace, so what is left is a temporary directory with some files gone.
  const auto half_deleted = day_dir / (std::string(kTempPartPrefix) + "del-" + before[0].name);
  std::filesystem::rename(dir.path() / "saved", half_deleted);
  std::filesystem::remove(half_deleted / kManifestFileName);
  store = Open(options);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(std::filesystem::exists(half_deleted));
  EXPECT_EQ(store->stats().quarantined_parts, 0u);
  EXPECT_EQ(ScanAll(*store, 1, Table::kLogs, ScanOptions{}).rows.size(), 150u);

  // A part under its final name with a file missing (not something the engine leaves, but a
  // damaged disk or a hand can) is set aside like a corrupt one; the store still opens.
  const auto left = store->Parts();
  ASSERT_GE(left.size(), 1u);
  store.reset();
  std::filesystem::remove(left[0].dir / kManifestFileName);
  store = Open(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Parts().size(), left.size() - 1);
  EXPECT_EQ(store->stats().quarantined_parts, 1u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "quarantine" / "1" / "logs" / DayDirName(kDay) /
                                      left[0].name));
}

TEST(Store, ScanOptionsAreValidatedEvenForAnEmptyTenant) {
  TempDir dir;
  auto store = Open(TestOptions(dir.path()));
  ScanOptions bad;
  bad.predicates.push_back(Predicate::Equal("no_such_column", "x"));
  EXPECT_EQ(store->Scan(Scope(9), Table::kSpans, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  ColumnBatch wrong = LogsSchema().NewBatch();
  EXPECT_EQ(store->Append(1, Table::kSpans, wrong, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(store->Append(0, Table::kLogs, LogsOnDay(kDay, 1, 1), 1).ok());
}

TEST(SeriesIndex, MatchesPersistsAndCutsATornTail) {
  TempDir dir;
  const auto path = dir.path() / "series.log";
  {
    auto index = SeriesIndex::Open(path, true);
    ASSERT_TRUE(index.ok());
    const auto labels = FortySeries();
    std::vector<const query::Labels*> ptrs;
    for (const auto& l : labels) ptrs.push_back(&l);
    auto ids = (*index)->Resolve(ptrs);
    ASSERT_TRUE(ids.ok());
    auto again = (*index)->Resolve(ptrs);
    EXPECT_EQ(*ids, *again) << "the same labels get the same ids";
    ASSERT_TRUE((*index)->NoteDay(*ids, kDay).ok());
    ASSERT_TRUE(
        (*index)->UpdateMetadata({{"memory_bytes", "gauge", "Memory in use.", "bytes"}}).ok());
    ASSERT_TRUE((*index)->Sync().ok());
  }
  // A torn record at the end is cut; everything before it is kept.
  {
    std::string bytes = testing::ReadBytes(path);
    bytes += std::string("\x40\x00\x00\x00garbage", 11);
    testing::WriteBytes(path, bytes);
  }
  auto index = SeriesIndex::Open(path, true);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->size(), 40u);
  using T = query::LabelMatcher::Type;
  auto name = *query::LabelMatcher::Create(T::kEqual, "__name__", "memory_bytes");
  auto db = *query::LabelMatcher::Create(T::kRegexMatch, "job", "d.");
  auto not_h0 = *query::LabelMatcher::Create(T::kNotEqual, "instance", "host-0");
  auto ids = (*index)->Match({name, db, not_h0}, kDay, kDay);
  // memory_bytes are even i; job db is i%4 in {2,3}: i = 2, 6, 10, ... (10 series).
  EXPECT_EQ(ids.size(), 10u);
  for (int64_t id : ids) EXPECT_EQ((*index)->LabelsOf(id).Get("job"), "db");
  EXPECT_TRUE((*index)->Match({name}, kDay + 1, kDay + 5).empty()) << "no samples on those days";
  auto absent = *query::LabelMatcher::Create(T::kEqual, "nope", "");
  EXPECT_EQ((*index)->Match({absent}, kDay, kDay).size(), 40u) << "nope=\"\" matches all";
  auto md = (*index)->Metadata("");
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].type, "gauge");
  EXPECT_EQ(md[0].unit, "bytes");
  // A torn tail left room for new records.
  query::Labels extra({{"__name__", "x"}});
  const query::Labels* p = &extra;
  auto id = (*index)->Resolve({&p, 1});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ((*id)[0], 41);
}

}  // namespace
}  // namespace observex::storage
