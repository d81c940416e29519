#include <algorithm>
#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "promql_script.h"
#include "query/memory_series_source.h"
#include "query/promql/engine.h"
#include "same_result.h"

namespace observex::query::promql {
namespace {

constexpr int64_t kMin = 60 * 1000;

class EngineTest : public ::testing::Test {
 protected:
  void Add(const Labels& l, int64_t t, double v) { ASSERT_TRUE(src_.Add(l, t, v).ok()); }

  // Loads `name{job=...}` with value i*step at minute i, for i in [0, n).
  void Counter(std::string_view name, std::string_view job, int n, double step) {
    Labels l({{"__name__", name}, {"job", job}});
    for (int i = 0; i < n; ++i) Add(l, i * kMin, i * step);
  }

  QueryResult Instant(std::string_view q, int64_t t) {
    auto r = engine_.InstantQuery(src_, q, t);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
    return r.ok() ? *r : QueryResult{};
  }

  InMemorySeriesSource src_;
  Engine engine_;
};

TEST_F(EngineTest, InstantVectorReportsEvaluationTime) {
  Counter("up", "a", 10, 1);
  QueryResult r = Instant("up", 5 * kMin + 30000);
  ASSERT_EQ(r.type, ValueType::kVector);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].labels.String(), R"({__name__="up", job="a"})");
  EXPECT_EQ(r.series[0].points[0].t_ms, 5 * kMin + 30000);
  EXPECT_EQ(r.series[0].points[0].value, 5);
}

TEST_F(EngineTest, LookbackAndStaleness) {
  Labels l({{"__name__", "m"}});
  Add(l, 0, 1);
  Add(l, kMin, 2);
  Add(l, 2 * kMin, StaleNaN());
  EXPECT_EQ(Instant("m", kMin + 1).series.size(), 1u);
  EXPECT_TRUE(Instant("m", 2 * kMin).series.empty());  // the stale marker hides it
  Labels g({{"__name__", "g"}});
  Add(g, 0, 7);
  EXPECT_EQ(Instant("g", 5 * kMin - 1).series.size(), 1u);
  EXPECT_TRUE(Instant("g", 5 * kMin).series.empty());  // 5m lookback, exclusive
}

TEST_F(EngineTest, RangeQueryStepsAndOrdering) {
  Counter("c_total", "b", 20, 60);
  Counter("c_total", "a", 20, 120);
  auto r = engine_.RangeQuery(src_, "rate(c_total[5m])", 5 * kMin, 10 * kMin, kMin);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->type, ValueType::kMatrix);
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->series[0].labels.String(), R"({job="a"})");  // sorted, name dropped
  ASSERT_EQ(r->series[0].points.size(), 6u);
  for (const auto& p : r->series[0].points) EXPECT_DOUBLE_EQ(p.value, 2.0);
  EXPECT_TRUE(r->annotations.empty());
}

// Enough input points (200 series x 1,441 steps) that sum/avg/count/max by (g) split their
// groups over two threads; every group's value is known exactly at every step, and a
// one-group sum (no split) and a query too small to split agree with it.
TEST_F(EngineTest, LargeAggregationsSplitOverThreadsAgreeWithTheExactValues) {
  constexpr int kSeries = 200;
  constexpr int64_t kEnd = 24 * 60 * kMin;
  for (int i = 0; i < kSeries; ++i) {
    Labels l({{"__name__", "m"}, {"i", std::to_string(i)}, {"g", std::to_string(i % 3)}});
    for (int64_t t = 0; t <= kEnd; t += 15'000) Add(l, t, i);
  }
  double sum[3] = {0, 0, 0}, count[3] = {0, 0, 0}, max[3] = {0, 0, 0};
  for (int i = 0; i < kSeries; ++i) {
    sum[i % 3] += i;
    count[i % 3] += 1;
    max[i % 3] = std::max<double>(max[i % 3], i);
  }
  for (const char* op : {"sum", "avg", "count", "max"}) {
    SCOPED_TRACE(op);
    auto r = engine_.RangeQuery(src_, std::string(op) + " by (g) (m)", 0, kEnd, kMin);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->series.size(), 3u);
    for (int g = 0; g < 3; ++g) {
      EXPECT_EQ(r->series[g].labels.String(), "{g=\"" + std::to_string(g) + "\"}");
      ASSERT_EQ(r->series[g].points.size(), 1441u);
      const double want = std::string(op) == "sum"     ? sum[g]
                          : std::string(op) == "avg"   ? sum[g] / count[g]
                          : std::string(op) == "count" ? count[g]
                                                       : max[g];
      for (const auto& p : r->series[g].points) ASSERT_EQ(p.value, want) << p.t_ms;
    }
  }
  auto all = engine_.RangeQuery(src_, "sum(m)", 0, kEnd, kMin);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->series.size(), 1u);
  for (const auto& p : all->series[0].points) ASSERT_EQ(p.value, sum[0] + sum[1] + sum[2]);
  auto small = engine_.RangeQuery(src_, "sum by (g) (m)", 0, 10 * kMin, kMin);
  ASSERT_TRUE(small.ok()) << small.status();
  ASSERT_EQ(small->series.size(), 3u);
  EXPECT_EQ(small->series[1].points[0].value, sum[1]);
}

TEST_F(EngineTest, OffsetAndAtModifiers) {
  Counter("m", "a", 30, 1);
  EXPECT_EQ(Instant("m offset 5m", 20 * kMin).series[0].points[0].value, 15);
  EXPECT_EQ(Instant("m offset -5m", 10 * kMin).series[0].points[0].value, 15);
  EXPECT_EQ(Instant("m @ 600", 25 * kMin).series[0].points[0].value, 10);
  auto r = engine_.RangeQuery(src_, "m @ end()", 0, 20 * kMin, 10 * kMin);
  ASSERT_TRUE(r.ok());
  for (const auto& p : r->series[0].points) EXPECT_EQ(p.value, 20);
}

TEST_F(EngineTest, ScalarAndStringResults) {
  QueryResult s = Instant("1 + 2 * 3", 0);
  EXPECT_EQ(s.type, ValueType::kScalar);
  EXPECT_EQ(s.scalar.value, 7);
  QueryResult str = Instant("\"hello\"", 0);
  EXPECT_EQ(str.type, ValueType::kString);
  EXPECT_EQ(str.string_value, "hello");
  QueryResult p = Instant("-2 ^ 2", 0);
  EXPECT_EQ(p.scalar.value, -4);
}

TEST_F(EngineTest, AggregationsAndTopk) {
  Counter("req", "a", 5, 1);
  Counter("req", "b", 5, 2);
  Counter("req", "c", 5, 3);
  QueryResult sum = Instant("sum(req)", 4 * kMin);
  ASSERT_EQ(sum.series.size(), 1u);
  EXPECT_EQ(sum.series[0].points[0].value, 24);
  QueryResult top = Instant("topk(2, req)", 4 * kMin);
  ASSERT_EQ(top.series.size(), 2u);
  EXPECT_EQ(top.series[0].labels.Get("job"), "c");
  EXPECT_EQ(top.series[1].labels.Get("job"), "b");
  QueryResult q = Instant("quantile(0.5, req)", 4 * kMin);
  EXPECT_EQ(q.series[0].points[0].value, 8);
}

TEST_F(EngineTest, VectorMatchingErrors) {
  Add(Labels({{"__name__", "a"}, {"x", "1"}, {"y", "1"}}), 0, 1);
  Add(Labels({{"__name__", "a"}, {"x", "1"}, {"y", "2"}}), 0, 1);
  Add(Labels({{"__name__", "b"}, {"x", "1"}}), 0, 1);
  auto r = engine_.InstantQuery(src_, "a + on(x) b", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)");
  r = engine_.InstantQuery(src_, "b + on(x) a", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("found duplicate series for the match group {x=\"1\"} on "
                                      "the right hand-side of the operation"),
            std::string::npos)
      << r.status().message();
  auto ok = engine_.InstantQuery(src_, "a * on(x) group_left b", 0);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->series.size(), 2u);
}

TEST_F(EngineTest, AnnotationsCarryPositions) {
  Counter("requests", "a", 10, 1);
  QueryResult r = Instant("sum(rate(requests[5m]))", 9 * kMin);
  ASSERT_EQ(r.Infos().size(), 1u);
  EXPECT_EQ(r.Infos()[0],
            "PromQL info: metric might not be a counter, name does not end in "
            "_total/_sum/_count/_bucket: \"requests\" (1:10)");
  QueryResult w = Instant("quantile(2, requests)", 9 * kMin);
  ASSERT_EQ(w.Warnings().size(), 1u);
  EXPECT_EQ(w.Warnings()[0],
            "PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)");
  EXPECT_EQ(w.series[0].points[0].value, INFINITY);
}

TEST_F(EngineTest, DelayedNameRemoval) {
  Counter("x_total", "a", 10, 1);
  Counter("y_total", "a", 10, 1);
  auto dup = engine_.InstantQuery(src_, "sum by (__name__) (rate({job=\"a\"}[5m]))", 9 * kMin);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), "vector cannot contain metrics with the same labelset");
  QueryResult keep =
      Instant("label_replace(rate(x_total[5m]), \"__name__\", \"rate_$1\", \"__name__\", \"(.+)\")",
              9 * kMin);
  ASSERT_EQ(keep.series.size(), 1u);
  EXPECT_EQ(keep.series[0].labels.Get("__name__"), "rate_x_total");
}

TEST_F(EngineTest, RangeQueryValidation) {
  Counter("m", "a", 5, 1);
  auto r = engine_.RangeQuery(src_, "m", 0, kMin, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("zero or negative query resolution step"), std::string::npos);
  r = engine_.RangeQuery(src_, "m", kMin, 0, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "end timestamp must not be before start time");
  r = engine_.RangeQuery(src_, "m", 0, 11001 * 1000, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
            "query resolution (?step=XX)");
  EXPECT_TRUE(engine_.RangeQuery(src_, "m", 0, 11000 * 1000, 1000).ok());
  r = engine_.RangeQuery(src_, "m[5m]", 0, kMin, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant "
            "Vector");
  auto bad = engine_.InstantQuery(src_, "rate(m)", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, MaxSamplesLimit) {
  for (int s = 0; s < 20; ++s) Counter("m", std::to_string(s), 60, 1);
  EngineOptions opts;
  opts.max_samples = 100;
  Engine small(opts);
  auto r = small.RangeQuery(src_, "m", 0, 59 * kMin, kMin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(),
            "query processing would load too many samples into memory in query execution");
  EXPECT_TRUE(small.InstantQuery(src_, "sum(m)", 0).ok());
}

TEST_F(EngineTest, Timeout) {
  Counter("m", "a", 60, 1);
  EngineOptions opts;
  opts.timeout = std::chrono::milliseconds(-1);
  Engine expired(opts);
  auto r = expired.InstantQuery(src_, "m", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "query timed out in expression evaluation");
}

class RefusingSource : public SeriesSource {
 public:
  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<LabelMatcher>&, int64_t,
                                                    int64_t) const override {
    return absl::UnimplementedError("native histograms are not supported");
  }
};

TEST_F(EngineTest, SourceErrorsPropagate) {
  RefusingSource refusing;
  auto r = engine_.InstantQuery(refusing, "sum(rate(x[5m]))", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(), "native histograms are not supported");
  auto lit = engine_.InstantQuery(refusing, "1 + 1", 0);
  EXPECT_TRUE(lit.ok());  // no selection, no error
}

TEST_F(EngineTest, UnsupportedFeatureIsNamed) {
  auto r = engine_.InstantQuery(src_, "limitk(1, up)", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("\"limitk\" is not supported"), std::string::npos);
}

// Counts the transforms its sets accept, so a test can tell the ahead path was taken.
class AheadCountingSource : public SeriesSource {
 public:
  explicit AheadCountingSource(const SeriesSource* inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<LabelMatcher>& m,
                                                    int64_t mint, int64_t maxt) const override {
    auto set = inner_->Select(m, mint, maxt);
    if (!set.ok()) return set.status();
    return std::unique_ptr<SeriesSet>(std::make_unique<Set>(std::move(*set), &accepted_));
  }
  int accepted() const { return accepted_; }

 private:
  class Set final : public SeriesSet {
   public:
    Set(std::unique_ptr<SeriesSet> inner, int* accepted)
        : inner_(std::move(inner)), accepted_(accepted) {}
    bool Next() override { return inner_->Next(); }
    const Labels& labels() const override { return inner_->labels(); }
    absl::Span<const SamplePoint> samples() const override { return inner_->samples(); }
    absl::Status status() const override { return inner_->status(); }
    bool MayHaveStaleMarkers() const override { return inner_->MayHaveStaleMarkers(); }
    bool ApplyAhead(std::shared_ptr<const SeriesTransform> t) override {
      const bool ok = inner_->ApplyAhead(std::move(t));
      *accepted_ += ok ? 1 : 0;
      return ok;
    }
    absl::Span<const SamplePoint> transformed() const override { return inner_->transformed(); }

   private:
    std::unique_ptr<SeriesSet> inner_;
    int* accepted_;
  };
  const SeriesSource* inner_;
  mutable int accepted_ = 0;
};

// Aggregations of rate/increase/delta over a selector take each series as it is evaluated
// (EngineOptions::stream_aggregations). From a source that yields series in label order, as
// this one does, they give the general path's results to the bit: every streamed operator,
// with and without grouping, over counter resets, staleness markers, gaps, NaN and +Inf, and
// series lacking a grouping label; range and instant queries; from a source that evaluates
// ahead and from one that does not.
TEST_F(EngineTest, StreamedAggregationsAgreeWithTheGeneralPath) {
  InMemorySeriesSource ahead_src;
  ahead_src.set_apply_ahead(true);
  for (int i = 0; i < 24; ++i) {
    Labels l({{"__name__", "c_total"}, {"i", std::to_string(i)}, {"h", std::to_string(i % 2)}});
    if (i % 7 != 0) l.Set("g", std::to_string(i % 3));
    double v = i * 0.3;
    for (int64_t k = 0; k < 400; ++k) {
      if (i % 5 == 1 && k > 50 && k < 90) continue;  // a gap longer than the range
      v += ((k * 3 + i) % 7) * 0.1;
      if (i % 3 == 0 && k % 97 == 0) v = (k % 2) * 0.5;  // counter resets
      double value = v;
      if (i % 4 == 2 && (k == 120 || k == 300)) value = StaleNaN();
      if (i == 5 && k == 200) value = std::nan("");
      if (i == 8 && k == 250) value = HUGE_VAL;
      const int64_t t = k * 15'000 + i * 1'003;
      Add(l, t, value);
      ASSERT_TRUE(ahead_src.Add(l, t, value).ok());
    }
  }
  EngineOptions general_opts;
  general_opts.stream_aggregations = false;
  Engine general(general_opts);
  for (const char* op : {"sum", "avg", "count", "group", "min", "max", "stddev", "stdvar"}) {
    for (const char* grouping : {"", " by (g)", " without (i)", " by (g, h)", " by (__name__)"}) {
      for (const char* fn :
           {"rate(c_total[5m])", "increase(c_total[2m] offset 3m)", "delta(c_total[3m])"}) {
        const std::string q = std::string(op) + grouping + " (" + fn + ")";
        auto want = general.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
        ASSERT_TRUE(want.ok()) << q << ": " << want.status();
        ASSERT_FALSE(want->series.empty()) << q;
        for (const SeriesSource* source : {static_cast<const SeriesSource*>(&src_),
                                           static_cast<const SeriesSource*>(&ahead_src)}) {
          auto got = engine_.RangeQuery(*source, q, 0, 100 * kMin, 30'000);
          ASSERT_TRUE(got.ok()) << q << ": " << got.status();
          ExpectSameResult(*got, *want, q);
          auto want_i = general.InstantQuery(src_, q, 61 * kMin);
          auto got_i = engine_.InstantQuery(*source, q, 61 * kMin);
          ASSERT_TRUE(want_i.ok() && got_i.ok()) << q;
          ExpectSameResult(*got_i, *want_i, q);
        }
      }
    }
  }

  // Streaming holds one series' samples and points at a time (and the groups' results): a
  // sample budget far below the whole evaluated matrix still suffices, where the general
  // path is refused.
  EngineOptions tight_opts;
  tight_opts.max_samples = 2'000;
  Engine tight(tight_opts);
  general_opts.max_samples = tight_opts.max_samples;
  Engine tight_general(general_opts);
  const std::string q = "sum by (g) (rate(c_total[5m]))";
  auto streamed = tight.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  auto want = engine_.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
  ASSERT_TRUE(want.ok()) << want.status();
  ExpectSameResult(*streamed, *want, q);
  auto refused = tight_general.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
}

// More groups than the streamed cells may hold (steps x groups above the bound) take the
// general path, counted before any sample is read; the answer is the same.
TEST_F(EngineTest, StreamedAggregationWithTooManyGroupsTakesTheGeneralPath) {
  constexpr int kSeries = 800;
  for (int i = 0; i < kSeries; ++i) {
    Labels l({{"__name__", "c_total"}, {"i", std::to_string(i)}});
    for (int64_t k = 0; k <= 24 * 60; k += 5) Add(l, k * kMin, static_cast<double>(k * (i + 1)));
  }
  // 1,441 steps x 800 groups is above the 2^20 cells of the streamed path.
  const std::string q = "sum by (i) (increase(c_total[10m]))";
  auto got = engine_.RangeQuery(src_, q, 0, 24 * 60 * kMin, kMin);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->series.size(), static_cast<size_t>(kSeries));
  EngineOptions general_opts;
  general_opts.stream_aggregations = false;
  auto want = Engine(general_opts).RangeQuery(src_, q, 0, 24 * 60 * kMin, kMin);
  ASSERT_TRUE(want.ok()) << want.status();
  ExpectSameResult(*got, *want, q);
  // Within the bound the same query streams: a tenth of the groups.
  auto few = engine_.RangeQuery(src_, "sum by (i) (increase(c_total{i=~\"[0-7]?[0-9]\"}[10m]))", 0,
                                24 * 60 * kMin, kMin);
  ASSERT_TRUE(few.ok()) << few.status();
  EXPECT_EQ(few->series.size(), 80u);
}

// rate/increase/delta offered to a source that evaluates them ahead give the evaluator's own
// results bit for bit (counter resets, staleness markers, gaps, offsets, @, instant and range
// queries, a series of one sample); functions and subqueries that are not offered are not.
TEST_F(EngineTest, RangeFunctionsEvaluatedAheadAgreeWithTheEvaluator) {
  for (int i = 0; i < 12; ++i) {
    Labels l({{"__name__", i % 4 == 3 ? "g" : "c_total"}, {"i", std::to_string(i)}});
    double v = i;
    for (int64_t k = 0; k < 400; ++k) {
      if (i % 5 == 1 && k > 50 && k < 90) continue;  // a gap longer than the range
      v += (k * 3 + i) % 7;
      if (i % 3 == 0 && k % 97 == 0) v = (k % 2) * 0.5;  // counter resets
      const bool stale = i % 4 == 2 && (k == 120 || k == 121 || k == 300);
      Add(l, k * 15'000 + i * 1'003, stale ? StaleNaN() : v);
    }
  }
  Add(Labels({{"__name__", "c_total"}, {"i", "single"}}), 30 * kMin, 5);

  InMemorySeriesSource ahead_src;
  ahead_src.set_apply_ahead(true);
  // Same samples in the second source (Add keeps them in time order per series).
  for (int i = 0; i < 12; ++i) {
    Labels l({{"__name__", i % 4 == 3 ? "g" : "c_total"}, {"i", std::to_string(i)}});
    auto sel =
        src_.Select({*LabelMatcher::Create(LabelMatcher::Type::kEqual, "i", std::to_string(i))}, 0,
                    1'000 * kMin);
    ASSERT_TRUE(sel.ok());
    while ((*sel)->Next()) {
      for (const auto& p : (*sel)->samples()) ASSERT_TRUE(ahead_src.Add(l, p.t_ms, p.value).ok());
    }
  }
  ASSERT_TRUE(ahead_src.Add(Labels({{"__name__", "c_total"}, {"i", "single"}}), 30 * kMin, 5).ok());
  AheadCountingSource counting(&ahead_src);

  for (const char* q : {"rate(c_total[5m])", "increase(c_total[2m])", "delta(g[3m])",
                        "rate(g[10m] offset 7m)", "increase(c_total[5m] @ 3000)",
                        "sum by (i) (rate({__name__=~\"c_total|g\"}[1m]))", "rate(c_total[1h])"}) {
    const int before = counting.accepted();
    auto want = engine_.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
    auto got = engine_.RangeQuery(counting, q, 0, 100 * kMin, 30'000);
    ASSERT_TRUE(want.ok()) << q << ": " << want.status();
    ASSERT_TRUE(got.ok()) << q << ": " << got.status();
    EXPECT_EQ(counting.accepted(), before + 1) << q;
    ExpectSameResult(*got, *want, q);
    auto want_i = engine_.InstantQuery(src_, q, 61 * kMin);
    auto got_i = engine_.InstantQuery(counting, q, 61 * kMin);
    ASSERT_TRUE(want_i.ok() && got_i.ok()) << q;
    ExpectSameResult(*got_i, *want_i, q);
  }
  // Not offered: other range functions, and a range function over a subquery.
  const int before = counting.accepted();
  for (const char* q : {"avg_over_time(c_total[5m])", "rate(c_total[5m:1m])", "c_total"}) {
    auto want = engine_.RangeQuery(src_, q, 0, 100 * kMin, 30'000);
    auto got = engine_.RangeQuery(counting, q, 0, 100 * kMin, 30'000);
    ASSERT_TRUE(want.ok() && got.ok()) << q;
    ExpectSameResult(*got, *want, q);
  }
  EXPECT_EQ(counting.accepted(), before);

  // The sample budget refuses the same query either way.
  EngineOptions opts;
  opts.max_samples = 2'000;
  Engine small(opts);
  auto a = small.RangeQuery(src_, "rate(c_total[5m])", 0, 100 * kMin, 30'000);
  auto b = small.RangeQuery(counting, "rate(c_total[5m])", 0, 100 * kMin, 30'000);
  ASSERT_FALSE(a.ok());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status(), a.status());

  // A set refuses a transform once reading has begun, and a source without the option
  // refuses it always.
  struct Count final : SeriesTransform {
    void Apply(absl::Span<const SamplePoint> samples, bool, std::vector<SamplePoint>*,
               std::vector<SamplePoint>* out) const override {
      out->push_back({0, static_cast<double>(samples.size())});
    }
  };
  const auto zero = *LabelMatcher::Create(LabelMatcher::Type::kEqual, "i", "0");
  auto fresh = ahead_src.Select({zero}, 0, 1'000 * kMin);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->ApplyAhead(std::make_shared<const Count>()));
  ASSERT_TRUE((*fresh)->Next());
  ASSERT_EQ((*fresh)->transformed().size(), 1u);
  EXPECT_EQ((*fresh)->transformed()[0].value, static_cast<double>((*fresh)->samples().size()));
  auto late = ahead_src.Select({zero}, 0, 1'000 * kMin);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE((*late)->Next());
  EXPECT_FALSE((*late)->ApplyAhead(std::make_shared<const Count>()));
  auto plain = src_.Select({zero}, 0, 1'000 * kMin);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->ApplyAhead(std::make_shared<const Count>()));
}

// The runner must be able to tell a wrong answer from a right one and from an unsupported one.
TEST(PromqlScriptRunnerTest, ClassifiesOutcomes) {
  const char* script = R"(
load 1m
  m{a="1"} 0+1x10
  h{a="1"} {{schema:0 sum:1 count:1}}x10

eval instant at 5m m
  m{a="1"} 5

eval instant at 5m m
  m{a="1"} 6

eval range from 0 to 2m step 1m m * 2
  {a="1"} 0 2 4

eval range from 0 to 2m step 1m m * 2
  {a="1"} 0 2 5

eval instant at 5m h
  h{a="1"} 1

eval instant at 5m m + on(a) m
  expect fail

eval instant at 5m sum(m)
  expect warn
  {} 5
)";
  testing::ScriptReport rep = testing::RunScript(script, EngineOptions{});
  ASSERT_TRUE(rep.script_error.empty()) << rep.script_error;
  ASSERT_EQ(rep.evals.size(), 7u);
  EXPECT_EQ(rep.evals[0].outcome, testing::Outcome::kPass) << rep.evals[0].detail;
  EXPECT_EQ(rep.evals[1].outcome, testing::Outcome::kFail);
  EXPECT_EQ(rep.evals[2].outcome, testing::Outcome::kPass) << rep.evals[2].detail;
  EXPECT_EQ(rep.evals[3].outcome, testing::Outcome::kFail);
  EXPECT_EQ(rep.evals[4].outcome, testing::Outcome::kUnsupported);
  EXPECT_EQ(rep.evals[5].outcome, testing::Outcome::kFail);  // no error, but one was expected
  EXPECT_EQ(rep.evals[6].outcome, testing::Outcome::kFail);  // warning expected, none given
  EXPECT_EQ(rep.passed(), 2);
  EXPECT_EQ(rep.failed(), 4);
  EXPECT_EQ(rep.unsupported(), 1);
}

TEST(PromqlScriptRunnerTest, RejectsMalformedScripts) {
  EXPECT_FALSE(testing::RunScript("bogus command\n", EngineOptions{}).script_error.empty());
  EXPECT_FALSE(testing::RunScript("load xyz\n  m 1\n", EngineOptions{}).script_error.empty());
}

}  // namespace
}  // namespace observex::query::promql
