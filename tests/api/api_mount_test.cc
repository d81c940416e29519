#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "api/api.h"
#include "api/auth.h"

namespace observex::api {
namespace {

// Records which handler saw which path.
class NamedHandler : public http::Handler {
 public:
  explicit NamedHandler(std::string name) : name_(std::move(name)) {}
  void Handle(http::Request request, http::Responder respond) override {
    std::move(respond)(http::Response::Text(200, name_ + " " + request.path));
  }

 private:
  std::string name_;
};

http::Response Call(http::Handler& h, std::string method, std::string path) {
  http::Request r;
  r.method = std::move(method);
  r.path = path;
  r.target = path;
  std::optional<http::Response> out;
  h.Handle(std::move(r), [&out](http::Response resp) { out = std::move(resp); });
  EXPECT_TRUE(out.has_value()) << "handler did not answer synchronously";
  return out.value_or(http::Response{});
}

TEST(ApiMountTest, LongestPrefixWinsAndPathIsUnchanged) {
  ApiHandler api(std::make_shared<prometheus::Registry>(), nullptr);
  NamedHandler prom("prom"), prom_write("write"), loki("loki");
  api.Mount("/prom", &prom);
  api.Mount("/prom/api/v1/write", &prom_write);
  api.Mount("/loki/", &loki);  // trailing slash is ignored

  EXPECT_EQ(Call(api, "GET", "/prom/api/v1/query").body, "prom /prom/api/v1/query");
  EXPECT_EQ(Call(api, "POST", "/prom/api/v1/query").body, "prom /prom/api/v1/query");
  EXPECT_EQ(Call(api, "POST", "/prom/api/v1/write").body, "write /prom/api/v1/write");
  EXPECT_EQ(Call(api, "GET", "/prom").body, "prom /prom");
  EXPECT_EQ(Call(api, "GET", "/loki/api/v1/labels").body, "loki /loki/api/v1/labels");
}

TEST(ApiMountTest, PrefixStopsAtSegmentBoundaryAndOwnRoutesStay) {
  ApiHandler api(std::make_shared<prometheus::Registry>(), nullptr);
  NamedHandler prom("prom");
  api.Mount("/prom", &prom);
  EXPECT_EQ(Call(api, "GET", "/prometheus").status, 404);
  EXPECT_EQ(Call(api, "GET", "/healthz").body, "ok\n");
  EXPECT_EQ(Call(api, "POST", "/healthz").status, 405);
  EXPECT_EQ(Call(api, "GET", "/readyz").status, 503);
}

TEST(ApiMountTest, MountingAgainReplaces) {
  ApiHandler api(std::make_shared<prometheus::Registry>(), nullptr);
  NamedHandler a("a"), b("b");
  api.Mount("/prom", &a);
  api.Mount("/prom", &b);
  EXPECT_EQ(Call(api, "GET", "/prom/x").body, "b /prom/x");
}

http::Request WithAuthorization(std::string value) {
  http::Request r;
  r.headers.emplace_back("authorization", std::move(value));
  return r;
}

std::string Basic(const std::string& user_pass) { return "Basic " + absl::Base64Escape(user_pass); }

// The forms of the header are tested with tenant::KeyFromAuthorization; here, that the
// request's header is the one read.
TEST(AuthTest, PresentedKeyIsTheAuthorizationHeaders) {
  EXPECT_EQ(PresentedKey(WithAuthorization("Bearer obx_abc")).value(), "obx_abc");
  EXPECT_EQ(PresentedKey(WithAuthorization(Basic("grafana:obx_abc"))).value(), "obx_abc");
  http::Request other;
  other.headers.emplace_back("x-api-key", "obx_abc");
  auto missing = PresentedKey(other);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(missing.status().message().find("Authorization: Bearer <key>"), std::string::npos);
}

}  // namespace
}  // namespace observex::api
