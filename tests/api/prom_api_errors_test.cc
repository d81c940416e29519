// Error types, HTTP codes and messages of the Prometheus API (the messages Prometheus itself
// gives where it has the same check), authentication, the worker pool's bound and shutdown,
// and tenant isolation through every endpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "prom_test_util.h"

namespace observex::api::testing {
namespace {

using ::testing::HasSubstr;

std::string ErrorJson(const std::string& type, const std::string& message) {
  return R"({"status":"error","errorType":")" + type + R"(","error":")" + message + R"("})";
}

class PromApiErrorTest : public PromApiTest {};

TEST_F(PromApiErrorTest, ParameterAndParseErrorsAreBadData400) {
  Start();
  struct Case {
    std::string target;
    std::string message;  // JSON-escaped
  };
  const std::vector<Case> cases = {
      {"/prom/api/v1/query",
       R"(invalid parameter \"query\": unknown position: parse error: no expression found in input)"},
      {"/prom/api/v1/query?query=foo(",
       R"(invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis)"},
      {"/prom/api/v1/query?query=1&time=abc",
       R"(invalid parameter \"time\": invalid time value for 'time': cannot parse \"abc\" to a valid timestamp)"},
      {"/prom/api/v1/query?query=1&limit=abc",
       R"(invalid parameter \"limit\": strconv.Atoi: parsing \"abc\": invalid syntax)"},
      {"/prom/api/v1/query?query=1&limit=-1",
       R"(invalid parameter \"limit\": limit must be non-negative)"},
      {"/prom/api/v1/query?query=1&timeout=x",
       R"(invalid parameter \"timeout\": cannot parse \"x\" to a valid duration)"},
      {"/prom/api/v1/query?query=1&lookback_delta=x",
       R"(error parsing lookback delta duration: cannot parse \"x\" to a valid duration)"},
      {"/prom/api/v1/query_range?query=1",
       R"(invalid parameter \"start\": cannot parse \"\" to a valid timestamp)"},
      {"/prom/api/v1/query_range?query=1&start=0",
       R"(invalid parameter \"end\": cannot parse \"\" to a valid timestamp)"},
      {"/prom/api/v1/query_range?query=1&start=0&end=10&step=x",
       R"(invalid parameter \"step\": cannot parse \"x\" to a valid duration)"},
      {"/prom/api/v1/query_range?query=1&start=10&end=0&step=1",
       R"(invalid parameter \"end\": end timestamp must not be before start time)"},
      {"/prom/api/v1/query_range?query=1&start=0&end=10&step=0",
       R"(invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer)"},
      {"/prom/api/v1/query_range?query=1&start=0&end=100000&step=1",
       R"(exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX))"},
      {"/prom/api/v1/query_range?query=x%5B5m%5D&start=0&end=10&step=1",
       R"(invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector)"},
      {"/prom/api/v1/series", R"(no match[] parameter provided)"},
      {"/prom/api/v1/series?match[]=foo%7B",
       R"(invalid parameter \"match[]\": 1:5: parse error: unexpected end of input inside braces)"},
      {"/prom/api/v1/series?match[]=%7Ba%3D%22%22%7D",
       R"(invalid parameter \"match[]\": match[] must contain at least one non-empty matcher)"},
      {"/prom/api/v1/series?match[]=up&start=abc",
       R"(invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp)"},
      {"/prom/api/v1/labels?match[]=foo%7B",
       R"(1:5: parse error: unexpected end of input inside braces)"},
      {"/prom/api/v1/label/%FF/values", R"(invalid label name: \"\\xff\")"},
      {"/prom/api/v1/metadata?limit=x", R"(limit must be a number)"},
      {"/prom/api/v1/metadata?limit_per_metric=x", R"(limit_per_metric must be a number)"},
      {"/prom/api/v1/query_exemplars?query=x(", R"(1:3: parse error: unclosed left parenthesis)"},
      {"/prom/api/v1/query_exemplars?query=x&start=10&end=5",
       R"(end timestamp must not be before start timestamp)"},
      {"/prom/api/v1/format_query?query=x(",
       R"(invalid parameter \"query\": 1:3: parse error: unclosed left parenthesis)"},
      {"/prom/api/v1/query?query=%zz", R"(error parsing form values: invalid URL escape \"%zz\")"},
  };
  for (const Case& c : cases) {
    Reply r = Get(c.target, acme_key_);
    EXPECT_EQ(r.status, 400) << c.target;
    EXPECT_EQ(r.content_type, "application/json") << c.target;
    EXPECT_EQ(r.body, ErrorJson("bad_data", c.message)) << c.target;
  }
}

TEST_F(PromApiErrorTest, ExecutionErrorsAre422) {
  Start();
  acme_->Put({{"__name__", "a"}, {"x", "1"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "a"}, {"x", "2"}}, kDocTimeMs, 1);
  acme_->Put({{"__name__", "b"}}, kDocTimeMs, 1);
  Reply many = Instant("b + on() a");
  EXPECT_EQ(many.status, 422);
  EXPECT_THAT(many.body, HasSubstr(R"("errorType":"execution")"));
  EXPECT_THAT(many.body, HasSubstr("many-to-many matching not allowed"));

  // Unsupported features fail loud, naming the feature, rather than answering differently.
  Reply unsupported = Instant("limitk(1, a)");
  EXPECT_EQ(unsupported.status, 422);
  EXPECT_THAT(unsupported.body, HasSubstr(R"("errorType":"execution")"));
  EXPECT_THAT(unsupported.body, HasSubstr("limitk"));
  EXPECT_THAT(unsupported.body, HasSubstr("not supported"));
}

TEST_F(PromApiErrorTest, SampleLimitIsExecution422InPrometheusWords) {
  PromApiOptions options = DefaultOptions();
  options.engine.max_samples = 2;
  Start(options);
  for (const char* i : {"1", "2", "3"}) acme_->Put({{"__name__", "m"}, {"i", i}}, kDocTimeMs, 1);
  Reply r = Instant("m");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, ErrorJson("execution",
                              "query processing would load too many samples into memory in query "
                              "execution"));
  Reply ok = Instant("m{i=\"1\"}");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(PromApiErrorTest, TimeoutIs503) {
  auto slow = std::make_shared<SlowSource>();
  ASSERT_TRUE(slow->Add({{"__name__", "m"}}, kDocTimeMs, 1).ok());
  std::string key;
  AddTenant("slow", slow, &key);
  Start();
  // Select takes 50 ms; the request allows 1 ms.
  Reply r = Get("/prom/api/v1/query?query=sum(m)%2Bsum(m)&time=1435781451.781&timeout=0.001", key);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, ErrorJson("timeout", "query timed out in expression evaluation"));
  // Without the request's timeout the engine's default (2 minutes) applies.
  EXPECT_EQ(Get("/prom/api/v1/query?query=sum(m)&time=1435781451.781", key).status, 200);
}

TEST_F(PromApiErrorTest, StorageFailureIsInternal500) {
  std::string key;
  AddTenant("broken", std::make_shared<BrokenSource>(), &key);
  Start();
  Reply r = Get("/prom/api/v1/query?query=up", key);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, ErrorJson("internal", "part 7 of tenant broken: checksum mismatch"));
  Reply series = Get("/prom/api/v1/series?match[]=up", key);
  EXPECT_EQ(series.status, 500);
  EXPECT_THAT(series.body, HasSubstr(R"("errorType":"internal")"));
}

TEST_F(PromApiErrorTest, MissingSourceIsUnavailable503) {
  std::string key;
  AddTenant("nostore", nullptr, &key);
  Start();
  Reply r = Get("/prom/api/v1/query?query=up", key);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            ErrorJson("unavailable", "the data of tenant nostore cannot be read right now"));
  // Endpoints that read no data still answer.
  EXPECT_EQ(Get("/prom/api/v1/status/buildinfo", key).status, 200);
}

TEST_F(PromApiErrorTest, UnknownPathsAre404JsonAndOtherMethods405) {
  Start();
  for (const std::string path : {"/prom/api/v1/nope", "/prom/api/v2/query", "/prom",
                                 "/prom/api/v1/label//values", "/prom/api/v1/label/a/b/values"}) {
    Reply r = Get(path, acme_key_);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body, ErrorJson("not_found", "unknown API endpoint " + path)) << path;
  }
  Reply put = Send("PUT", "/prom/api/v1/query?query=1", "Bearer " + acme_key_);
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.allow, "GET, POST, OPTIONS");
  EXPECT_EQ(put.body,
            ErrorJson("bad_data", "method PUT not allowed on /prom/api/v1/query: use GET or POST"));
  Reply options = Send("OPTIONS", "/prom/api/v1/query", "");
  EXPECT_EQ(options.status, 204);
}

TEST_F(PromApiErrorTest, AuthenticationIsRequired) {
  Start();
  Reply none = Send("GET", "/prom/api/v1/query?query=1", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.www_authenticate, "Bearer realm=\"observex\"");
  EXPECT_THAT(
      none.body,
      HasSubstr(R"({"status":"error","errorType":"unauthorized","error":"missing API key)"));

  Reply wrong = Send("GET", "/prom/api/v1/query?query=1", "Bearer obx_not_a_real_key_at_all");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.body, HasSubstr(R"("errorType":"unauthorized")"));
  EXPECT_THAT(wrong.body, ::testing::Not(HasSubstr("obx_not_a_real_key_at_all")));

  Reply bad_basic = Send("GET", "/prom/api/v1/labels", "Basic !!!");
  EXPECT_EQ(bad_basic.status, 401);

  // Grafana's basic auth: any user name, the key as password.
  Reply basic = Send("GET", "/prom/api/v1/query?query=1&time=1",
                     "Basic " + absl::Base64Escape("grafana:" + acme_key_));
  EXPECT_EQ(basic.status, 200);
  EXPECT_EQ(basic.body, R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"]}})");

  // A revoked key stops working.
  auto keys = control_plane_->ListKeys();
  ASSERT_TRUE(keys.ok());
  for (const auto& k : *keys) {
    if (k.tenant_name == "beta") {
      ASSERT_TRUE(control_plane_->RevokeKey(k.id).ok());
    }
  }
  Reply revoked;
  for (int i = 0; i < 500; ++i) {  // revocations are polled once a second
    revoked = Get("/prom/api/v1/query?query=1", beta_key_);
    if (revoked.status == 401) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(revoked.status, 401);
}

TEST_F(PromApiErrorTest, FullQueueIsRefusedWith503AndRetryAfter) {
  auto blocked = std::make_shared<BlockingSource>();
  ASSERT_TRUE(blocked->Add({{"__name__", "m"}}, kDocTimeMs, 1).ok());
  std::string key;
  AddTenant("blocked", blocked, &key);
  PromApiOptions options = DefaultOptions();
  options.query_threads = 1;
  options.max_queued_requests = 1;
  Start(options);
  const std::string target = "/prom/api/v1/query?query=m&time=1435781451.781";
  Reply running, waiting;
  std::thread a([&] { running = Get(target, key); });
  blocked->WaitEntered(1);
  std::thread b([&] { waiting = Get(target, key); });
  while (handler_->queued_requests() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  Reply refused = Get(target, key);
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.retry_after, "1");
  EXPECT_EQ(refused.body, ErrorJson("unavailable", "too many queries waiting (1); retry later"));

  blocked->Release();
  a.join();
  b.join();
  EXPECT_EQ(running.status, 200) << running.body;
  EXPECT_EQ(waiting.status, 200) << waiting.body;
}

TEST_F(PromApiErrorTest, ShutdownCancelsRunningQueries) {
  auto blocked = std::make_shared<BlockingSource>();
  ASSERT_TRUE(blocked->Add({{"__name__", "m"}}, kDocTimeMs, 1).ok());
  std::string key;
  AddTenant("blocked", blocked, &key);
  Start();
  Reply running;
  std::thread a([&] { running = Get("/prom/api/v1/query?query=m&time=1435781451.781", key); });
  blocked->WaitEntered(1);
  std::thread stopper([&] { handler_->Shutdown(); });
  // Once shutdown has begun, new requests are refused.
  Reply late;
  do {
    late = Get("/prom/api/v1/status/buildinfo", key);
  } while (late.status == 200);
  EXPECT_EQ(late.status, 503);
  EXPECT_EQ(late.body, ErrorJson("unavailable", "the server is shutting down"));
  blocked->Release();
  a.join();
  stopper.join();
  EXPECT_EQ(running.status, 503);
  EXPECT_EQ(running.body, ErrorJson("canceled", "query canceled: the server is shutting down"));
}

TEST_F(PromApiErrorTest, ServerEarlyAnswersUseTheErrorShape) {
  Start();
  http::Response r = handler_->ErrorResponse("", 413, "request body exceeds the limit", 0);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, ErrorJson("bad_data", "request body exceeds the limit"));
  http::Response busy = handler_->ErrorResponse("", 429, "busy", 2);
  EXPECT_EQ(busy.body, ErrorJson("unavailable", "busy"));
  ASSERT_EQ(busy.headers.size(), 2u);
  EXPECT_EQ(busy.headers[1].second, "2");
}

// Tenant B never sees a byte of tenant A, through any endpoint.
TEST_F(PromApiErrorTest, TenantIsolationThroughEveryEndpoint) {
  Start();
  acme_->Put({{"__name__", "secret_a"}, {"team", "alpha"}}, kDocTimeMs - 1000, 42);
  acme_->AddMetadata({"secret_a", "gauge", "Alpha's secret", ""});
  acme_->AddWarning("alpha storage warning");
  beta_->Put({{"__name__", "public_b"}, {"env", "prod"}}, kDocTimeMs - 1000, 7);
  beta_->AddMetadata({"public_b", "counter", "Beta's counter", ""});

  const std::string everything = UrlEncode(R"({__name__=~".+"})");
  struct Probe {
    std::string target;
    std::string beta_expected;
  };
  const std::vector<Probe> probes = {
      {"/prom/api/v1/query?query=secret_a&time=1435781451.781",
       R"({"status":"success","data":{"resultType":"vector","result":[]}})"},
      {"/prom/api/v1/query?time=1435781451.781&query=" + everything,
       R"({"status":"success","data":{"resultType":"vector","result":[)"
       R"({"metric":{"__name__":"public_b","env":"prod"},"value":[1435781451.781,"7"]}]}})"},
      {"/prom/api/v1/query?time=1435781451.781&query=" + UrlEncode("count(secret_a) or vector(0)"),
       R"({"status":"success","data":{"resultType":"vector","result":[)"
       R"({"metric":{},"value":[1435781451.781,"0"]}]}})"},
      {"/prom/api/v1/query_range?start=1435781400&end=1435781460&step=60&query=" + everything,
       R"({"status":"success","data":{"resultType":"matrix","result":[)"
       R"({"metric":{"__name__":"public_b","env":"prod"},"values":[[1435781460,"7"]]}]}})"},
      {"/prom/api/v1/query_range?start=1435781400&end=1435781460&step=60&query=secret_a",
       R"({"status":"success","data":{"resultType":"matrix","result":[]}})"},
      {"/prom/api/v1/series?match[]=" + everything,
       R"({"status":"success","data":[{"__name__":"public_b","env":"prod"}]})"},
      {"/prom/api/v1/series?match[]=secret_a", R"({"status":"success","data":[]})"},
      {"/prom/api/v1/labels", R"({"status":"success","data":["__name__","env"]})"},
      {"/prom/api/v1/labels?match[]=secret_a", R"({"status":"success","data":[]})"},
      {"/prom/api/v1/label/__name__/values", R"({"status":"success","data":["public_b"]})"},
      {"/prom/api/v1/label/team/values", R"({"status":"success","data":[]})"},
      {"/prom/api/v1/metadata",
       R"({"status":"success","data":{"public_b":[{"type":"counter","help":"Beta's counter","unit":""}]}})"},
      {"/prom/api/v1/metadata?metric=secret_a", R"({"status":"success","data":{}})"},
  };
  for (const Probe& p : probes) {
    Reply beta = Get(p.target, beta_key_);
    EXPECT_EQ(beta.status, 200) << p.target;
    EXPECT_EQ(beta.body, p.beta_expected) << p.target;
    EXPECT_EQ(beta.body.find("secret"), std::string::npos) << p.target;
    EXPECT_EQ(beta.body.find("alpha"), std::string::npos) << p.target;
  }
  // The same requests as acme do see acme's data (so the probes above can fail).
  EXPECT_THAT(Get(probes[0].target, acme_key_).body, HasSubstr(R"("value":[1435781451.781,"42"])"));
  EXPECT_THAT(Get(probes[5].target, acme_key_).body, HasSubstr("secret_a"));
  EXPECT_THAT(Get(probes[7].target, acme_key_).body, HasSubstr("team"));
  EXPECT_THAT(Get(probes[9].target, acme_key_).body, HasSubstr("secret_a"));
  EXPECT_THAT(Get(probes[11].target, acme_key_).body, HasSubstr("Alpha's secret"));
  EXPECT_THAT(Get(probes[7].target, acme_key_).body, HasSubstr("alpha storage warning"));
}

}  // namespace
}  // namespace observex::api::testing
