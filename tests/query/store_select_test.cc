// The storage engine's SeriesSource: a selection large enough to be read in many batches on
// worker threads returns every series' samples exactly as a reference built from the appended
// rows says (parts and head interleaved in time, rewritten timestamps keeping the newest
// value, the time range cut inside runs); a set dropped half-way stops cleanly; a corrupt
// samples part is quarantined with a warning while the other parts keep serving; a transform
// applied ahead on the workers sees exactly each series' samples, and PromQL's range
// functions evaluated that way agree bit for bit with the in-memory reference source.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "query/labels.h"
#include "query/memory_series_source.h"
#include "query/promql/engine.h"
#include "query/series_source.h"
#include "same_result.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "testing/temp_dir.h"

namespace observex::storage {
namespace {

constexpr int32_t kDay = 20'000;
constexpr int64_t kT0 = int64_t{kDay} * 86'400'000;
constexpr int kSeries = 300;

TenantScope Scope() { return TenantScope(tenant::AuthResult{1, "t", 1}); }

StoreOptions Options(const std::filesystem::path& dir) {
  StoreOptions o;
  o.dir = dir;
  o.background = false;
  o.head.fsync = false;
  o.head.block_rows = 64;  // many blocks, so a selection spans many batches
  o.retention = absl::InfiniteDuration();
  return o;
}

query::Labels SeriesLabels(int i) {
  return query::Labels({{"__name__", "m"},
                        {"instance", "i" + std::to_string(i)},
                        {"job", "j" + std::to_string(i % 3)}});
}

std::vector<int64_t> Resolve(Store& store) {
  std::vector<query::Labels> labels;
  for (int i = 0; i < kSeries; ++i) labels.push_back(SeriesLabels(i));
  std::vector<const query::Labels*> ptrs;
  for (const auto& l : labels) ptrs.push_back(&l);
  auto ids = store.ResolveSeries(1, ptrs);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int64_t>{};
}

query::LabelMatcher Matcher(query::LabelMatcher::Type type, std::string name, std::string value) {
  auto m = query::LabelMatcher::Create(type, std::move(name), std::move(value));
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

using Got = std::map<std::string, std::vector<query::SamplePoint>>;

Got ReadAll(query::SeriesSet& set) {
  Got got;
  while (set.Next()) {
    auto s = set.samples();
    auto& v = got[std::string(set.labels().Get("instance"))];
    EXPECT_TRUE(v.empty()) << "series returned twice: " << set.labels().String();
    v.assign(s.begin(), s.end());
  }
  EXPECT_TRUE(set.status().ok()) << set.status();
  return got;
}

TEST(StoreSelect, ManyBatchesMatchTheReferenceAcrossPartsAndHead) {
  testing::TempDir dir;
  auto store = OpenEmbeddedStore(Options(dir.path()));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<int64_t> ids = Resolve(**store);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSeries));
  std::mt19937_64 rng(7);
  // instance index -> time -> value; a later write of a time replaces the earlier one.
  std::vector<std::map<int64_t, double>> ref(kSeries);
  uint64_t lsn = 0;
  for (int round = 0; round < 5; ++round) {
    ColumnBatch rows = SamplesSchema().NewBatch();
    for (int i = 0; i < kSeries; ++i) {
      if (rng() % 5 == 0) continue;  // some series skip a round
      for (int k = 0; k < 30; ++k) {
        // Rounds interleave in time (round r writes steps r, r + 5, ...), and every third
        // round rewrites a few steps of earlier rounds with new values.
        int64_t step = round + 5 * k;
        if (round % 3 == 2 && k % 7 == 0) step = std::max<int64_t>(0, step - 3);
        const int64_t t = kT0 + step * 1'000;
        const double v = static_cast<double>(round * 1'000 + k) + i * 0.5;
        std::get<0>(rows.columns[0]).push_back(ids[i]);
        std::get<0>(rows.columns[1]).push_back(t);
        std::get<1>(rows.columns[2]).push_back(v);
        ref[i][t] = v;
      }
    }
    ASSERT_TRUE((*store)->Append(1, Table::kSamples, rows, ++lsn).ok());
    if (round < 4) {  // the last round stays in the head
      ASSERT_TRUE((*store)->Flush().ok());
    }
  }
  ASSERT_GE((*store)->Parts().size(), 4u);

  const int64_t lo = kT0 + 17'000, hi = kT0 + 123'000;
  auto source = (*store)->Series(Scope());
  auto set =
      source->Select({Matcher(query::LabelMatcher::Type::kRegexMatch, "job", "j0|j2")}, lo, hi);
  ASSERT_TRUE(set.ok()) << set.status();
  Got got = ReadAll(**set);
  Got want;
  for (int i = 0; i < kSeries; ++i) {
    if (i % 3 == 1) continue;
    std::vector<query::SamplePoint> s;
    for (auto it = ref[i].lower_bound(lo); it != ref[i].end() && it->first <= hi; ++it) {
      s.push_back({it->first, it->second});
    }
    if (!s.empty()) want["i" + std::to_string(i)] = std::move(s);
  }
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << name;
    ASSERT_EQ(it->second.size(), w.size()) << name;
    for (size_t r = 0; r < w.size(); ++r) {
      EXPECT_EQ(it->second[r].t_ms, w[r].t_ms) << name << " sample " << r;
      EXPECT_EQ(it->second[r].value, w[r].value) << name << " sample " << r;
    }
  }
  EXPECT_TRUE(source->Warnings().empty());

  // A set dropped after a few series stops its workers and frees everything.
  auto partial = source->Select({Matcher(query::LabelMatcher::Type::kEqual, "__name__", "m")}, kT0,
                                kT0 + 1'000'000);
  ASSERT_TRUE(partial.ok());
  for (int n = 0; n < 3; ++n) ASSERT_TRUE((*partial)->Next());
  partial->reset();

  // Nothing in range, and nothing matching: empty, not an error.
  auto none = source->Select({Matcher(query::LabelMatcher::Type::kEqual, "__name__", "m")},
                             kT0 + 10'000'000, kT0 + 20'000'000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->Next());
  EXPECT_TRUE((*none)->status().ok());
  auto other = source->Select({Matcher(query::LabelMatcher::Type::kEqual, "job", "nope")}, kT0,
                              kT0 + 1'000'000);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->Next());
}

TEST(StoreSelect, CorruptSamplesPartIsQuarantinedAndTheOtherPartStillServes) {
  testing::TempDir dir;
  auto store = OpenEmbeddedStore(Options(dir.path()));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<int64_t> ids = Resolve(**store);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSeries));
  for (int part = 0; part < 2; ++part) {
    ColumnBatch rows = SamplesSchema().NewBatch();
    for (int i = 0; i < kSeries; ++i) {
      for (int k = 0; k < 20; ++k) {
        std::get<0>(rows.columns[0]).push_back(ids[i]);
        std::get<0>(rows.columns[1]).push_back(kT0 + (part * 20 + k) * 1'000);
        std::get<1>(rows.columns[2]).push_back(k);
      }
    }
    ASSERT_TRUE((*store)->Append(1, Table::kSamples, rows, part + 1).ok());
    ASSERT_TRUE((*store)->Flush().ok());
  }
  auto parts = (*store)->Parts();
  ASSERT_EQ(parts.size(), 2u);
  const auto older = parts[0].dir;
  const auto col = older / "value.col";
  ASSERT_TRUE(std::filesystem::exists(col));
  std::string bytes = ::observex::testing::ReadFileBytes(col);
  for (size_t at = 64; at < bytes.size(); at += 512)
    bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  ::observex::testing::WriteFileBytes(col, bytes);

  auto source = (*store)->Series(Scope());
  auto set = source->Select({Matcher(query::LabelMatcher::Type::kEqual, "__name__", "m")}, kT0,
                            kT0 + 1'000'000);
  ASSERT_TRUE(set.ok()) << set.status();
  Got got = ReadAll(**set);
  ASSERT_EQ(got.size(), static_cast<size_t>(kSeries));
  for (const auto& [name, s] : got) {
    // Whatever the damaged part yielded before its first bad block, the good part is whole.
    ASSERT_GE(s.size(), 20u) << name;
    EXPECT_EQ(s.back().t_ms, kT0 + 39'000) << name;
  }
  const auto warnings = source->Warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("quarantined"), std::string::npos) << warnings[0];
  EXPECT_EQ((*store)->Parts().size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(older));
}

// Counters of kSeries series scraped every 15 s for 3 h (each with its own phase), with a
// counter reset in every fifth series, staleness markers in every seventh and a gap in
// every eleventh, written to `store` in three flushed parts and the head, and to `mem`.
void LoadCounters(Store& store, const std::vector<int64_t>& ids, query::InMemorySeriesSource& mem) {
  constexpr int64_t kScrapes = 3 * 240;
  std::vector<ColumnBatch> rounds(4, SamplesSchema().NewBatch());
  for (int i = 0; i < kSeries; ++i) {
    double v = i * 10.0;
    for (int64_t k = 0; k < kScrapes; ++k) {
      if (i % 11 == 0 && k > 100 && k < 160) continue;
      const int64_t t = kT0 + k * 15'000 + (i * 37) % 15'000;
      v += (k * 7 + i) % 13;
      if (i % 5 == 0 && k == 400) v = 3;
      double value = v;
      if (i % 7 == 0 && (k == 200 || k == 500)) value = query::StaleNaN();
      ColumnBatch& rows = rounds[std::min<int64_t>(3, k / 200)];
      std::get<0>(rows.columns[0]).push_back(ids[i]);
      std::get<0>(rows.columns[1]).push_back(t);
      std::get<1>(rows.columns[2]).push_back(value);
      ASSERT_TRUE(mem.Add(SeriesLabels(i), t, value).ok());
    }
  }
  for (size_t r = 0; r < rounds.size(); ++r) {
    ASSERT_TRUE(store.Append(1, Table::kSamples, rounds[r], r + 1).ok());
    if (r + 1 < rounds.size()) {
      ASSERT_TRUE(store.Flush().ok());
    }
  }
}

// A store and an in-memory source holding the same counters (LoadCounters), and the store's
// series source.
struct LoadedCounters {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  std::vector<int64_t> ids;
  query::InMemorySeriesSource mem;
  std::unique_ptr<query::SeriesSource> source;
};
void LoadBoth(LoadedCounters* l, const std::function<void(StoreOptions&)>& adjust = nullptr) {
  StoreOptions o = Options(l->dir.path());
  if (adjust) adjust(o);
  auto store = OpenEmbeddedStore(o);
  ASSERT_TRUE(store.ok()) << store.status();
  l->store = std::move(*store);
  l->ids = Resolve(*l->store);
  ASSERT_EQ(l->ids.size(), static_cast<size_t>(kSeries));
  LoadCounters(*l->store, l->ids, l->mem);
  l->source = l->store->Series(Scope());
}

// Copies each series' samples and appends {stale flag, sample count}: what a worker saw.
class CopyTransform final : public query::SeriesTransform {
 public:
  void Apply(absl::Span<const query::SamplePoint> samples, bool may_have_stale_markers,
             std::vector<query::SamplePoint>* scratch,
             std::vector<query::SamplePoint>* out) const override {
    out->insert(out->end(), samples.begin(), samples.end());
    out->push_back({may_have_stale_markers ? 1 : 0, static_cast<double>(samples.size())});
  }
};

TEST(StoreSelect, TransformAppliedAheadSeesEachSeriesSamplesExactly) {
  testing::TempDir dir;
  auto store = OpenEmbeddedStore(Options(dir.path()));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<int64_t> ids = Resolve(**store);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSeries));
  query::InMemorySeriesSource mem;
  LoadCounters(**store, ids, mem);
  ASSERT_GE((*store)->Parts().size(), 3u);

  auto source = (*store)->Series(Scope());
  const auto all = Matcher(query::LabelMatcher::Type::kEqual, "__name__", "m");
  auto set = source->Select({all}, kT0 + 3'600'000, kT0 + 9'000'000);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_TRUE((*set)->ApplyAhead(std::make_shared<const CopyTransform>()));
  size_t series = 0, with_markers = 0;
  while ((*set)->Next()) {
    ++series;
    const auto samples = (*set)->samples();
    const auto result = (*set)->transformed();
    const std::string name = (*set)->labels().String();
    ASSERT_EQ(result.size(), samples.size() + 1) << name;
    for (size_t r = 0; r < samples.size(); ++r) {
      ASSERT_EQ(result[r].t_ms, samples[r].t_ms) << name << " sample " << r;
      ASSERT_EQ(std::bit_cast<uint64_t>(result[r].value), std::bit_cast<uint64_t>(samples[r].value))
          << name << " sample " << r;
    }
    const bool markers = std::any_of(samples.begin(), samples.end(),
                                     [](const auto& p) { return query::IsStaleNaN(p.value); });
    EXPECT_EQ(result.back().t_ms, (*set)->MayHaveStaleMarkers() ? 1 : 0) << name;
    // A set may only over-report markers, never miss one.
    if (markers) {
      EXPECT_TRUE((*set)->MayHaveStaleMarkers()) << name;
    }
    with_markers += markers;
    EXPECT_EQ(result.back().value, static_cast<double>(samples.size())) << name;
  }
  ASSERT_TRUE((*set)->status().ok()) << (*set)->status();
  EXPECT_EQ(series, static_cast<size_t>(kSeries));
  EXPECT_GT(with_markers, 0u);

  // Once reading has begun the offer is refused: the workers already decode without it.
  auto late = source->Select({all}, kT0, kT0 + 9'000'000);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE((*late)->Next());
  EXPECT_FALSE((*late)->ApplyAhead(std::make_shared<const CopyTransform>()));
  EXPECT_FALSE((*late)->ApplyAhead(nullptr));
}

// Short reads (instant queries, a few minutes of range) skip the blocks whose rows of the
// wanted series the sparse index places outside the range, read the rest through row windows,
// and decode small selections without threads: at every moment of the data, for one series
// or all, the answers are the in-memory source's exactly. (Blocks of 64 rows: every series is
// cut by many block edges.)
TEST(StoreSelect, ShortReadsAgreeWithTheInMemorySource) {
  LoadedCounters l;
  ASSERT_NO_FATAL_FAILURE(LoadBoth(&l));
  const auto& [mem, source] = std::tie(l.mem, *l.source);
  query::promql::Engine engine;
  size_t points = 0;
  for (int64_t t = kT0 - 60'000; t < kT0 + 3 * 3'600'000 + 600'000; t += 137'000) {
    for (const char* q : {"m", "m{instance=\"i7\"}", "count_over_time(m[1m])",
                          "last_over_time(m{job=\"j1\"}[40s])", "sum by (job) (m)"}) {
      auto want = engine.InstantQuery(mem, q, t);
      auto got = engine.InstantQuery(source, q, t);
      ASSERT_TRUE(want.ok() && got.ok()) << q << " at " << t;
      query::promql::ExpectSameResult(*got, *want, q);
      for (const auto& w : want->series) points += w.points.size();
    }
    auto want = engine.RangeQuery(mem, "m", t, t + 120'000, 15'000);
    auto got = engine.RangeQuery(source, "m", t, t + 120'000, 15'000);
    ASSERT_TRUE(want.ok() && got.ok()) << t;
    query::promql::ExpectSameResult(*got, *want, "m over 2 minutes");
  }
  EXPECT_GT(points, 10'000u);
}

// Short reads go through the block cache: asked again, they are answered from it (hits and no
// new misses) with the same answers. A long read neither looks in it nor fills it. Parts
// written by a merge are new keys, so answers stay right after it; with the cache off,
// nothing is counted and the answers are the same.
TEST(StoreSelect, RepeatedShortReadsAreAnsweredFromTheBlockCache) {
  for (const uint64_t cache_bytes : {uint64_t{64} << 20, uint64_t{0}}) {
    SCOPED_TRACE(cache_bytes);
    LoadedCounters l;
    ASSERT_NO_FATAL_FAILURE(LoadBoth(&l, [&](StoreOptions& o) {
      o.block_cache_bytes = cache_bytes;
      o.merge.max_parts_per_day = 1;  // Maintain merges the day's parts into one
    }));
    ASSERT_GE(l.store->Parts().size(), 3u);
    query::promql::Engine engine;
    const auto short_reads = [&] {
      for (int64_t t : {kT0 + 1'800'000, kT0 + 5'400'000 + 7'000, kT0 + 10'000'000}) {
        for (const char* q : {"m", "sum by (job) (m)", "count_over_time(m{job=\"j1\"}[2m])"}) {
          auto want = engine.InstantQuery(l.mem, q, t);
          auto got = engine.InstantQuery(*l.source, q, t);
          ASSERT_TRUE(want.ok() && got.ok()) << q << " at " << t;
          ASSERT_FALSE(want->series.empty()) << q;
          query::promql::ExpectSameResult(*got, *want, q);
        }
      }
    };
    ASSERT_NO_FATAL_FAILURE(short_reads());
    const StoreStats first = l.store->stats();
    ASSERT_NO_FATAL_FAILURE(short_reads());
    const StoreStats again = l.store->stats();

    auto want = engine.RangeQuery(l.mem, "m", kT0, kT0 + 3 * 3'600'000, 60'000);
    auto got = engine.RangeQuery(*l.source, "m", kT0, kT0 + 3 * 3'600'000, 60'000);
    ASSERT_TRUE(want.ok() && got.ok());
    query::promql::ExpectSameResult(*got, *want, "m over 3 hours");
    const StoreStats after_long = l.store->stats();

    ASSERT_TRUE(l.store->Maintain(absl::FromUnixMillis(kT0 + 3'600'000)).ok());
    ASSERT_EQ(l.store->Parts().size(), 1u);
    ASSERT_NO_FATAL_FAILURE(short_reads());
    const StoreStats merged = l.store->stats();

    if (cache_bytes == 0) {
      for (const StoreStats& s : {first, again, after_long, merged}) {
        EXPECT_EQ(s.block_cache_hits + s.block_cache_misses + s.block_cache_bytes, 0u);
      }
      continue;
    }
    EXPECT_GT(first.block_cache_misses, 0u);
    EXPECT_GT(first.block_cache_bytes, 0u);
    EXPECT_EQ(again.block_cache_misses, first.block_cache_misses);
    EXPECT_GE(again.block_cache_hits, first.block_cache_hits + first.block_cache_misses);
    EXPECT_EQ(after_long.block_cache_hits, again.block_cache_hits);
    EXPECT_EQ(after_long.block_cache_misses, again.block_cache_misses);
    EXPECT_GT(merged.block_cache_misses, after_long.block_cache_misses);
  }
}

// A block read from the cache was verified when it entered it. Damage to its file after that
// is found by the next read from the file: the repeated short read still answers from the
// cache (rightly: those bytes passed their checksum), and a long read, which bypasses the
// cache, finds the damage and quarantines the parts.
TEST(StoreSelect, DamageAfterABlockWasCachedIsFoundByTheNextReadFromTheFile) {
  LoadedCounters l;
  ASSERT_NO_FATAL_FAILURE(LoadBoth(&l));
  const size_t parts = l.store->Parts().size();
  ASSERT_GE(parts, 3u);
  query::promql::Engine engine;
  const int64_t t = kT0 + 4'500'000;
  auto want = engine.InstantQuery(l.mem, "m", t);
  ASSERT_TRUE(want.ok());
  ASSERT_FALSE(want->series.empty());
  auto first = engine.InstantQuery(*l.source, "m", t);
  ASSERT_TRUE(first.ok()) << first.status();
  query::promql::ExpectSameResult(*first, *want, "m before the damage");

  for (const auto& part : l.store->Parts()) {
    const auto col = part.dir / "value.col";
    std::string bytes = ::observex::testing::ReadFileBytes(col);
    for (size_t at = 64; at < bytes.size(); at += 256)
      bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
    ::observex::testing::WriteFileBytes(col, bytes);
  }
  auto again = engine.InstantQuery(*l.source, "m", t);
  ASSERT_TRUE(again.ok()) << again.status();
  query::promql::ExpectSameResult(*again, *want, "m from the cache after the damage");
  EXPECT_TRUE(l.source->Warnings().empty());
  EXPECT_EQ(l.store->Parts().size(), parts);

  auto longer = engine.RangeQuery(*l.source, "m", kT0, kT0 + 3 * 3'600'000, 60'000);
  ASSERT_TRUE(longer.ok()) << longer.status();
  const auto warnings = l.source->Warnings();
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("quarantined"), std::string::npos) << warnings[0];
  EXPECT_LT(l.store->Parts().size(), parts);
}

// rate/increase/delta evaluated on the storage's decoding threads give what the evaluator
// computes itself from the in-memory source holding the same samples, to the bit, including
// the sample budget's refusal.
TEST(StoreSelect, RangeFunctionsEvaluatedAheadAgreeWithTheInMemorySource) {
  LoadedCounters l;
  ASSERT_NO_FATAL_FAILURE(LoadBoth(&l));
  const auto& [mem, source] = std::tie(l.mem, *l.source);

  query::promql::Engine engine;
  const int64_t start = kT0 + 240'000, end = kT0 + 3 * 3'600'000, step = 60'000;
  const std::string at = std::to_string(kT0 / 1000 + 5'400);
  for (const std::string& q :
       {std::string("rate(m[5m])"), std::string("increase(m{job=~\"j0|j1\"}[2m])"),
        std::string("delta(m[7m] offset 3m)"), std::string("sum by (job) (rate(m[5m]))"),
        "rate(m[5m] @ " + at + ")", std::string("increase(m[1h])")}) {
    auto want = engine.RangeQuery(mem, q, start, end, step);
    auto got = engine.RangeQuery(source, q, start, end, step);
    ASSERT_TRUE(want.ok()) << q << ": " << want.status();
    ASSERT_TRUE(got.ok()) << q << ": " << got.status();
    query::promql::ExpectSameResult(*got, *want, q);
    size_t points = 0;
    for (const auto& w : want->series) points += w.points.size();
    EXPECT_GT(points, 0u) << q;
    EXPECT_EQ(got->Infos(), want->Infos()) << q;
  }

  // Aggregations stream the storage's series into their groups in the storage's order (not
  // label order), so float sums may differ from the in-memory source's in the last bits.
  for (const char* q : {"avg by (job) (increase(m[2m]))", "stddev(delta(m[7m] offset 3m))",
                        "max without (instance) (rate(m[5m]))", "count by (job) (rate(m[1m]))",
                        "sum(rate(m{job=~\"j0|j1\"}[5m]))"}) {
    auto want = engine.RangeQuery(mem, q, start, end, step);
    auto got = engine.RangeQuery(source, q, start, end, step);
    ASSERT_TRUE(want.ok()) << q << ": " << want.status();
    ASSERT_TRUE(got.ok()) << q << ": " << got.status();
    ASSERT_FALSE(want->series.empty()) << q;
    query::promql::ExpectCloseResult(*got, *want, q);
  }

  query::promql::EngineOptions small;
  small.max_samples = 5'000;
  query::promql::Engine limited(small);
  auto refused = limited.RangeQuery(source, "rate(m[5m])", start, end, step);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace observex::storage
