#include "storage/head.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "storage/attributes.h"
#include "storage/part.h"
#include "storage/scan.h"
#include "test_util.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int64_t kTenant = 5;
constexpr int32_t kDay = 20'100;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

HeadOptions SmallParts() {
  HeadOptions o;
  o.block_rows = 32;
  o.fsync = false;
  return o;
}

ColumnBatch Concat(const std::vector<ColumnBatch>& batches, const TableSchema& schema) {
  ColumnBatch out = schema.NewBatch();
  for (const auto& b : batches) {
    std::vector<uint32_t> all(b.rows());
    std::iota(all.begin(), all.end(), 0u);
    for (size_t c = 0; c < out.columns.size(); ++c) AppendRows(b.columns[c], all, out.columns[c]);
  }
  return out;
}

ColumnBatch Collect(RowSource& src, bool* truncated) {
  ColumnBatch all;
  all.names = src.column_names();
  bool first = true;
  ColumnBatch b;
  while (true) {
    auto more = src.Next(&b);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    if (first) {
      all = b;
      first = false;
      continue;
    }
    std::vector<uint32_t> idx(b.rows());
    std::iota(idx.begin(), idx.end(), 0u);
    for (size_t c = 0; c < b.columns.size(); ++c) AppendRows(b.columns[c], idx, all.columns[c]);
  }
  *truncated = src.truncated();
  return all;
}

// ---------------------------------------------------------------------------------------
// the reference

// One source's matching rows in its own ascending-time order (or sort-key order).
ColumnBatch SourceOrder(const TableSchema& schema, const ColumnBatch& rows, const ScanOptions& o) {
  const auto& times = std::get<0>(rows.columns[schema.time_column]);
  std::vector<uint32_t> match;
  for (uint32_t r : testing::SortKeyOrder(schema, rows)) {
    if (times[r] < o.min_time || times[r] > o.max_time) continue;
    bool all = true;
    for (const auto& p : o.predicates) all = all && testing::RowMatches(schema, rows, r, p);
    if (all) match.push_back(r);
  }
  if (o.order != ScanOrder::kSortKey) {
    std::stable_sort(match.begin(), match.end(),
                     [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
  }
  return testing::Permute(rows, match);
}

// Sources merged: stable by time over the concatenation (earlier source first on ties),
// descending is that reversed; sort-key order concatenates; then the limit and projection.
ColumnBatch ExpectedMerged(const TableSchema& schema, const std::vector<ColumnBatch>& sources,
                           const ScanOptions& o, bool* truncated) {
  std::vector<ColumnBatch> parts;
  for (const auto& s : sources) parts.push_back(SourceOrder(schema, s, o));
  ColumnBatch all = Concat(parts, schema);
  std::vector<uint32_t> order(all.rows());
  std::iota(order.begin(), order.end(), 0u);
  if (o.order != ScanOrder::kSortKey) {
    const auto& t = std::get<0>(all.columns[schema.time_column]);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return t[a] < t[b]; });
    if (o.order == ScanOrder::kTimeDescending) std::reverse(order.begin(), order.end());
  }
  *truncated = o.limit != 0 && order.size() > o.limit;
  if (*truncated) order.resize(o.limit);
  const ColumnBatch sorted = testing::Permute(all, order);
  ColumnBatch out;
  const std::vector<std::string> names = o.columns.empty() ? sorted.names : o.columns;
  for (const auto& n : names) {
    out.names.push_back(n);
    out.columns.push_back(sorted.columns[sorted.IndexOf(n)]);
  }
  return out;
}

ScanOptions RandomOptions(const TableSchema& schema, std::mt19937_64& rng) {
  ScanOptions o;
  const int64_t per_day = schema.time_units_per_day();
  if (rng() % 2) {
    const int64_t a =
        int64_t{kDay} * per_day + static_cast<int64_t>(rng() % static_cast<uint64_t>(3 * per_day));
    o.min_time = a;
    o.max_time = a + static_cast<int64_t>(rng() % static_cast<uint64_t>(per_day));
  }
  if (schema.table == Table::kLogs) {
    switch (rng() % 4) {
      case 0:
        o.predicates.push_back(Predicate::Equal("service", testing::Services()[rng() % 5]));
        break;
      case 1:
        o.predicates.push_back(Predicate::Range("severity_number", 5, 12));
        break;
      case 2:
        o.predicates.push_back(Predicate::RegexFind("body", "error|retry"));
        break;
      default:
        break;
    }
  } else {
    if (rng() % 2) {
      o.predicates.push_back(
          Predicate::In("series_id", {int64_t{1'000'003} * static_cast<int64_t>(rng() % 40)}));
    }
  }
  if (rng() % 2) o.columns = {schema.columns[rng() % schema.columns.size()].name};
  o.order = static_cast<ScanOrder>(rng() % 3);
  if (rng() % 2) o.limit = 1 + rng() % 80;
  o.max_batch_rows = rng() % 2 ? 1 + rng() % 30 : 8192;
  return o;
}

// Rows over three consecutive days.
ColumnBatch RandomBatch(const TableSchema& schema, std::mt19937_64& rng, size_t n) {
  std::vector<ColumnBatch> days;
  for (int d = 0; d < 3; ++d) {
    days.push_back(testing::RandomRows(schema, rng, rng() % (n + 1), kDay + d));
  }
  ColumnBatch all = Concat(days, schema);
  std::vector<uint32_t> shuffled(all.rows());
  std::iota(shuffled.begin(), shuffled.end(), 0u);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  return testing::Permute(all, shuffled);
}

TEST(HeadProperty, AppendsSealsAndMergedScansEqualTheInput) {
  int scans = 0;
  for (const TableSchema* schema : {&LogsSchema(), &SamplesSchema()}) {
    for (uint64_t seed = 0; seed < 6; ++seed) {
      SCOPED_TRACE(std::string(TableName(schema->table)) + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed + 100 * static_cast<uint64_t>(schema->table));
      TempDir dir;
      TableHead head(*schema, kTenant, SmallParts());
      uint64_t seq = 1;
      // Rows appended per day since the last seal: what the next part of that day holds.
      std::map<int32_t, std::vector<ColumnBatch>> pending;
      std::vector<ColumnBatch> part_rows;
      std::vector<std::shared_ptr<const PartReader>> parts;
      for (int step = 0; step < 8; ++step) {
        const ColumnBatch batch = RandomBatch(*schema, rng, 120);
        ASSERT_TRUE(head.Append(batch, static_cast<uint64_t>(step) * 100, kNow).ok());
        const auto& t = std::get<0>(batch.columns[schema->time_column]);
        for (int32_t d = kDay; d < kDay + 3; ++d) {
          std::vector<uint32_t> idx;
          for (uint32_t i = 0; i < t.size(); ++i) {
            if (schema->DayOf(t[i]) == d) idx.push_back(i);
          }
          if (!idx.empty()) pending[d].push_back(testing::Permute(batch, idx));
        }
        if (rng() % 3 == 0) {
          std::vector<Manifest> published;
          auto m =
              head.Seal(dir.path(), &seq, [&](const std::vector<Manifest>& ms) { published = ms; });
          ASSERT_TRUE(m.ok()) << m.status();
          EXPECT_EQ(published, *m);
          for (const Manifest& man : *m) {
            auto part = PartReader::Open(
                DayDir(dir.path(), kTenant, schema->table, man.day) / man.part_name, *schema,
                kTenant);
            ASSERT_TRUE(part.ok()) << part.status();
            parts.push_back(*part);
            part_rows.push_back(Concat(pending[man.day], *schema));
            EXPECT_EQ(man.rows, part_rows.back().rows());
            ASSERT_TRUE(man.wal_range.has_value());
          }
          pending.clear();
          EXPECT_EQ(head.stats().rows, 0u);
        }
      }
      std::vector<ColumnBatch> head_rows;
      for (auto& [d, v] : pending) {
        for (auto& b : v) head_rows.push_back(b);
      }
      std::vector<ColumnBatch> sources = part_rows;
      sources.push_back(Concat(head_rows, *schema));
      EXPECT_EQ(head.stats().rows, sources.back().rows());

      for (int i = 0; i < 30; ++i) {
        const ScanOptions o = RandomOptions(*schema, rng);
        std::vector<SourceFactory> factories;
        for (const auto& p : parts) {
          factories.push_back(
              [p](const ScanOptions& so) -> absl::StatusOr<std::unique_ptr<RowSource>> {
                auto s = PartScan::Create(p, so);
                if (!s.ok()) return s.status();
                return std::unique_ptr<RowSource>(*std::move(s));
              });
        }
        factories.push_back([&head](const ScanOptions& so) { return head.Scan(so); });
        auto merged = MergeScan(*schema, o, factories);
        ASSERT_TRUE(merged.ok()) << merged.status();
        bool got_truncated = false, want_truncated = false;
        const ColumnBatch got = Collect(**merged, &got_truncated);
        const ColumnBatch want = ExpectedMerged(*schema, sources, o, &want_truncated);
        SCOPED_TRACE("scan " + std::to_string(i) + " order " +
                     std::to_string(static_cast<int>(o.order)) + " limit " +
                     std::to_string(o.limit) + " parts " + std::to_string(parts.size()));
        ASSERT_EQ(got.rows(), want.rows());
        if (want.rows() > 0) {
          ASSERT_TRUE(testing::SameBatch(got, want));
        }
        ASSERT_EQ(got_truncated, want_truncated);
        ++scans;
      }
    }
  }
  EXPECT_EQ(scans, 2 * 6 * 30);
}

// ---------------------------------------------------------------------------------------

TEST(Head, SealWritesOnePartPerDayWithItsWalRange) {
  std::mt19937_64 rng(1);
  TempDir dir;
  TableHead head(SamplesSchema(), kTenant, SmallParts());
  ASSERT_TRUE(head.Append(testing::RandomRows(SamplesSchema(), rng, 10, kDay), 500, kNow).ok());
  ASSERT_TRUE(head.Append(testing::RandomRows(SamplesSchema(), rng, 10, kDay + 1), 900, kNow).ok());
  ASSERT_TRUE(head.Append(testing::RandomRows(SamplesSchema(), rng, 5, kDay), 700, kNow).ok());
  ASSERT_TRUE(head.Append(SamplesSchema().NewBatch(), 1000, kNow).ok()) << "empty is a no-op";
  EXPECT_EQ(head.stats().rows, 25u);
  EXPECT_EQ(head.stats().days, 2u);
  uint64_t seq = 7;
  auto m = head.Seal(dir.path(), &seq, [](const auto&) {});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].day, kDay);
  EXPECT_EQ((*m)[0].rows, 15u);
  EXPECT_EQ((*m)[0].wal_range, (WalRange{500, 700}));
  EXPECT_EQ((*m)[0].part_name, PartName(7));
  EXPECT_EQ((*m)[1].wal_range, (WalRange{900, 900}));
  EXPECT_EQ(seq, 9u);
  EXPECT_EQ(head.stats().rows, 0u);
  auto again =
      head.Seal(dir.path(), &seq, [](const auto&) { ADD_FAILURE() << "nothing to publish"; });
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST(Head, ShouldSealBySizeOrAge) {
  std::mt19937_64 rng(2);
  HeadOptions o = SmallParts();
  o.max_rows = 100;
  o.max_age = absl::Minutes(5);
  TableHead head(SamplesSchema(), kTenant, o);
  EXPECT_FALSE(head.ShouldSeal(kNow + absl::Hours(1))) << "an empty head never seals";
  ASSERT_TRUE(head.Append(testing::RandomRows(SamplesSchema(), rng, 50, kDay), {}, kNow).ok());
  EXPECT_FALSE(head.ShouldSeal(kNow + absl::Minutes(4)));
  EXPECT_TRUE(head.ShouldSeal(kNow + absl::Minutes(5)));
  ASSERT_TRUE(head.Append(testing::RandomRows(SamplesSchema(), rng, 50, kDay), {}, kNow).ok());
  EXPECT_TRUE(head.ShouldSeal(kNow));
  HeadOptions b = SmallParts();
  b.max_bytes = 1000;
  TableHead by_bytes(SamplesSchema(), kTenant, b);
  ASSERT_TRUE(by_bytes.Append(testing::RandomRows(SamplesSchema(), rng, 30, kDay), {}, kNow).ok());
  EXPECT_FALSE(by_bytes.ShouldSeal(kNow));
  ASSERT_TRUE(by_bytes.Append(testing::RandomRows(SamplesSchema(), rng, 20, kDay), {}, kNow).ok());
  EXPECT_TRUE(by_bytes.ShouldSeal(kNow)) << "50 rows x 24 bytes";
}

TEST(Head, FailedSealKeepsTheRowsAndALaterSealWritesThem) {
  std::mt19937_64 rng(3);
  TempDir dir;
  TableHead head(LogsSchema(), kTenant, SmallParts());
  ASSERT_TRUE(head.Append(testing::RandomRows(LogsSchema(), rng, 40, kDay), 1, kNow).ok());
  const fs::path not_a_dir = dir.path() / "file";
  testing::WriteBytes(not_a_dir, "x");
  uint64_t seq = 1;
  auto m = head.Seal(not_a_dir, &seq, [](const auto&) { ADD_FAILURE() << "nothing was written"; });
  EXPECT_FALSE(m.ok());
  ASSERT_TRUE(head.Append(testing::RandomRows(LogsSchema(), rng, 2, kDay), 2, kNow).ok());
  EXPECT_EQ(head.stats().rows, 42u);
  m = head.Seal(dir.path() / "data", &seq, [](const auto&) {});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].rows, 42u);
  EXPECT_EQ((*m)[0].wal_range, (WalRange{1, 2}));
}

TEST(Head, ScanIsASnapshotAndValidatesOptions) {
  std::mt19937_64 rng(4);
  TableHead head(LogsSchema(), kTenant, SmallParts());
  ASSERT_TRUE(head.Append(testing::RandomRows(LogsSchema(), rng, 30, kDay), {}, kNow).ok());
  auto scan = head.Scan(ScanOptions{});
  ASSERT_TRUE(scan.ok());
  ASSERT_TRUE(head.Append(testing::RandomRows(LogsSchema(), rng, 30, kDay), {}, kNow).ok());
  bool truncated;
  EXPECT_EQ(Collect(**scan, &truncated).rows(), 30u);
  EXPECT_EQ(head.Scan({.columns = {"nope"}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(head.Scan({.predicates = {Predicate::Regex("body", "(")}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ColumnBatch wrong = SamplesSchema().NewBatch();
  EXPECT_EQ(head.Append(wrong, {}, kNow).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Head, ConcurrentAppendsScansAndSealsLoseAndDuplicateNothing) {
  TempDir dir;
  TableHead head(SamplesSchema(), kTenant, SmallParts());
  std::atomic<bool> stop{false};
  // Published part rows, counted under the head's lock (publish runs there).
  uint64_t sealed_rows = 0;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    std::mt19937_64 rng(5);
    for (int i = 0; i < 200; ++i) {
      EXPECT_TRUE(
          head.Append(testing::RandomRows(SamplesSchema(), rng, 25, kDay), uint64_t(i), kNow).ok());
    }
    stop = true;
  });
  threads.emplace_back([&] {
    uint64_t seq = 1;
    while (!stop) {
      auto m = head.Seal(dir.path(), &seq, [&](const std::vector<Manifest>& ms) {
        for (const auto& x : ms) sealed_rows += x.rows;
      });
      EXPECT_TRUE(m.ok()) << m.status();
    }
    EXPECT_TRUE(head.Seal(dir.path(), &seq,
                          [&](const std::vector<Manifest>& ms) {
                            for (const auto& x : ms) sealed_rows += x.rows;
                          })
                    .ok());
  });
  threads.emplace_back([&] {
    while (!stop) {
      auto s = head.Scan({.columns = {"value"}, .order = ScanOrder::kSortKey});
      EXPECT_TRUE(s.ok());
      bool t;
      if (s.ok()) Collect(**s, &t);
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(sealed_rows, 200u * 25u);
  EXPECT_EQ(head.stats().rows, 0u);
}

}  // namespace
}  // namespace observex::storage
