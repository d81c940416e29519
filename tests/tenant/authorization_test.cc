#include "tenant/authorization.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"

namespace observex::tenant {
namespace {

std::string Basic(const std::string& user_pass) { return "Basic " + absl::Base64Escape(user_pass); }

TEST(AuthorizationTest, BearerBasicAndBareKeys) {
  EXPECT_EQ(KeyFromAuthorization("Bearer obx_abc").value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization("bearer   obx_abc  ").value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization("BEARER\tobx_abc").value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization("obx_abc").value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization("  obx_abc ").value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization(Basic("grafana:obx_abc")).value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization(Basic("obx_abc:")).value(), "obx_abc");
  EXPECT_EQ(KeyFromAuthorization(Basic("user:pa:ss")).value(), "pa:ss");
  EXPECT_EQ(KeyFromAuthorization("basic " + absl::Base64Escape("u:k")).value(), "k");
}

TEST(AuthorizationTest, RejectionsSayHowToAuthenticateAndNeverEchoTheKey) {
  for (const std::string& missing : {std::string(), std::string("  \t ")}) {
    auto r = KeyFromAuthorization(missing);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_NE(r.status().message().find("missing API key"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("Authorization: Bearer <key>"), std::string::npos);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"Bearer ", "empty bearer token"},
      {"Basic !!!notbase64secret", "malformed basic authorization"},
      {"Basic " + absl::Base64Escape("no-colon-secret"), "malformed basic authorization"},
      {"Basic", "malformed basic authorization"},
      {Basic(":"), "empty basic authorization"},
      {"Digest secretvalue123", "unsupported authorization scheme 'Digest'"}};
  for (const auto& [value, why] : bad) {
    auto r = KeyFromAuthorization(value);
    ASSERT_FALSE(r.ok()) << value;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << value;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status();
    EXPECT_EQ(r.status().message().find("secret"), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace observex::tenant
