// The Prometheus wire format pieces, the form reader and the query pool on their own. Expected
// strings are what Prometheus (and Go's encoders, which it uses) produce for the same input.
#include "api/prom_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "api/form.h"
#include "api/prom_pretty.h"
#include "api/query_pool.h"
#include "query/promql/parser.h"

namespace observex::api {
namespace {

using prom::ErrorType;

TEST(PromCodecTest, SampleValues) {
  EXPECT_EQ(prom::FormatSampleValue(1), "1");
  EXPECT_EQ(prom::FormatSampleValue(-2.5), "-2.5");
  EXPECT_EQ(prom::FormatSampleValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(prom::FormatSampleValue(1e-6), "0.000001");
  EXPECT_EQ(prom::FormatSampleValue(9.99e-7), "9.99e-07");
  EXPECT_EQ(prom::FormatSampleValue(1e20), "100000000000000000000");
  EXPECT_EQ(prom::FormatSampleValue(1e21), "1e+21");
  EXPECT_EQ(prom::FormatSampleValue(-1.25e100), "-1.25e+100");
  EXPECT_EQ(prom::FormatSampleValue(0.0), "0");
  EXPECT_EQ(prom::FormatSampleValue(-0.0), "-0");
  EXPECT_EQ(prom::FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(prom::FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(prom::FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PromCodecTest, Timestamps) {
  auto ts = [](int64_t ms) {
    std::string s;
    prom::AppendTimestamp(&s, ms);
    return s;
  };
  EXPECT_EQ(ts(0), "0");
  EXPECT_EQ(ts(1), "0.001");
  EXPECT_EQ(ts(-1), "-0.001");
  EXPECT_EQ(ts(1500), "1.500");
  EXPECT_EQ(ts(1050), "1.050");
  EXPECT_EQ(ts(1435781451781), "1435781451.781");
  EXPECT_EQ(ts(1435781430000), "1435781430");
  EXPECT_EQ(ts(std::numeric_limits<int64_t>::min()), "-9223372036854775.808");
}

TEST(PromCodecTest, JsonStringsEscapeLikeGo) {
  auto js = [](std::string_view s) {
    std::string out;
    prom::AppendJsonString(&out, s);
    return out;
  };
  EXPECT_EQ(js("plain"), R"("plain")");
  EXPECT_EQ(js("q\"b\\"), R"("q\"b\\")");
  EXPECT_EQ(js("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(js(std::string("\x01\x08\x0c\x1f", 4)), R"("\u0001\u0008\u000c\u001f")");
  EXPECT_EQ(js(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(js("<a href='x'>&</a>"), R"("\u003ca href='x'\u003e\u0026\u003c/a\u003e")");
  EXPECT_EQ(js("\xe2\x80\xa8|\xe2\x80\xa9"), R"("\u2028|\u2029")");
  EXPECT_EQ(js("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  EXPECT_EQ(js("bad\xff\xc3"), R"("bad\ufffd\ufffd")");
}

TEST(PromCodecTest, WriterPlacesCommas) {
  prom::JsonWriter w;
  w.BeginObject().Key("a").BeginArray().Int(1).String("x").Bool(false).EndArray();
  w.Key("b").BeginObject().EndObject().Key("c").Raw("[]").Key("d").Point(1500, 2);
  w.Key("e").ScalarPoint(1500, 1e21).Key("f").StringPoint(-1500, "s").EndObject();
  EXPECT_EQ(w.str(), R"({"a":[1,"x",false],"b":{},"c":[],"d":[1.500,"2"],)"
                     R"("e":[1.5,"1000000000000000000000"],"f":[-1.5,"s"]})");
}

TEST(PromCodecTest, ParseTimestamp) {
  EXPECT_EQ(prom::ParseTimestamp("1435781451.781").value(), 1435781451781);
  EXPECT_EQ(prom::ParseTimestamp("1435781451.7815").value(), 1435781451782);  // rounded
  EXPECT_EQ(prom::ParseTimestamp("-1.5").value(), -1500);
  EXPECT_EQ(prom::ParseTimestamp("+5").value(), 5000);
  EXPECT_EQ(prom::ParseTimestamp("1e3").value(), 1000000);
  EXPECT_EQ(prom::ParseTimestamp(".5").value(), 500);
  EXPECT_EQ(prom::ParseTimestamp("5.").value(), 5000);
  EXPECT_EQ(prom::ParseTimestamp("2015-07-01T20:10:51.781Z").value(), 1435781451781);
  EXPECT_EQ(prom::ParseTimestamp("2015-07-01T20:10:51Z").value(), 1435781451000);
  EXPECT_EQ(prom::ParseTimestamp("2015-07-01T22:10:51.781999999+02:00").value(), 1435781451781);
  EXPECT_EQ(prom::ParseTimestamp("2015-07-01T18:40:51.7-01:30").value(), 1435781451700);
  EXPECT_EQ(prom::ParseTimestamp("1969-12-31T23:59:59Z").value(), -1000);
  EXPECT_EQ(prom::ParseTimestamp("2024-02-29T00:00:00Z").value(), 1709164800000);
  EXPECT_EQ(prom::ParseTimestamp("-292273086-05-16T16:47:06Z").value(), prom::kMinTimeMs);
  EXPECT_EQ(prom::ParseTimestamp("292277025-08-18T07:12:54.999999999Z").value(), prom::kMaxTimeMs);
  for (const char* bad :
       {"", "abc", "0x10", "1e", "Inf", "-inf", "NaN", "1e300", "2015-07-01 20:10:51Z",
        "2015-07-01T20:10:51", "2015-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2015-07-01T24:00:00Z", "2015-07-01T20:10:51.Z", "2015-07-01T20:10:51.1234567890Z",
        "2015-07-01T20:10:51+2:00", "2015-07-01T20:10:51Zjunk"}) {
    auto t = prom::ParseTimestamp(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().message(),
              std::string("cannot parse \"") + bad + "\" to a valid timestamp");
  }
}

TEST(PromCodecTest, ParseDuration) {
  EXPECT_EQ(prom::ParseDurationMs("15s").value(), 15000);
  EXPECT_EQ(prom::ParseDurationMs("1h30m").value(), 5400000);
  EXPECT_EQ(prom::ParseDurationMs("1d").value(), 86400000);
  EXPECT_EQ(prom::ParseDurationMs("0").value(), 0);
  EXPECT_EQ(prom::ParseDurationMs("15").value(), 15000);
  EXPECT_EQ(prom::ParseDurationMs("1.5").value(), 1500);
  EXPECT_EQ(prom::ParseDurationMs("0.0001").value(), 0);
  EXPECT_EQ(prom::ParseDurationMs("-5").value(), -5000);
  EXPECT_EQ(prom::ParseDurationMs("x").status().message(),
            "cannot parse \"x\" to a valid duration");
  EXPECT_EQ(prom::ParseDurationMs("5m1h").status().message(),
            "cannot parse \"5m1h\" to a valid duration");
  EXPECT_EQ(prom::ParseDurationMs("").status().message(), "cannot parse \"\" to a valid duration");
  EXPECT_EQ(prom::ParseDurationMs("1e300").status().message(),
            "cannot parse \"1e300\" to a valid duration. It overflows int64");
}

TEST(PromCodecTest, ParseLimit) {
  EXPECT_EQ(prom::ParseLimit("").value(), 0);
  EXPECT_EQ(prom::ParseLimit("0").value(), 0);
  EXPECT_EQ(prom::ParseLimit("40000").value(), 40000);
  EXPECT_EQ(prom::ParseLimit("+7").value(), 7);
  EXPECT_EQ(prom::ParseLimit("-0").value(), 0);
  EXPECT_EQ(prom::ParseLimit("abc").status().message(),
            "strconv.Atoi: parsing \"abc\": invalid syntax");
  EXPECT_EQ(prom::ParseLimit("1.5").status().message(),
            "strconv.Atoi: parsing \"1.5\": invalid syntax");
  EXPECT_EQ(prom::ParseLimit("99999999999999999999").status().message(),
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
  EXPECT_EQ(prom::ParseLimit("-3").status().message(), "limit must be non-negative");
}

TEST(PromCodecTest, UnescapeLabelName) {
  EXPECT_EQ(prom::UnescapeLabelName("job"), "job");
  EXPECT_EQ(prom::UnescapeLabelName("U__http_2e_status__code"), "http.status_code");
  EXPECT_EQ(prom::UnescapeLabelName("U__snow_2603_man"), "snow\xe2\x98\x83man");
  EXPECT_EQ(prom::UnescapeLabelName("U__a_1F600_"), "a\xf0\x9f\x98\x80");
  EXPECT_EQ(prom::UnescapeLabelName("U__"), "");
  // Malformed escapes leave the name as it was.
  for (const char* bad :
       {"U__a_", "U__a_zz_", "U__a_2e", "U__a_1234567_", "U__a_d800_", "U__a_110000_"}) {
    EXPECT_EQ(prom::UnescapeLabelName(bad), bad);
  }
}

TEST(PromCodecTest, ErrorTypesAndCodes) {
  struct Case {
    absl::StatusCode code;
    ErrorType type;
    std::string_view name;
    int http;
  };
  const std::vector<Case> cases = {
      {absl::StatusCode::kInvalidArgument, ErrorType::kExecution, "execution", 422},
      {absl::StatusCode::kUnimplemented, ErrorType::kExecution, "execution", 422},
      {absl::StatusCode::kResourceExhausted, ErrorType::kExecution, "execution", 422},
      {absl::StatusCode::kDeadlineExceeded, ErrorType::kTimeout, "timeout", 503},
      {absl::StatusCode::kCancelled, ErrorType::kCanceled, "canceled", 503},
      {absl::StatusCode::kUnavailable, ErrorType::kUnavailable, "unavailable", 503},
      {absl::StatusCode::kNotFound, ErrorType::kNotFound, "not_found", 404},
      {absl::StatusCode::kUnauthenticated, ErrorType::kUnauthorized, "unauthorized", 401},
      {absl::StatusCode::kInternal, ErrorType::kInternal, "internal", 500},
      {absl::StatusCode::kDataLoss, ErrorType::kInternal, "internal", 500},
  };
  for (const Case& c : cases) {
    const ErrorType t = prom::ErrorTypeFor(absl::Status(c.code, "x"));
    EXPECT_EQ(t, c.type) << static_cast<int>(c.code);
    EXPECT_EQ(prom::ErrorTypeName(t), c.name);
    EXPECT_EQ(prom::HttpStatusFor(t), c.http);
  }
  EXPECT_EQ(prom::HttpStatusFor(ErrorType::kBadData), 400);
  EXPECT_EQ(prom::ErrorBody(ErrorType::kBadData, "a \"b\" <c>"),
            R"({"status":"error","errorType":"bad_data","error":"a \"b\" \u003cc\u003e"})");
}

// Expected layouts are Prometheus's own format_query answers for the same queries.
TEST(PromPrettyTest, MatchesPrometheusLayout) {
  struct Case {
    std::string query;
    std::string pretty;
  };
  const std::vector<Case> cases = {
      {"foo/bar", "foo / bar"},
      {"sum(rate(x{a='b'}[5m]))by(job)", "sum by (job) (rate(x{a=\"b\"}[5m]))"},
      {R"(sum by (job) (rate(http_requests_total{job="api-server",handler="/api/v1/query",code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="api-server"}[5m])))",
       "  sum by (job) (rate(http_requests_total{code=~\"5..\",handler=\"/api/v1/query\","
       "job=\"api-server\"}[5m]))\n"
       "/\n"
       "  sum by (job) (rate(http_requests_total{job=\"api-server\"}[5m]))"},
      {R"(topk(5, sum without (instance, pod, container) (rate(container_cpu_usage_seconds_total{namespace="production", container!=""}[10m])) * on (namespace) group_left (team) kube_namespace_labels))",
       "topk(\n"
       "  5,\n"
       "    sum without (instance, pod, container) (\n"
       "      rate(container_cpu_usage_seconds_total{container!=\"\",namespace=\"production\"}"
       "[10m])\n"
       "    )\n"
       "  * on (namespace) group_left (team)\n"
       "    kube_namespace_labels\n"
       ")"},
      {R"(-sum(rate(some_really_long_metric_name_that_goes_on_and_on_total{label_one="value_one", label_two="value_two"}[5m])))",
       "-sum(\n"
       "  rate(\n"
       "    some_really_long_metric_name_that_goes_on_and_on_total{label_one=\"value_one\","
       "label_two=\"value_two\"}[5m]\n"
       "  )\n"
       ")"},
      {R"(max_over_time(sum by (job) (rate(some_really_long_metric_name_that_goes_on_and_on_total{label_one="value_one", label_two="value_two"}[5m]))[1h:5m] offset 1d))",
       "max_over_time(\n"
       "  sum by (job) (\n"
       "    rate(\n"
       "      some_really_long_metric_name_that_goes_on_and_on_total{label_one=\"value_one\","
       "label_two=\"value_two\"}[5m]\n"
       "    )\n"
       "  )[1h:5m] offset 1d\n"
       ")"},
      {R"((sum by (job) (rate(http_requests_total{job="api-server",handler="/api/v1/query",code=~"5.."}[5m])) > bool 0.5) or vector(0))",
       "  (\n"
       "      sum by (job) (rate(http_requests_total{code=~\"5..\",handler=\"/api/v1/query\","
       "job=\"api-server\"}[5m]))\n"
       "    > bool\n"
       "      0.5\n"
       "  )\n"
       "or\n"
       "  vector(0)"},
  };
  for (const Case& c : cases) {
    auto expr = query::promql::ParseExpr(c.query);
    ASSERT_TRUE(expr.ok()) << expr.status();
    EXPECT_EQ(prom::Prettify(**expr), c.pretty) << c.query;
  }
}

http::Request FormRequest(std::string method, std::string query, std::string body,
                          std::string content_type) {
  http::Request r;
  r.method = std::move(method);
  r.query = std::move(query);
  r.body = std::move(body);
  if (!content_type.empty()) r.headers.emplace_back("content-type", std::move(content_type));
  return r;
}

TEST(FormTest, BodyFirstThenUrlAsGoReadsThem) {
  auto form = Form::Parse(FormRequest("POST", "match[]=up&x=url",
                                      "x=a+b%2Bc&match[]=%7Bjob%3D%22a%22%7D&flag",
                                      "Application/X-WWW-Form-Urlencoded; charset=utf-8"));
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->Get("x"), "a b+c");
  EXPECT_THAT(form->All("match[]"), ::testing::ElementsAre("{job=\"a\"}", "up"));
  EXPECT_TRUE(form->Has("flag"));
  EXPECT_EQ(form->Get("flag"), "");
  EXPECT_FALSE(form->Has("missing"));
  EXPECT_EQ(form->Get("missing"), "");
}

TEST(FormTest, OtherBodiesAndMethodsAreNotForms) {
  auto json = Form::Parse(FormRequest("POST", "q=1", "q=2", "application/json"));
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(json->All("q"), ::testing::ElementsAre("1"));
  auto get = Form::Parse(FormRequest("GET", "q=1", "q=2", "application/x-www-form-urlencoded"));
  ASSERT_TRUE(get.ok());
  EXPECT_THAT(get->All("q"), ::testing::ElementsAre("1"));
}

TEST(FormTest, BadEscapesAreNamed) {
  EXPECT_EQ(Form::Parse(FormRequest("GET", "a=%zz", "", "")).status().message(),
            "invalid URL escape \"%zz\"");
  EXPECT_EQ(Form::Parse(FormRequest("GET", "a=1%2", "", "")).status().message(),
            "invalid URL escape \"%2\"");
  EXPECT_EQ(PercentDecode("a+b%2F").value(), "a+b/");
  EXPECT_FALSE(PercentDecode("%G0").ok());
}

TEST(QueryPoolTest, RunsJobsAndRefusesBeyondTheQueueBound) {
  QueryPool pool(1, 2);
  std::latch started(1);
  std::latch release(1);
  std::atomic<int> ran{0};
  QueryPool::Job blocker = [&](bool run) {
    EXPECT_TRUE(run);
    started.count_down();
    release.wait();
    ++ran;
  };
  ASSERT_TRUE(pool.TrySubmit(blocker));
  started.wait();
  for (int i = 0; i < 2; ++i) {
    QueryPool::Job job = [&](bool run) {
      EXPECT_TRUE(run);
      ++ran;
    };
    ASSERT_TRUE(pool.TrySubmit(job));
  }
  EXPECT_EQ(pool.queued(), 2u);
  bool refused_invoked = false;
  QueryPool::Job refused = [&](bool) { refused_invoked = true; };
  EXPECT_FALSE(pool.TrySubmit(refused));
  std::move(refused)(false);  // left untouched by the refusal: still callable
  EXPECT_TRUE(refused_invoked);
  release.count_down();
  while (ran.load() < 3) std::this_thread::yield();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 3);
}

TEST(QueryPoolTest, ShutdownHandsQueuedJobsRunFalseExactlyOnce) {
  QueryPool pool(1, 8);
  std::latch started(1);
  std::latch release(1);
  std::atomic<int> ran{0}, answered{0};
  QueryPool::Job blocker = [&](bool) {
    started.count_down();
    release.wait();
  };
  ASSERT_TRUE(pool.TrySubmit(blocker));
  started.wait();
  for (int i = 0; i < 5; ++i) {
    QueryPool::Job job = [&](bool run) { ++(run ? ran : answered); };
    ASSERT_TRUE(pool.TrySubmit(job));
  }
  std::thread stopper([&] { pool.Shutdown(); });
  while (!pool.stopping()) std::this_thread::yield();
  release.count_down();
  stopper.join();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(answered.load(), 5);
  QueryPool::Job late = [](bool) {};
  EXPECT_FALSE(pool.TrySubmit(late));
  pool.Shutdown();  // idempotent
}

}  // namespace
}  // namespace observex::api
