#include "writer/metrics_cache.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "metrics/metrics_model.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "storage/schema.h"

namespace observex::writer {
namespace {

namespace pbc = opentelemetry::proto::common::v1;
namespace pbm = opentelemetry::proto::metrics::v1;
using metrics::MetricsRequest;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ULL;
constexpr uint64_t kSecond = 1'000'000'000ULL;

using Row = std::tuple<int64_t, int64_t, uint64_t>;  // series id, time, value bits

// A stand-in for the series index: ids by label set, per tenant, from 1.
class FakeIndex {
 public:
  std::vector<int64_t> Resolve(int64_t tenant, const metrics::MetricsBatch& batch) {
    std::vector<int64_t> ids;
    for (const auto& s : batch.series) {
      auto [it, added] = ids_.try_emplace(std::make_pair(tenant, s.labels.Key()), next_);
      if (added) ++next_;
      ids.push_back(it->second);
    }
    return ids;
  }

 private:
  absl::flat_hash_map<std::pair<int64_t, std::string>, int64_t> ids_;
  int64_t next_ = 1;
};

struct Converted {
  std::vector<Row> rows;  // sorted
  std::vector<std::string> families;
};

std::vector<Row> Sorted(const storage::ColumnBatch& b) {
  std::vector<Row> rows;
  const auto& sid = std::get<0>(b.columns[0]);
  const auto& t = std::get<0>(b.columns[1]);
  const auto& v = std::get<1>(b.columns[2]);
  for (size_t i = 0; i < sid.size(); ++i) {
    rows.emplace_back(sid[i], t[i], std::bit_cast<uint64_t>(v[i]));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::string FamilyString(const metrics::MetricFamily& f) {
  return f.name + "|" + std::string(metrics::PrometheusTypeName(f.type)) + "|" + f.unit + "|" +
         f.help;
}

class MetricsCacheTest : public ::testing::Test {
 protected:
  // The full conversion (what the writer stores without the cache); learns when asked.
  Converted Full(int64_t tenant, const MetricsRequest& req, bool learn = true) {
    metrics::ConversionTrace trace;
    auto batch = metrics::ConvertMetrics(req, options_, &trace);
    EXPECT_TRUE(batch.ok());
    const std::vector<int64_t> ids = index_.Resolve(tenant, *batch);
    Converted out;
    for (size_t i = 0; i < batch->series.size(); ++i) {
      for (const auto& p : batch->series[i].samples) {
        out.rows.emplace_back(ids[i], p.t_ms, std::bit_cast<uint64_t>(p.value));
      }
    }
    std::sort(out.rows.begin(), out.rows.end());
    for (const auto& f : batch->families) out.families.push_back(FamilyString(f));
    if (learn) cache_.Learn(tenant, req.SerializeAsString(), trace, ids);
    return out;
  }

  // The cache's conversion; false when it declines.
  bool Fast(int64_t tenant, const MetricsRequest& req, Converted* out) {
    storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
    std::vector<metrics::MetricFamily> families;
    if (!cache_.TryConvert(tenant, req.SerializeAsString(), &rows, &families)) return false;
    out->rows = Sorted(rows);
    out->families.clear();
    for (const auto& f : families) out->families.push_back(FamilyString(f));
    return true;
  }

  // Learns `req`, then checks that the cache converts `later` (same identities) exactly as
  // the full conversion does.
  void ExpectSame(int64_t tenant, const MetricsRequest& req, const MetricsRequest& later) {
    Full(tenant, req);
    Converted fast;
    ASSERT_TRUE(Fast(tenant, later, &fast));
    const Converted full = Full(tenant, later, false);
    EXPECT_EQ(fast.rows, full.rows);
    EXPECT_EQ(fast.families, full.families);
  }

  metrics::ConvertOptions options_;
  FakeIndex index_;
  MetricsSeriesCache cache_{options_, 1000};
};

void SetStr(pbc::KeyValue* kv, const std::string& k, const std::string& v) {
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

// One resource (service s, host h) with a counter and a gauge of `n` points each at time t.
MetricsRequest Request(const std::string& service, uint64_t t, int n, double base = 0) {
  MetricsRequest req;
  auto* rm = req.add_resource_metrics();
  SetStr(rm->mutable_resource()->add_attributes(), "service.name", service);
  SetStr(rm->mutable_resource()->add_attributes(), "service.instance.id", "i-1");
  SetStr(rm->mutable_resource()->add_attributes(), "host.name", "h");
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("app.meter");
  auto* counter = sm->add_metrics();
  counter->set_name("http.server.requests");
  counter->set_unit("1");
  counter->set_description("requests served");
  counter->mutable_sum()->set_is_monotonic(true);
  counter->mutable_sum()->set_aggregation_temporality(pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* gauge = sm->add_metrics();
  gauge->set_name("process.memory.usage");
  gauge->set_unit("By");
  for (int i = 0; i < n; ++i) {
    auto* p = counter->mutable_sum()->add_data_points();
    p->set_time_unix_nano(t);
    p->set_as_int(static_cast<int64_t>(base) + i);
    SetStr(p->add_attributes(), "http.route", "/r" + std::to_string(i));
    auto* g = gauge->mutable_gauge()->add_data_points();
    g->set_time_unix_nano(t);
    g->set_as_double(base + 0.5 * i);
    SetStr(g->add_attributes(), "pod", "pod-" + std::to_string(i));
  }
  return req;
}

TEST_F(MetricsCacheTest, KnownPointsConvertLikeTheFullConversion) {
  ExpectSame(1, Request("checkout", kT0, 16), Request("checkout", kT0 + 15 * kSecond, 16, 100));
}

TEST_F(MetricsCacheTest, DeclinesUntilEverySeriesIsKnown) {
  Converted out;
  EXPECT_FALSE(Fast(1, Request("checkout", kT0, 4), &out));  // empty cache
  Full(1, Request("checkout", kT0, 4));
  EXPECT_TRUE(Fast(1, Request("checkout", kT0 + kSecond, 4), &out));
  EXPECT_EQ(out.rows.size(), 9u);                                      // 8 + target_info
  EXPECT_FALSE(Fast(1, Request("checkout", kT0 + kSecond, 5), &out));  // a new point
  EXPECT_FALSE(Fast(1, Request("cart", kT0 + kSecond, 4), &out));      // a new resource
  EXPECT_FALSE(Fast(2, Request("checkout", kT0 + kSecond, 4), &out));  // another tenant
  MetricsRequest scope = Request("checkout", kT0 + kSecond, 4);
  scope.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_scope()->set_version("2");
  EXPECT_FALSE(Fast(1, scope, &out));
  MetricsRequest unit = Request("checkout", kT0 + kSecond, 4);
  unit.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(1)->set_unit("KiBy");
  EXPECT_FALSE(Fast(1, unit, &out));
}

TEST_F(MetricsCacheTest, DeclinesWhatTheFullConversionWouldReject) {
  Full(1, Request("checkout", kT0, 2));
  Converted out;
  MetricsRequest no_time = Request("checkout", kT0, 2);
  no_time.mutable_resource_metrics(0)
      ->mutable_scope_metrics(0)
      ->mutable_metrics(1)
      ->mutable_gauge()
      ->mutable_data_points(0)
      ->set_time_unix_nano(0);
  EXPECT_FALSE(Fast(1, no_time, &out));
  MetricsRequest no_value = Request("checkout", kT0, 2);
  no_value.mutable_resource_metrics(0)
      ->mutable_scope_metrics(0)
      ->mutable_metrics(1)
      ->mutable_gauge()
      ->mutable_data_points(0)
      ->clear_as_double();
  EXPECT_FALSE(Fast(1, no_value, &out));
  MetricsRequest delta = Request("checkout", kT0, 2);
  delta.mutable_resource_metrics(0)
      ->mutable_scope_metrics(0)
      ->mutable_metrics(0)
      ->mutable_sum()
      ->set_aggregation_temporality(pbm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_FALSE(Fast(1, delta, &out));
  // And a request with a rejected point teaches nothing wrong: its other points still work.
  Full(1, delta);
  ExpectSame(1, Request("checkout", kT0, 2), Request("checkout", kT0 + kSecond, 2));
}

TEST_F(MetricsCacheTest, StaleMarkersAndNaNsAsTheFullConversion) {
  MetricsRequest later = Request("checkout", kT0 + kSecond, 3);
  auto* sm = later.mutable_resource_metrics(0)->mutable_scope_metrics(0);
  sm->mutable_metrics(1)->mutable_gauge()->mutable_data_points(0)->set_flags(1);
  sm->mutable_metrics(1)->mutable_gauge()->mutable_data_points(1)->set_as_double(std::nan("7"));
  sm->mutable_metrics(0)->mutable_sum()->mutable_data_points(2)->set_as_int(-5);
  ExpectSame(1, Request("checkout", kT0, 3), later);
}

TEST_F(MetricsCacheTest, RepeatedSeriesKeepTheLastSampleOfATime) {
  // The same point three times: two at one time (the later value wins), one later.
  MetricsRequest req = Request("checkout", kT0, 2);
  auto* gauge = req.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(1);
  *gauge->mutable_gauge()->add_data_points() = gauge->gauge().data_points(0);
  gauge->mutable_gauge()->mutable_data_points(2)->set_as_double(99);
  *gauge->mutable_gauge()->add_data_points() = gauge->gauge().data_points(0);
  gauge->mutable_gauge()->mutable_data_points(3)->set_time_unix_nano(kT0 + kSecond);
  // Attributes that differ in bytes but name the same series ("a.b" and "a_b").
  SetStr(gauge->mutable_gauge()->mutable_data_points(0)->add_attributes(), "a.b", "x");
  SetStr(gauge->mutable_gauge()->mutable_data_points(2)->add_attributes(), "a_b", "x");
  // A second resource with the same bytes: two target_info sample sets that merge.
  *req.add_resource_metrics() = req.resource_metrics(0);
  ExpectSame(1, req, req);
  Converted out;
  ASSERT_TRUE(Fast(1, req, &out));
  EXPECT_EQ(out.rows.size(),
            2u /*counter*/ + 1 /*pod-1*/ + 2 /*pod-0 at t0, t0+1s*/ + 2 /*target_info*/);
}

TEST_F(MetricsCacheTest, TargetInfoIsThinnedAlike) {
  MetricsRequest req = Request("checkout", kT0, 1);
  auto* g = req.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(1);
  for (int i = 1; i < 40; ++i) {
    auto* p = g->mutable_gauge()->add_data_points();
    *p = g->gauge().data_points(0);
    p->set_time_unix_nano(kT0 + static_cast<uint64_t>(i) * 10 * kSecond);
  }
  ExpectSame(1, req, req);
}

TEST_F(MetricsCacheTest, ResourcesWithoutTargetInfo) {
  // Only identifying attributes: no target_info series.
  MetricsRequest req = Request("checkout", kT0, 2);
  req.mutable_resource_metrics(0)->mutable_resource()->mutable_attributes()->RemoveLast();
  ExpectSame(1, req, req);
  // With target_info turned off.
  options_.target_info = false;
  MetricsSeriesCache cache(options_, 1000);
  metrics::ConversionTrace trace;
  MetricsRequest full = Request("checkout", kT0, 2);
  auto batch = metrics::ConvertMetrics(full, options_, &trace);
  ASSERT_TRUE(batch.ok());
  cache.Learn(1, full.SerializeAsString(), trace, index_.Resolve(1, *batch));
  storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
  std::vector<metrics::MetricFamily> families;
  ASSERT_TRUE(cache.TryConvert(1, full.SerializeAsString(), &rows, &families));
  EXPECT_EQ(rows.rows(), 4u);
  EXPECT_EQ(families.size(), 2u);
}

TEST_F(MetricsCacheTest, HistogramRequestsAreNotCached) {
  MetricsRequest req = Request("checkout", kT0, 2);
  auto* h = req.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
  h->set_name("latency");
  h->mutable_histogram()->set_aggregation_temporality(pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* p = h->mutable_histogram()->add_data_points();
  p->set_time_unix_nano(kT0);
  p->set_count(1);
  Full(1, req);
  Converted out;
  EXPECT_FALSE(Fast(1, req, &out));
  // The points before the histogram were learned, and are right.
  EXPECT_GT(cache_.points(), 0u);
  ExpectSame(1, Request("checkout", kT0, 2), Request("checkout", kT0 + kSecond, 2));
}

TEST_F(MetricsCacheTest, BoundedAndRelearnsWhenFull) {
  MetricsSeriesCache small(options_, 10);
  const auto learn = [&](const MetricsRequest& req) {
    metrics::ConversionTrace trace;
    auto batch = metrics::ConvertMetrics(req, options_, &trace);
    ASSERT_TRUE(batch.ok());
    small.Learn(1, req.SerializeAsString(), trace, index_.Resolve(1, *batch));
  };
  const auto fast = [&](const MetricsRequest& req) {
    storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
    std::vector<metrics::MetricFamily> families;
    return small.TryConvert(1, req.SerializeAsString(), &rows, &families);
  };
  learn(Request("a", kT0, 4));  // 8 points
  EXPECT_EQ(small.points(), 8u);
  EXPECT_TRUE(fast(Request("a", kT0, 4)));
  learn(Request("b", kT0, 4));  // fills up at 10: the rest is not learned
  EXPECT_LE(small.points(), 10u);
  EXPECT_FALSE(fast(Request("b", kT0, 4)));
  learn(Request("b", kT0, 4));  // full: dropped, then learned again
  EXPECT_EQ(small.points(), 8u);
  EXPECT_TRUE(fast(Request("b", kT0, 4)));
  EXPECT_FALSE(fast(Request("a", kT0, 4)));
}

// Odd or damaged bytes: whenever the cache converts a request that a parser accepts, it
// gives what the full conversion gives.
TEST_F(MetricsCacheTest, MutatedRequestsConvertLikeTheFullConversionOrAreDeclined) {
  const google::protobuf::LogSilencer quiet;  // parse failures are expected here
  MetricsRequest base = Request("checkout", kT0, 6);
  MetricsRequest second = Request("cart", kT0, 3);
  *base.add_resource_metrics() = second.resource_metrics(0);
  Full(1, base);
  const std::string good = base.SerializeAsString();
  std::mt19937_64 rng(7);
  int compared = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = good;
    const size_t at = rng() % bytes.size();
    if (rng() % 2) {
      bytes[at] = static_cast<char>(rng());
    } else {
      bytes.erase(at, 1);
    }
    MetricsRequest parsed;
    if (!parsed.ParseFromString(bytes)) continue;
    storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
    std::vector<metrics::MetricFamily> families;
    if (!cache_.TryConvert(1, bytes, &rows, &families)) continue;
    ++compared;
    const Converted full = Full(1, parsed, false);
    ASSERT_EQ(Sorted(rows), full.rows) << "mutation " << i;
    std::vector<std::string> names;
    for (const auto& f : families) names.push_back(FamilyString(f));
    ASSERT_EQ(names, full.families) << "mutation " << i;
  }
  EXPECT_GT(compared, 50);
}

TEST_F(MetricsCacheTest, TenantsHaveTheirOwnIds) {
  Full(1, Request("checkout", kT0, 2));
  Full(2, Request("checkout", kT0, 2));
  Converted one, two;
  ASSERT_TRUE(Fast(1, Request("checkout", kT0, 2), &one));
  ASSERT_TRUE(Fast(2, Request("checkout", kT0, 2), &two));
  EXPECT_NE(one.rows, two.rows);
  EXPECT_EQ(one.rows.size(), two.rows.size());
}

}  // namespace
}  // namespace observex::writer
