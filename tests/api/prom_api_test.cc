// Every endpoint's JSON, compared byte for byte with what Prometheus answers (the examples of
// its HTTP API documentation where there is one), over a real server and client.
#include <gtest/gtest.h>

#include "prom_test_util.h"

namespace observex::api::testing {
namespace {

using query::Labels;

class PromApiShapeTest : public PromApiTest {
 protected:
  void SetUp() override {
    PromApiTest::SetUp();
    Start();
  }
};

TEST_F(PromApiShapeTest, InstantQueryVectorAsInTheDocumentation) {
  acme_->Put({{"__name__", "up"}, {"job", "prometheus"}, {"instance", "localhost:9090"}},
             kDocTimeMs - 5000, 1);
  acme_->Put({{"__name__", "up"}, {"job", "node"}, {"instance", "localhost:9100"}},
             kDocTimeMs - 5000, 0);
  Reply r = Get("/prom/api/v1/query?query=up&time=2015-07-01T20:10:51.781Z", acme_key_);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                    R"({"metric":{"__name__":"up","instance":"localhost:9090","job":"prometheus"},)"
                    R"("value":[1435781451.781,"1"]},)"
                    R"({"metric":{"__name__":"up","instance":"localhost:9100","job":"node"},)"
                    R"("value":[1435781451.781,"0"]}]}})");
}

TEST_F(PromApiShapeTest, RangeQueryMatrixAsInTheDocumentation) {
  const Labels prom{{"__name__", "up"}, {"job", "prometheus"}, {"instance", "localhost:9090"}};
  const Labels node{{"__name__", "up"}, {"job", "node"}, {"instance", "localhost:9091"}};
  acme_->Put(prom, 1435781429781, 1);
  acme_->Put(node, 1435781429781, 0);
  acme_->Put(node, 1435781450000, 1);
  const std::string expected =
      R"({"status":"success","data":{"resultType":"matrix","result":[)"
      R"({"metric":{"__name__":"up","instance":"localhost:9090","job":"prometheus"},)"
      R"("values":[[1435781430.781,"1"],[1435781445.781,"1"],[1435781460.781,"1"]]},)"
      R"({"metric":{"__name__":"up","instance":"localhost:9091","job":"node"},)"
      R"("values":[[1435781430.781,"0"],[1435781445.781,"0"],[1435781460.781,"1"]]}]}})";
  Reply get =
      Get("/prom/api/v1/query_range?query=up&start=2015-07-01T20:10:30.781Z"
          "&end=2015-07-01T20:11:00.781Z&step=15s",
          acme_key_);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, expected);
  // The same as a form POST (Grafana's default), with float seconds and a float step.
  Reply post = Post("/prom/api/v1/query_range",
                    "query=up&start=1435781430.781&end=1435781460.781&step=15", acme_key_);
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, expected);
}

TEST_F(PromApiShapeTest, PostFormBodyWinsOverUrlParameters) {
  Reply r = Send("POST", "/prom/api/v1/query?query=1&time=10", "Bearer " + acme_key_,
                 "query=2%2B3&time=20", "application/x-www-form-urlencoded; charset=UTF-8");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"scalar","result":[20,"5"]}})");
  // Another body type is not read as a form (Go ignores it too).
  Reply json = Send("POST", "/prom/api/v1/query?query=1&time=10", "Bearer " + acme_key_, "query=2",
                    "application/json");
  EXPECT_EQ(json.body, R"({"status":"success","data":{"resultType":"scalar","result":[10,"1"]}})");
}

TEST_F(PromApiShapeTest, ScalarStringAndSpecialFloats) {
  struct Case {
    std::string query;
    std::string result;
  };
  const std::vector<Case> cases = {
      {"1+1", R"("scalar","result":[1435781451.781,"2"])"},
      {"0.1+0.2", R"("scalar","result":[1435781451.781,"0.30000000000000004"])"},
      {"NaN", R"("scalar","result":[1435781451.781,"NaN"])"},
      {"Inf", R"("scalar","result":[1435781451.781,"+Inf"])"},
      {"-Inf", R"("scalar","result":[1435781451.781,"-Inf"])"},
      {"-1.5", R"("scalar","result":[1435781451.781,"-1.5"])"},
      // Scalars are written in plain decimal; vector samples switch to exponent form.
      {"1e-7", R"("scalar","result":[1435781451.781,"0.0000001"])"},
      {"0.000001", R"("scalar","result":[1435781451.781,"0.000001"])"},
      {"1e21", R"("scalar","result":[1435781451.781,"1000000000000000000000"])"},
      {"vector(1e-7)", R"("vector","result":[{"metric":{},"value":[1435781451.781,"1e-07"]}])"},
      {"vector(0.000001)",
       R"("vector","result":[{"metric":{},"value":[1435781451.781,"0.000001"]}])"},
      {"vector(1.5e21)", R"("vector","result":[{"metric":{},"value":[1435781451.781,"1.5e+21"]}])"},
      {"vector(-1e300)", R"("vector","result":[{"metric":{},"value":[1435781451.781,"-1e+300"]}])"},
      {"-0", R"("scalar","result":[1435781451.781,"-0"])"},
      {"123456789012345678", R"("scalar","result":[1435781451.781,"123456789012345680"])"},
      {"\"a<b>&\\\"c\\\"\"", R"("string","result":[1435781451.781,"a\u003cb\u003e\u0026\"c\""])"},
  };
  for (const Case& c : cases) {
    Reply r = Instant(c.query);
    EXPECT_EQ(r.status, 200) << c.query;
    EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":)" + c.result + "}}") << c.query;
  }
}

// As Prometheus does: vector and matrix times always carry three decimals once they have any,
// scalar and string times are Go's shortest float.
TEST_F(PromApiShapeTest, TimestampDigitsDifferBetweenScalarsAndVectors) {
  EXPECT_EQ(Get("/prom/api/v1/query?query=vector(1)&time=1.05", acme_key_).body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{},"value":[1.050,"1"]}]}})");
  EXPECT_EQ(Get("/prom/api/v1/query?query=vector(1)&time=-1.5", acme_key_).body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{},"value":[-1.500,"1"]}]}})");
  EXPECT_EQ(Get("/prom/api/v1/query?query=1&time=1.05", acme_key_).body,
            R"({"status":"success","data":{"resultType":"scalar","result":[1.05,"1"]}})");
  EXPECT_EQ(Get("/prom/api/v1/query?query=%22s%22&time=-1.5", acme_key_).body,
            R"({"status":"success","data":{"resultType":"string","result":[-1.5,"s"]}})");
  EXPECT_EQ(Get("/prom/api/v1/query?query=1&time=2015-07-01T22:10:51.7815%2B02:00", acme_key_).body,
            R"({"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"1"]}})");
}

// Label values escape as Prometheus escapes them (HTML characters, U+2028, control bytes).
TEST_F(PromApiShapeTest, LabelValuesAreEscapedLikePrometheus) {
  EXPECT_EQ(Instant(R"(label_replace(vector(1), "x", "<a&b>\u2028\"\\", "", ""))").body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"x":"\u003ca\u0026b\u003e\u2028\"\\"},"value":[1435781451.781,"1"]}]}})");
  EXPECT_EQ(Instant(R"(label_replace(vector(1), "x", "\x01\x08\t", "", ""))").body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"x":"\u0001\u0008\t"},"value":[1435781451.781,"1"]}]}})");
}

TEST_F(PromApiShapeTest, VectorValuesWithNaNAndInfinities) {
  acme_->Put({{"__name__", "v"}, {"k", "a"}}, kDocTimeMs - 1000, 1);
  Reply r = Instant("v / 0 or v - Inf or v * NaN");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                    R"({"metric":{"k":"a"},"value":[1435781451.781,"+Inf"]}]}})");
  Reply neg = Instant("-v / 0");
  EXPECT_EQ(neg.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                      R"({"metric":{"k":"a"},"value":[1435781451.781,"-Inf"]}]}})");
  Reply nan = Instant("v * NaN");
  EXPECT_EQ(nan.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                      R"({"metric":{"k":"a"},"value":[1435781451.781,"NaN"]}]}})");
}

TEST_F(PromApiShapeTest, InstantQueryOfARangeVectorIsAMatrix) {
  acme_->Put({{"__name__", "m"}}, 1435781400000, 1);
  acme_->Put({{"__name__", "m"}}, 1435781430500, 2);
  Reply r = Instant("m[1m]");
  EXPECT_EQ(r.body,
            R"({"status":"success","data":{"resultType":"matrix","result":[)"
            R"({"metric":{"__name__":"m"},"values":[[1435781400,"1"],[1435781430.500,"2"]]}]}})");
}

TEST_F(PromApiShapeTest, EmptyResultsAreEmptyArrays) {
  EXPECT_EQ(Instant("nothing_here").body,
            R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(Get("/prom/api/v1/query_range?query=nothing&start=0&end=60&step=15", acme_key_).body,
            R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  EXPECT_EQ(Get("/prom/api/v1/series?match[]=nothing", acme_key_).body,
            R"({"status":"success","data":[]})");
  EXPECT_EQ(Get("/prom/api/v1/labels", acme_key_).body, R"({"status":"success","data":[]})");
  EXPECT_EQ(Get("/prom/api/v1/label/job/values", acme_key_).body,
            R"({"status":"success","data":[]})");
  EXPECT_EQ(Get("/prom/api/v1/metadata", acme_key_).body, R"({"status":"success","data":{}})");
}

TEST_F(PromApiShapeTest, QueryLimitTruncatesWithAWarning) {
  for (const char* i : {"a", "b", "c"}) acme_->Put({{"__name__", "x"}, {"i", i}}, kDocTimeMs, 1);
  Reply r = Instant("sort_by_label(x, \"i\")", "&limit=2");
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                    R"({"metric":{"__name__":"x","i":"a"},"value":[1435781451.781,"1"]},)"
                    R"({"metric":{"__name__":"x","i":"b"},"value":[1435781451.781,"1"]}]},)"
                    R"("warnings":["results truncated due to limit"]})");
  // limit=0 is no limit; a limit at or above the size truncates nothing.
  EXPECT_EQ(Instant("x", "&limit=3").body.find("warnings"), std::string::npos);
  EXPECT_EQ(Instant("x", "&limit=0").body.find("warnings"), std::string::npos);
}

TEST_F(PromApiShapeTest, EngineAndStorageWarningsAndInfos) {
  acme_->Put({{"__name__", "requests"}}, kDocTimeMs - 30000, 1);
  acme_->Put({{"__name__", "requests"}}, kDocTimeMs - 15000, 2);
  acme_->AddWarning("part 3 is quarantined: results may be incomplete");
  Reply r = Instant("rate(requests[1m])");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"vector","result":[)"
                    R"({"metric":{},"value":[1435781451.781,"0.041666666666666664"]}]},)"
                    R"("warnings":["part 3 is quarantined: results may be incomplete"],)"
                    R"("infos":["PromQL info: metric might not be a counter, name does not end in )"
                    R"j(_total/_sum/_count/_bucket: \"requests\" (1:6)"]})j");
}

TEST_F(PromApiShapeTest, SeriesWithRepeatedMatchersMergedSortedAndLimited) {
  acme_->Put({{"__name__", "up"}, {"job", "prometheus"}, {"instance", "localhost:9090"}},
             kDocTimeMs, 1);
  acme_->Put({{"__name__", "up"}, {"job", "node"}, {"instance", "localhost:9091"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "process_start_time_seconds"},
              {"job", "prometheus"},
              {"instance", "localhost:9090"}},
             kDocTimeMs, 1);
  acme_->Put(
      {{"__name__", "process_start_time_seconds"}, {"job", "node"}, {"instance", "localhost:9091"}},
      kDocTimeMs, 1);
  const std::string expected =
      R"({"status":"success","data":[)"
      R"({"__name__":"process_start_time_seconds","instance":"localhost:9090","job":"prometheus"},)"
      R"({"__name__":"up","instance":"localhost:9090","job":"prometheus"},)"
      R"({"__name__":"up","instance":"localhost:9091","job":"node"}]})";
  const std::string q =
      "match[]=up&match[]=" + UrlEncode(R"(process_start_time_seconds{job="prometheus"})") +
      "&match[]=up";
  Reply get = Get("/prom/api/v1/series?" + q, acme_key_);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, expected);
  EXPECT_EQ(Post("/prom/api/v1/series", q, acme_key_).body, expected);
  // The time range applies.
  EXPECT_EQ(Get("/prom/api/v1/series?match[]=up&end=1435781000", acme_key_).body,
            R"({"status":"success","data":[]})");
  Reply limited = Get("/prom/api/v1/series?match[]=up&limit=1", acme_key_);
  EXPECT_EQ(limited.body, R"({"status":"success","data":[)"
                          R"({"__name__":"up","instance":"localhost:9090","job":"prometheus"}],)"
                          R"("warnings":["results truncated due to limit"]})");
}

TEST_F(PromApiShapeTest, LabelNamesAndValues) {
  acme_->Put({{"__name__", "up"}, {"job", "api"}, {"instance", "a"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "http_requests_total"}, {"job", "api"}, {"code", "200"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "http_requests_total"}, {"job", "web"}, {"code", "504"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "otel_metric"}, {"http.status_code", "404"}}, kDocTimeMs, 1);

  EXPECT_EQ(
      Get("/prom/api/v1/labels", acme_key_).body,
      R"({"status":"success","data":["__name__","code","http.status_code","instance","job"]})");
  EXPECT_EQ(Post("/prom/api/v1/labels", "match[]=up", acme_key_).body,
            R"({"status":"success","data":["__name__","instance","job"]})");
  EXPECT_EQ(Get("/prom/api/v1/labels?match[]=up&match[]=otel_metric", acme_key_).body,
            R"({"status":"success","data":["__name__","http.status_code","instance","job"]})");
  EXPECT_EQ(Get("/prom/api/v1/labels?limit=2", acme_key_).body,
            R"({"status":"success","data":["__name__","code"],)"
            R"("warnings":["results truncated due to limit"]})");

  EXPECT_EQ(Get("/prom/api/v1/label/code/values", acme_key_).body,
            R"({"status":"success","data":["200","504"]})");
  EXPECT_EQ(Get("/prom/api/v1/label/__name__/values", acme_key_).body,
            R"({"status":"success","data":["http_requests_total","otel_metric","up"]})");
  EXPECT_EQ(
      Get("/prom/api/v1/label/job/values?match[]=" + UrlEncode(R"({code="504"})"), acme_key_).body,
      R"({"status":"success","data":["web"]})");
  EXPECT_EQ(Get("/prom/api/v1/label/job/values?match[]=up&match[]=" +
                    UrlEncode(R"(http_requests_total{code="504"})"),
                acme_key_)
                .body,
            R"({"status":"success","data":["api","web"]})");
  // A dotted name through Prometheus's value-encoding escape, and percent-encoded.
  EXPECT_EQ(Get("/prom/api/v1/label/U__http_2e_status__code/values", acme_key_).body,
            R"({"status":"success","data":["404"]})");
  EXPECT_EQ(Get("/prom/api/v1/label/http.status%5Fcode/values", acme_key_).body,
            R"({"status":"success","data":["404"]})");
  EXPECT_EQ(Get("/prom/api/v1/label/job/values?limit=1", acme_key_).body,
            R"({"status":"success","data":["api"],"warnings":["results truncated due to limit"]})");
}

TEST_F(PromApiShapeTest, MetadataAsInTheDocumentation) {
  acme_->AddMetadata({"http_requests_total", "counter", "Number of HTTP requests", ""});
  acme_->AddMetadata({"http_requests_total", "counter", "Amount of HTTP requests", ""});
  acme_->AddMetadata({"cortex_ring_tokens", "gauge", "Number of tokens in the ring", ""});
  acme_->AddMetadata({"rpc_duration_seconds", "histogram", "RPC latency", "seconds"});
  EXPECT_EQ(
      Get("/prom/api/v1/metadata?limit=2", acme_key_).body,
      R"({"status":"success","data":{)"
      R"("cortex_ring_tokens":[{"type":"gauge","help":"Number of tokens in the ring","unit":""}],)"
      R"("http_requests_total":[{"type":"counter","help":"Number of HTTP requests","unit":""},)"
      R"({"type":"counter","help":"Amount of HTTP requests","unit":""}]}})");
  EXPECT_EQ(
      Get("/prom/api/v1/metadata?limit_per_metric=1&metric=http_requests_total", acme_key_).body,
      R"({"status":"success","data":{)"
      R"("http_requests_total":[{"type":"counter","help":"Number of HTTP requests","unit":""}]}})");
  EXPECT_EQ(
      Get("/prom/api/v1/metadata?metric=rpc_duration_seconds", acme_key_).body,
      R"({"status":"success","data":{)"
      R"("rpc_duration_seconds":[{"type":"histogram","help":"RPC latency","unit":"seconds"}]}})");
  EXPECT_EQ(Get("/prom/api/v1/metadata?limit=0", acme_key_).body,
            R"({"status":"success","data":{}})");
  EXPECT_EQ(Get("/prom/api/v1/metadata?limit=-1&metric=none", acme_key_).body,
            R"({"status":"success","data":{}})");
}

TEST_F(PromApiShapeTest, FormatQuery) {
  EXPECT_EQ(Get("/prom/api/v1/format_query?query=foo/bar", acme_key_).body,
            R"({"status":"success","data":"foo / bar"})");
  EXPECT_EQ(Post("/prom/api/v1/format_query",
                 "query=" + UrlEncode("sum(rate(x{a='b'}[5m]))by(job)"), acme_key_)
                .body,
            R"j({"status":"success","data":"sum by (job) (rate(x{a=\"b\"}[5m]))"})j");
}

TEST_F(PromApiShapeTest, BuildInfoAndTheEndpointsGrafanaProbes) {
  EXPECT_EQ(Get("/prom/api/v1/status/buildinfo", acme_key_).body,
            R"({"status":"success","data":{"version":"3.0.0","revision":"observex-0.1.0",)"
            R"("branch":"","buildUser":"","buildDate":"","goVersion":""}})");
  // Grafana's exemplar probe sends milliseconds as start/end.
  EXPECT_EQ(Get("/prom/api/v1/query_exemplars?query=test&start=1700000000000&end=1700001800000",
                acme_key_)
                .body,
            R"({"status":"success","data":[]})");
  EXPECT_EQ(Get("/prom/api/v1/rules", acme_key_).body,
            R"({"status":"success","data":{"groups":[]}})");
  EXPECT_EQ(Get("/prom/api/v1/alerts", acme_key_).body,
            R"({"status":"success","data":{"alerts":[]}})");
  EXPECT_EQ(Get("/prom/api/v1/status/config", acme_key_).body,
            R"({"status":"success","data":{"yaml":""}})");
  EXPECT_EQ(Get("/prom/api/v1/status/flags", acme_key_).body, R"({"status":"success","data":{}})");
  Reply runtime = Get("/prom/api/v1/status/runtimeinfo", acme_key_);
  EXPECT_EQ(runtime.status, 200);
  EXPECT_EQ(runtime.body.rfind(R"({"status":"success","data":{"startTime":")", 0), 0u)
      << runtime.body;
  EXPECT_NE(runtime.body.find(R"("reloadConfigSuccess":true)"), std::string::npos);
}

TEST_F(PromApiShapeTest, GrafanaHealthCheckQuery) {
  // Grafana's "Save & test": an instant query of 1+1 at t=4s, sent as a form POST.
  Reply r = Post("/prom/api/v1/query", "query=1%2B1&time=4", acme_key_);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"scalar","result":[4,"2"]}})");
}

TEST_F(PromApiShapeTest, DefaultTimeIsNowAndLookbackDeltaOverrides) {
  acme_->Put({{"__name__", "old"}}, kDocTimeMs - 10 * 60 * 1000, 7);
  // Default time is the handler's clock (the documentation's time here).
  EXPECT_EQ(Get("/prom/api/v1/query?query=old", acme_key_).body,
            R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(Get("/prom/api/v1/query?query=old&lookback_delta=15m", acme_key_).body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"__name__":"old"},"value":[1435781451.781,"7"]}]}})");
}

}  // namespace
}  // namespace observex::api::testing
