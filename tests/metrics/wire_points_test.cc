#include "metrics/wire_points.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "builders.h"
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"

namespace observex::metrics {
namespace {

using testing::kSecond;
using testing::kT0;
using testing::RequestBuilder;
namespace pbm = testing::pbm;

// Writes each callback as a line, to compare walks.
class Recorder : public WirePointVisitor {
 public:
  bool OnResource(std::string_view r) override {
    log.push_back(
        absl::StrCat("resource ", Hex(Normal<opentelemetry::proto::resource::v1::Resource>(r))));
    return true;
  }
  bool OnScope(std::string_view s, std::string_view url) override {
    log.push_back(absl::StrCat("scope ", Hex(Normal<testing::pbc::InstrumentationScope>(s)), " ",
                               std::string(url)));
    return true;
  }
  bool OnMetric(const WireMetric& m) override {
    log.push_back(absl::StrCat("metric ", std::string(m.name), " ", std::string(m.unit), " ",
                               std::string(m.description), " ", static_cast<int>(m.kind), " ",
                               m.temporality, " ", m.points));
    return true;
  }
  bool OnPoint(const WireNumberPoint& p) override {
    log.push_back(absl::StrCat("point ", Hex(Normal<pbm::NumberDataPoint>(p.attributes)), " ",
                               p.time_unix_nano, " ", p.flags, " ", static_cast<int>(p.value), " ",
                               p.as_int, " ", p.as_double));
    return points_left-- != 0;
  }
  bool OnResourceEnd() override {
    log.push_back("end");
    return true;
  }
  static std::string Hex(std::string_view s) {
    std::string out;
    for (unsigned char c : s) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
    return out;
  }
  // With `normalize`, message bytes are logged as a parser re-serializes them (unknown
  // fields move to the end), so raw and re-serialized forms of one message compare equal.
  template <typename M>
  std::string Normal(std::string_view bytes) const {
    if (!normalize) return std::string(bytes);
    M m;
    m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    return m.SerializeAsString();
  }
  std::vector<std::string> log;
  bool normalize = false;
  int points_left = -1;  // stop after this many points (-1: never)
};

// The walk a parser-based reader gives for `req`.
std::vector<std::string> Expected(const MetricsRequest& req, bool normalize = false) {
  Recorder r;
  r.normalize = normalize;
  for (const auto& rm : req.resource_metrics()) {
    r.OnResource(rm.has_resource() ? rm.resource().SerializeAsString() : "");
    for (const auto& sm : rm.scope_metrics()) {
      r.OnScope(sm.has_scope() ? sm.scope().SerializeAsString() : "", sm.schema_url());
      for (const auto& m : sm.metrics()) {
        WireMetric wm{m.name(), m.description(), m.unit()};
        const auto* pts = &m.gauge().data_points();
        if (m.has_sum()) {
          wm.kind = m.sum().is_monotonic() ? OtlpKind::kMonotonicSum : OtlpKind::kNonMonotonicSum;
          wm.temporality = static_cast<uint64_t>(m.sum().aggregation_temporality());
          pts = &m.sum().data_points();
        }
        wm.points = pts->size();
        r.OnMetric(wm);
        for (const auto& p : *pts) {
          WireNumberPoint wp;
          std::string attrs;
          for (const auto& kv : p.attributes()) {
            pbm::NumberDataPoint only;
            *only.add_attributes() = kv;
            attrs += only.SerializeAsString();
          }
          wp.attributes = attrs;
          wp.time_unix_nano = p.time_unix_nano();
          wp.flags = p.flags();
          if (p.value_case() == pbm::NumberDataPoint::kAsInt) {
            wp.value = WireNumberPoint::Value::kInt;
            wp.as_int = p.as_int();
          } else if (p.value_case() == pbm::NumberDataPoint::kAsDouble) {
            wp.value = WireNumberPoint::Value::kDouble;
            wp.as_double = p.as_double();
          }
          r.OnPoint(wp);
        }
      }
    }
    r.OnResourceEnd();
  }
  return r.log;
}

WireScan Scan(std::string_view bytes, Recorder* r) { return ScanNumberPoints(bytes, *r); }

MetricsRequest TwoResources() {
  RequestBuilder b({{"service.name", "checkout"}, {"host.name", "h1"}}, "meter", "1.0");
  b.Gauge("temperature", 21.5, {{"room", "kitchen"}, {"floor", "1"}}, kT0, "Cel");
  b.Sum("requests", 7, true, pbm::AGGREGATION_TEMPORALITY_CUMULATIVE, {{"route", "/a"}});
  pbm::NumberDataPoint* p =
      b.Sum("queue", 3, false, pbm::AGGREGATION_TEMPORALITY_DELTA, {{"q", "x"}});
  p->set_as_int(-42);
  p->set_flags(1);
  MetricsRequest req = b.request();
  auto* rm = req.add_resource_metrics();  // no resource, two scopes
  auto* sm = rm->add_scope_metrics();
  sm->set_schema_url("https://example.com/s");
  auto* m = sm->add_metrics();
  m->set_name("up");
  m->set_description("is it up");
  auto* gp = m->mutable_gauge()->add_data_points();
  gp->set_time_unix_nano(kT0 + kSecond);
  gp->set_as_double(1);
  rm->add_scope_metrics()->mutable_scope()->set_name("empty scope");
  return req;
}

TEST(WirePointsTest, WalksLikeAParser) {
  const MetricsRequest req = TwoResources();
  Recorder r;
  ASSERT_EQ(Scan(req.SerializeAsString(), &r), WireScan::kDone);
  EXPECT_EQ(r.log, Expected(req));
  EXPECT_EQ(r.log.size(), 15u);
}

TEST(WirePointsTest, ContextsComeFirstWhateverTheFieldOrder) {
  // ResourceMetrics with scope_metrics (2) before resource (1), and a metric whose data (5)
  // comes before its name (1).
  RequestBuilder b({{"service.name", "a"}});
  b.Gauge("g", 1, {{"k", "v"}});
  const MetricsRequest req = b.request();
  const auto& rm = req.resource_metrics(0);
  const auto& sm = rm.scope_metrics(0);
  pbm::Metric data_only = sm.metrics(0);
  data_only.clear_name();
  pbm::Metric name_only;
  name_only.set_name("g");
  std::string metric_bytes = data_only.SerializeAsString() + name_only.SerializeAsString();
  pbm::ScopeMetrics scope_only;
  *scope_only.mutable_scope() = sm.scope();
  std::string scope_bytes =
      absl::StrCat("\x12", std::string(1, static_cast<char>(metric_bytes.size())), metric_bytes) +
      scope_only.SerializeAsString();
  pbm::ResourceMetrics resource_only;
  *resource_only.mutable_resource() = rm.resource();
  std::string rm_bytes =
      absl::StrCat("\x12", std::string(1, static_cast<char>(scope_bytes.size())), scope_bytes) +
      resource_only.SerializeAsString();
  std::string bytes =
      absl::StrCat("\x0a", std::string(1, static_cast<char>(rm_bytes.size())), rm_bytes);
  MetricsRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_EQ(parsed.resource_metrics(0).scope_metrics(0).metrics(0).name(), "g");
  Recorder r;
  ASSERT_EQ(Scan(bytes, &r), WireScan::kDone);
  EXPECT_EQ(r.log, Expected(parsed));
}

TEST(WirePointsTest, LastScalarWinsAndUnknownFieldsAreSkipped) {
  RequestBuilder b;
  pbm::NumberDataPoint* p = b.Gauge("g", 1.5, {{"k", "v"}});
  p->set_as_int(3);  // the oneof now holds as_int
  std::string bytes = b.request().SerializeAsString();
  // An unknown varint field (99) at the top level and a second time_unix_nano in the point
  // cannot be added through the API; the top-level one can be appended.
  bytes += std::string("\x98\x06\x01", 3);
  MetricsRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  Recorder r;
  ASSERT_EQ(Scan(bytes, &r), WireScan::kDone);
  EXPECT_EQ(r.log, Expected(parsed));
  EXPECT_NE(r.log[3].find(" 1 3 "), std::string::npos) << r.log[3];  // kInt, 3
}

TEST(WirePointsTest, HistogramsAndSummariesAreLeftToTheFullConversion) {
  RequestBuilder h;
  h.Gauge("g", 1);
  h.Histogram("latency", {1, 2}, {1, 2, 3});
  Recorder r;
  EXPECT_EQ(Scan(h.request().SerializeAsString(), &r), WireScan::kUnsupported);
  RequestBuilder s;
  s.Metric("s")->mutable_summary()->add_data_points()->set_time_unix_nano(kT0);
  EXPECT_EQ(Scan(s.request().SerializeAsString(), &r), WireScan::kUnsupported);
  RequestBuilder e;
  e.Metric("no data");
  EXPECT_EQ(Scan(e.request().SerializeAsString(), &r), WireScan::kUnsupported);
}

TEST(WirePointsTest, MergedMessagesAreUnsupported) {
  RequestBuilder b;
  b.Gauge("g", 1);
  const std::string one = b.request().resource_metrics(0).SerializeAsString();
  pbm::ResourceMetrics extra;
  extra.mutable_resource()->add_attributes()->set_key("k");
  // Two resource fields in one ResourceMetrics: a parser merges them.
  std::string rm = one + extra.SerializeAsString();
  std::string bytes = absl::StrCat("\x0a", std::string(1, static_cast<char>(rm.size())), rm);
  MetricsRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_EQ(parsed.resource_metrics(0).resource().attributes_size(), 2);
  Recorder r;
  EXPECT_EQ(Scan(bytes, &r), WireScan::kUnsupported);

  // A metric with a gauge and a sum (a oneof given twice).
  RequestBuilder two;
  pbm::Metric* m = two.Metric("m");
  m->mutable_gauge()->add_data_points()->set_time_unix_nano(kT0);
  pbm::Metric sum;
  sum.mutable_sum()->add_data_points()->set_time_unix_nano(kT0);
  std::string mbytes = m->SerializeAsString() + sum.SerializeAsString();
  std::string sbytes =
      absl::StrCat("\x12", std::string(1, static_cast<char>(mbytes.size())), mbytes);
  std::string rbytes =
      absl::StrCat("\x12", std::string(1, static_cast<char>(sbytes.size())), sbytes);
  std::string req = absl::StrCat("\x0a", std::string(1, static_cast<char>(rbytes.size())), rbytes);
  ASSERT_TRUE(parsed.ParseFromString(req));
  EXPECT_EQ(Scan(req, &r), WireScan::kUnsupported);
}

TEST(WirePointsTest, SplitAttributesAreUnsupported) {
  // attributes (7), flags (8), attributes (7): valid protobuf, but not one run of bytes.
  pbm::NumberDataPoint a, f, b;
  a.add_attributes()->set_key("a");
  f.set_flags(1);
  b.add_attributes()->set_key("b");
  const std::string point = a.SerializeAsString() + f.SerializeAsString() + b.SerializeAsString();
  pbm::NumberDataPoint parsed_point;
  ASSERT_TRUE(parsed_point.ParseFromString(point));
  ASSERT_EQ(parsed_point.attributes_size(), 2);
  std::string gauge = absl::StrCat("\x0a", std::string(1, static_cast<char>(point.size())), point);
  pbm::Metric m;
  m.set_name("g");
  std::string metric = m.SerializeAsString() +
                       absl::StrCat("\x2a", std::string(1, static_cast<char>(gauge.size())), gauge);
  std::string sm = absl::StrCat("\x12", std::string(1, static_cast<char>(metric.size())), metric);
  std::string rm = absl::StrCat("\x12", std::string(1, static_cast<char>(sm.size())), sm);
  std::string req = absl::StrCat("\x0a", std::string(1, static_cast<char>(rm.size())), rm);
  MetricsRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(req));
  ASSERT_EQ(parsed.resource_metrics(0)
                .scope_metrics(0)
                .metrics(0)
                .gauge()
                .data_points(0)
                .attributes_size(),
            2);
  Recorder r;
  EXPECT_EQ(Scan(req, &r), WireScan::kUnsupported);
}

TEST(WirePointsTest, MalformedBytesAreUnsupported) {
  const std::string bytes = TwoResources().SerializeAsString();
  for (size_t cut : {size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    Recorder r;
    EXPECT_EQ(Scan(bytes.substr(0, cut), &r), WireScan::kUnsupported) << cut;
  }
  Recorder r;
  EXPECT_EQ(Scan(std::string("\x0b", 1), &r), WireScan::kUnsupported);      // a group
  EXPECT_EQ(Scan(std::string("\x08\x01", 2), &r), WireScan::kUnsupported);  // varint field 1
  EXPECT_EQ(Scan("", &r), WireScan::kDone);
  EXPECT_TRUE(r.log.empty());
}

// Damaged or odd bytes: whenever the walk finishes and a parser accepts the same bytes, both
// must see the same request.
TEST(WirePointsTest, AgreesWithTheParserOnMutatedRequests) {
  const std::string good = TwoResources().SerializeAsString();
  const google::protobuf::LogSilencer quiet;  // parse failures are expected here
  std::mt19937_64 rng(42);
  int compared = 0, declined = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes.erase(at, 1 + rng() % 4);
          break;
        default:
          bytes.insert(at, 1, static_cast<char>(rng()));
          break;
      }
      if (bytes.empty()) bytes = good;
    }
    Recorder r;
    r.normalize = true;
    if (Scan(bytes, &r) != WireScan::kDone) {
      ++declined;
      continue;
    }
    MetricsRequest parsed;
    if (!parsed.ParseFromString(bytes)) continue;  // e.g. invalid UTF-8 the walk does not check
    ++compared;
    ASSERT_EQ(r.log, Expected(parsed, true)) << "mutation " << i;
  }
  EXPECT_GT(compared, 100);
  EXPECT_GT(declined, 100);
}

TEST(WirePointsTest, AVisitorCanStopTheWalk) {
  Recorder r;
  r.points_left = 1;
  EXPECT_EQ(Scan(TwoResources().SerializeAsString(), &r), WireScan::kStopped);
  EXPECT_EQ(r.log.back().rfind("point ", 0), 0u);
}

}  // namespace
}  // namespace observex::metrics
