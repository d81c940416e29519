#include "storage/scan.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "storage/attributes.h"
#include "storage/part.h"
#include "test_util.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int64_t kTenant = 3;
constexpr int32_t kDay = 20'000;

std::shared_ptr<const PartReader> WriteAndOpen(const fs::path& root, const TableSchema& schema,
                                               const ColumnBatch& rows, const std::string& name,
                                               uint32_t block_rows) {
  PartWriteOptions o;
  o.tenant_id = kTenant;
  o.day = kDay;
  o.name = name;
  o.block_rows = block_rows;
  o.fsync = false;
  auto m = WritePart(root, schema, rows, o);
  EXPECT_TRUE(m.ok()) << m.status();
  auto part = PartReader::Open(DayDir(root, kTenant, schema.table, kDay) / name, schema, kTenant);
  EXPECT_TRUE(part.ok()) << part.status();
  return part.ok() ? *part : nullptr;
}

struct ScanResult {
  ColumnBatch rows;
  bool truncated = false;
  ScanStats stats;
};

absl::StatusOr<ScanResult> RunScan(std::shared_ptr<const PartReader> part, ScanOptions o) {
  const size_t max_batch = o.max_batch_rows;
  auto scan = PartScan::Create(std::move(part), std::move(o));
  if (!scan.ok()) return scan.status();
  ScanResult r;
  r.rows.names = (*scan)->column_names();
  ColumnBatch batch;
  bool first = true;
  while (true) {
    auto more = (*scan)->Next(&batch);
    if (!more.ok()) return more.status();
    if (!*more) break;
    EXPECT_GT(batch.rows(), 0u) << "empty batch";
    EXPECT_LE(batch.rows(), max_batch);
    EXPECT_EQ(batch.names, r.rows.names);
    if (first) {
      r.rows = batch;
      first = false;
      continue;
    }
    std::vector<uint32_t> all(batch.rows());
    std::iota(all.begin(), all.end(), 0u);
    for (size_t c = 0; c < batch.columns.size(); ++c) {
      AppendRows(batch.columns[c], all, r.rows.columns[c]);
    }
  }
  r.truncated = (*scan)->truncated();
  r.stats = (*scan)->stats();
  return r;
}

// ---------------------------------------------------------------------------------------
// the reference: a naive filter over the input rows

bool NaiveMatch(const TableSchema& schema, const ColumnBatch& rows, uint32_t r,
                const Predicate& p) {
  const Column& col = rows.columns[schema.IndexOf(p.column)];
  bool m;
  if (p.op == PredicateOp::kRange || p.op == PredicateOp::kIn) {
    const int64_t v = std::get<0>(col)[r];
    m = p.op == PredicateOp::kRange
            ? (p.min <= v && v <= p.max)
            : std::find(p.values.begin(), p.values.end(), v) != p.values.end();
  } else {
    std::string s(std::get<2>(col).at(r));
    if (!p.attribute.empty()) {
      auto found = FindAttribute(s, p.attribute);
      EXPECT_TRUE(found.ok());
      s = found.ok() && *found ? AttributeText(**found) : "";
    }
    RE2::Options o;
    o.set_dot_nl(true);
    switch (p.op) {
      case PredicateOp::kEqual:
        m = s == p.value;
        break;
      case PredicateOp::kContains:
        m = s.find(p.value) != std::string::npos;
        break;
      case PredicateOp::kRegex:
        m = RE2::FullMatch(s, RE2(p.value, o));
        break;
      default:
        m = RE2::PartialMatch(s, RE2(p.value, o));
        break;
    }
  }
  return m != p.negate;
}

ScanResult Expected(const TableSchema& schema, const ColumnBatch& rows, const ScanOptions& o) {
  const std::vector<uint32_t> stored = testing::SortKeyOrder(schema, rows);
  const auto& times = std::get<0>(rows.columns[schema.time_column]);
  std::vector<uint32_t> match;
  for (uint32_t r : stored) {
    if (times[r] < o.min_time || times[r] > o.max_time) continue;
    bool all = true;
    for (const auto& p : o.predicates) all = all && NaiveMatch(schema, rows, r, p);
    if (all) match.push_back(r);
  }
  if (o.order != ScanOrder::kSortKey) {
    std::stable_sort(match.begin(), match.end(),
                     [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
    if (o.order == ScanOrder::kTimeDescending) std::reverse(match.begin(), match.end());
  }
  ScanResult r;
  if (o.limit != 0 && match.size() > o.limit) {
    match.resize(o.limit);
    r.truncated = true;
  }
  const ColumnBatch all = testing::Permute(rows, match);
  std::vector<std::string> names = o.columns;
  if (names.empty()) names = all.names;
  for (const auto& n : names) {
    r.rows.names.push_back(n);
    r.rows.columns.push_back(all.columns[all.IndexOf(n)]);
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// random scans

template <typename T>
const T& Pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[rng() % v.size()];
}

Predicate RandomPredicate(const TableSchema& schema, const ColumnBatch& rows,
                          std::mt19937_64& rng) {
  std::vector<Predicate> options;
  const auto trace = [&] {
    const auto& ids = std::get<2>(rows.columns[schema.IndexOf("trace_id")]);
    return rng() % 4 == 0 ? testing::RandomBytes(rng, 16) : std::string(ids.at(rng() % ids.size()));
  };
  switch (schema.table) {
    case Table::kSpans:
      options = {
          Predicate::Equal("service", Pick(rng, testing::Services())),
          Predicate::NotEqual("service", Pick(rng, testing::Services())),
          Predicate::Regex("service", "c.*"),
          Predicate::Equal("name", Pick(rng, testing::SpanNames())),
          Predicate::Contains("name", "/"),
          Predicate::RegexFind("name", "query|get"),
          Predicate::Equal("trace_id", trace()),
          Predicate::Range("duration", 0, static_cast<int64_t>(rng() % 5'000'000'000ULL)),
          Predicate::In("kind", {1, 3}),
          Predicate::IntEqual("status_code", static_cast<int64_t>(rng() % 4)),
          Predicate::Contains("status_message", Pick(rng, testing::Words())),
          Predicate::Attribute("attributes", "http.method", PredicateOp::kEqual, "GET"),
          Predicate::Attribute("attributes", "http.status_code", PredicateOp::kEqual, "500"),
          Predicate::Attribute("attributes", "cache.hit", PredicateOp::kEqual, "true", true),
          Predicate::Attribute("attributes", "user.id", PredicateOp::kRegex, "u1.*"),
          Predicate::Attribute("attributes", "absent", PredicateOp::kEqual, ""),
      };
      break;
    case Table::kLogs:
      options = {
          Predicate::Equal("service", Pick(rng, testing::Services())),
          Predicate::Range("severity_number", 9, 16),
          Predicate::IntEqual("severity_number", static_cast<int64_t>(rng() % 25)),
          Predicate::Contains("body", Pick(rng, testing::Words())),
          Predicate::RegexFind("body", "err(or)?|fail"),
          Predicate::Regex("body", ""),
          Predicate::Equal("trace_id", trace()),
          Predicate::NotEqual("trace_id", ""),
          Predicate::Attribute("attributes", "user.id", PredicateOp::kContains, "1"),
      };
      break;
    case Table::kSamples: {
      std::vector<int64_t> ids;
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) {
        ids.push_back(static_cast<int64_t>(rng() % 45) * 1'000'003);
      }
      options = {
          Predicate::In("series_id", ids),
          Predicate::IntEqual("series_id", ids[0]),
          Predicate::Range("series_id", 5'000'000, 20'000'000),
      };
      Predicate neg = Predicate::In("series_id", ids);
      neg.negate = true;
      options.push_back(neg);
      break;
    }
    case Table::kExpHistograms:
      ADD_FAILURE() << "RandomPredicate has no predicates for exp_histograms";
      return Predicate::IntEqual("series_id", 0);
  }
  return Pick(rng, options);
}

ScanOptions RandomOptions(const TableSchema& schema, const ColumnBatch& rows,
                          std::mt19937_64& rng) {
  ScanOptions o;
  const int64_t per_day = schema.time_units_per_day();
  const int64_t day0 = static_cast<int64_t>(kDay) * per_day;
  switch (rng() % 4) {
    case 0:
      break;  // unbounded
    case 1: {
      int64_t a = day0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(per_day));
      int64_t b = day0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(per_day));
      o.min_time = std::min(a, b);
      o.max_time = std::max(a, b);
      break;
    }
    case 2:
      o.min_time = day0;
      o.max_time = day0;  // the first instant only
      break;
    default:
      o.max_time = day0 - 1;  // before the part: nothing
      break;
  }
  const int npred = static_cast<int>(rng() % 3);
  for (int i = 0; i < npred; ++i) o.predicates.push_back(RandomPredicate(schema, rows, rng));
  if (rng() % 2 == 0) {
    std::vector<std::string> names = rows.names;
    std::shuffle(names.begin(), names.end(), rng);
    names.resize(1 + rng() % names.size());
    o.columns = names;
  }
  o.order = static_cast<ScanOrder>(rng() % 3);
  if (rng() % 2 == 0) o.limit = 1 + rng() % 60;
  o.max_batch_rows = rng() % 3 == 0 ? 1 + rng() % 20 : 8192;
  return o;
}

std::string Describe(const ScanOptions& o) {
  std::string s = "time [" + std::to_string(o.min_time) + ", " + std::to_string(o.max_time) +
                  "] order " + std::to_string(static_cast<int>(o.order)) + " limit " +
                  std::to_string(o.limit) + " batch " + std::to_string(o.max_batch_rows) +
                  " predicates:";
  for (const auto& p : o.predicates) {
    s += " " + p.column + (p.attribute.empty() ? "" : "[" + p.attribute + "]") + " op" +
         std::to_string(static_cast<int>(p.op)) + (p.negate ? " not" : "") + " '" + p.value +
         "' [" + std::to_string(p.min) + "," + std::to_string(p.max) + "]";
  }
  return s;
}

TEST(ScanProperty, RandomScansEqualANaiveFilterOverTheInput) {
  int scans = 0;
  uint64_t rows_seen = 0, truncated = 0;
  for (const TableSchema* schema : {&SpansSchema(), &LogsSchema(), &SamplesSchema()}) {
    for (uint64_t seed = 0; seed < 12; ++seed) {
      std::mt19937_64 rng(seed * 977 + static_cast<uint64_t>(schema->table));
      TempDir dir;
      const size_t n = 1 + rng() % 700;
      const ColumnBatch rows = testing::RandomRows(*schema, rng, n, kDay);
      auto part = WriteAndOpen(dir.path(), *schema, rows, "p", 16 + rng() % 100);
      ASSERT_NE(part, nullptr);
      for (int i = 0; i < 25; ++i) {
        const ScanOptions o = RandomOptions(*schema, rows, rng);
        SCOPED_TRACE(std::string(TableName(schema->table)) + " seed " + std::to_string(seed) +
                     " n " + std::to_string(n) + " " + Describe(o));
        auto got = RunScan(part, o);
        ASSERT_TRUE(got.ok()) << got.status();
        const ScanResult want = Expected(*schema, rows, o);
        ASSERT_EQ(got->rows.rows(), want.rows.rows());
        if (want.rows.rows() > 0) {
          ASSERT_TRUE(testing::SameBatch(got->rows, want.rows));
        }
        ASSERT_EQ(got->truncated, want.truncated);
        ++scans;
        rows_seen += got->rows.rows();
        truncated += got->truncated;
      }
    }
  }
  // The generator must exercise both outcomes, or this test proves little.
  EXPECT_GT(rows_seen, 10'000u) << scans << " scans";
  EXPECT_GT(truncated, 20u);
}

// ---------------------------------------------------------------------------------------
// pruning

TEST(ScanPruning, SortKeyEqualityAndRangesSkipBlocks) {
  std::mt19937_64 rng(1);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(SpansSchema(), rng, 2000, kDay);
  auto part = WriteAndOpen(dir.path(), SpansSchema(), rows, "p", 50);
  ScanOptions o;
  o.predicates = {Predicate::Equal("service", "cart"), Predicate::Equal("name", "render")};
  auto r = RunScan(part, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->rows.rows(), 0u);
  // 5 services x 8 names over 40 blocks: the pair spans one or two blocks.
  EXPECT_LE(r->stats.blocks_read, 3u);
  EXPECT_EQ(r->stats.blocks_read + r->stats.blocks_pruned_by_index, r->stats.blocks_total);

  std::mt19937_64 rng2(2);
  const ColumnBatch samples = testing::RandomRows(SamplesSchema(), rng2, 4000, kDay);
  auto sp = WriteAndOpen(dir.path(), SamplesSchema(), samples, "s", 100);
  ScanOptions so;
  so.predicates = {Predicate::In("series_id", {3 * 1'000'003, 30 * 1'000'003})};
  auto sr = RunScan(sp, so);
  ASSERT_TRUE(sr.ok());
  EXPECT_GT(sr->rows.rows(), 0u);
  EXPECT_LE(sr->stats.blocks_read, 6u) << "of " << sr->stats.blocks_total;
}

TEST(ScanPruning, BloomFilterSkipsPartsWithoutTheTrace) {
  std::mt19937_64 rng(3);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(SpansSchema(), rng, 500, kDay);
  auto part = WriteAndOpen(dir.path(), SpansSchema(), rows, "p", 64);
  // Unknown trace ids: every block is tested against the filter (about 1 % false
  // positives each), so almost none is read.
  uint64_t read = 0, total = 0;
  for (int i = 0; i < 50; ++i) {
    ScanOptions o;
    o.predicates = {Predicate::Equal("trace_id", testing::RandomBytes(rng, 16))};
    auto r = RunScan(part, o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->rows.rows(), 0u);
    read += r->stats.blocks_read;
    total += r->stats.blocks_total;
  }
  EXPECT_LE(read * 20, total) << read << " of " << total << " blocks read";
  ScanOptions o;
  const std::string id(std::get<2>(rows.columns[SpansSchema().IndexOf("trace_id")]).at(7));
  o.predicates = {Predicate::Equal("trace_id", id)};
  auto r = RunScan(part, o);
  ASSERT_TRUE(r.ok());
  size_t expected = 0;
  const auto& ids = std::get<2>(rows.columns[SpansSchema().IndexOf("trace_id")]);
  for (size_t i = 0; i < ids.size(); ++i) expected += ids.at(i) == id;
  EXPECT_EQ(r->rows.rows(), expected);
  // The filter is per block: only blocks that may hold the trace are read.
  EXPECT_GT(r->stats.blocks_pruned_by_bloom, 0u);
  EXPECT_LT(r->stats.blocks_pruned_by_bloom, r->stats.blocks_total);
  EXPECT_LE(r->stats.blocks_read, expected + 1) << "at most one false-positive block";
}

TEST(ScanPruning, LimitInTimeOrderReadsOnlyTheEarliestBlocks) {
  // One series: the part is in time order, so the first rows live in the first block.
  ColumnBatch rows = SamplesSchema().NewBatch();
  const int64_t t0 = int64_t{kDay} * 86'400'000;
  for (int i = 0; i < 5000; ++i) {
    std::get<0>(rows.columns[0]).push_back(42);
    std::get<0>(rows.columns[1]).push_back(t0 + 15'000LL * i);
    std::get<1>(rows.columns[2]).push_back(i);
  }
  TempDir dir;
  auto part = WriteAndOpen(dir.path(), SamplesSchema(), rows, "p", 100);
  for (ScanOrder order : {ScanOrder::kTimeAscending, ScanOrder::kTimeDescending}) {
    ScanOptions o;
    o.order = order;
    o.limit = 10;
    auto r = RunScan(part, o);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->rows.rows(), 10u);
    EXPECT_TRUE(r->truncated);
    EXPECT_LE(r->stats.blocks_read, 2u);
    const auto& t = std::get<0>(r->rows.columns[1]);
    EXPECT_EQ(t.front(), order == ScanOrder::kTimeAscending ? t0 : t0 + 15'000LL * 4999);
  }
}

// ---------------------------------------------------------------------------------------
// errors

TEST(ScanErrors, InvalidOptionsNameTheCulprit) {
  std::mt19937_64 rng(4);
  TempDir dir;
  auto part = WriteAndOpen(dir.path(), SpansSchema(),
                           testing::RandomRows(SpansSchema(), rng, 10, kDay), "p", 64);
  struct Case {
    ScanOptions o;
    std::string needle;
  };
  std::vector<Case> cases;
  cases.push_back({{.columns = {"nope"}}, "nope"});
  cases.push_back({{.columns = {"name", "name"}}, "twice"});
  cases.push_back({{.predicates = {Predicate::Equal("missing", "x")}}, "missing"});
  cases.push_back({{.predicates = {Predicate::Regex("duration", "1.*")}}, "duration"});
  cases.push_back({{.predicates = {Predicate::Range("service", 1, 2)}}, "service"});
  cases.push_back({{.predicates = {Predicate::Regex("name", "(unclosed")}}, "(unclosed"});
  cases.push_back(
      {{.predicates = {Predicate::Attribute("name", "k", PredicateOp::kEqual, "v")}}, "name"});
  cases.push_back({{.max_batch_rows = 0}, "max_batch_rows"});
  for (const auto& c : cases) {
    auto scan = PartScan::Create(part, c.o);
    ASSERT_EQ(scan.status().code(), absl::StatusCode::kInvalidArgument) << c.needle;
    EXPECT_TRUE(absl::StrContains(scan.status().message(), c.needle)) << scan.status();
  }
}

TEST(ScanErrors, CorruptBlockEndsTheScanWithDataLoss) {
  std::mt19937_64 rng(5);
  TempDir dir;
  auto part = WriteAndOpen(dir.path(), LogsSchema(),
                           testing::RandomRows(LogsSchema(), rng, 300, kDay), "p", 50);
  const fs::path file = part->dir() / ColumnFileName("body");
  testing::FlipByte(file, testing::ReadBytes(file).size() / 2);
  for (ScanOrder order : {ScanOrder::kSortKey, ScanOrder::kTimeAscending}) {
    ScanOptions o;
    o.order = order;
    auto r = RunScan(part, o);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(r.status().message(), file.string())) << r.status();
  }
  // A scan that never needs the column is unaffected.
  ScanOptions o;
  o.columns = {"service", "time"};
  EXPECT_TRUE(RunScan(part, o).ok());
}

TEST(ScanErrors, TimeOrderedScansRespectTheMemoryBudget) {
  std::mt19937_64 rng(6);
  TempDir dir;
  auto part = WriteAndOpen(dir.path(), LogsSchema(),
                           testing::RandomRows(LogsSchema(), rng, 2000, kDay), "p", 100);
  ScanOptions o;
  o.max_decoded_bytes = 4096;
  auto r = RunScan(part, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "max_decoded_bytes"));
  o.order = ScanOrder::kSortKey;  // streams block by block: no budget needed
  r = RunScan(part, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows.rows(), 2000u);
}

// ---------------------------------------------------------------------------------------
// attribute maps

TEST(Attributes, RoundTripEveryTypeAndLookUpByKey) {
  AttributesWriter w;
  w.AddString("s", "text");
  w.AddBool("b", true);
  w.AddInt("i", -42);
  w.AddDouble("d", 0.1);
  w.AddBytes("y", std::string("\0\1", 2));
  w.AddOpaque("a", AttributeType::kArray, "[1,2]");
  w.AddString("s", "second");  // duplicate key: the first wins on look-up
  EXPECT_EQ(w.size(), 7u);
  const std::string m = w.Finish();
  EXPECT_EQ(w.Finish(), "") << "the writer starts over";
  std::vector<std::string> texts;
  ASSERT_TRUE(ForEachAttribute(m, [&](std::string_view k, const AttributeValue& v) {
                texts.push_back(std::string(k) + "=" + AttributeText(v));
                return true;
              }).ok());
  EXPECT_EQ(texts, (std::vector<std::string>{"s=text", "b=true", "i=-42", "d=0.1",
                                             std::string("y=\0\1", 4), "a=[1,2]", "s=second"}));
  auto s = FindAttribute(m, "s");
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->bytes, "text");
  auto none = FindAttribute(m, "zz");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(ForEachAttribute("", [](auto, const auto&) { return true; }).ok());
}

TEST(Attributes, MalformedMapsAreDataLoss) {
  AttributesWriter w;
  w.AddString("key", "value");
  w.AddInt("n", 300);
  const std::string m = w.Finish();
  for (size_t cut = 1; cut < m.size(); ++cut) {
    EXPECT_EQ(ForEachAttribute(m.substr(0, cut), [](auto, const auto&) { return true; }).code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  std::string bad_type = m;
  bad_type[1 + 1 + 3] = 9;  // count, key length, "key", type
  EXPECT_EQ(FindAttribute(bad_type, "zz").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FindAttribute(m + "x", "zz").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace observex::storage
