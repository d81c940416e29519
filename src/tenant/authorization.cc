#include "tenant/authorization.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace observex::tenant {
namespace {

constexpr char kHowTo[] =
    "send 'Authorization: Bearer <key>', or basic auth with the API key as the password";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True for "<scheme>" alone or followed by blanks (case-insensitive).
bool HasScheme(std::string_view value, std::string_view scheme) {
  return value.size() >= scheme.size() &&
         absl::EqualsIgnoreCase(absl::string_view(value.data(), scheme.size()),
                                absl::string_view(scheme.data(), scheme.size())) &&
         (value.size() == scheme.size() || value[scheme.size()] == ' ' ||
          value[scheme.size()] == '\t');
}

absl::StatusOr<std::string> KeyFromBasic(std::string_view credentials) {
  std::string decoded;
  if (credentials.empty() ||
      !absl::Base64Unescape(absl::string_view(credentials.data(), credentials.size()), &decoded) ||
      decoded.find(':') == std::string::npos) {
    return absl::UnauthenticatedError(
        "malformed basic authorization: credentials are not base64 of '<user>:<key>'");
  }
  const size_t colon = decoded.find(':');
  std::string password = decoded.substr(colon + 1);
  if (!password.empty()) return password;
  std::string user = decoded.substr(0, colon);
  if (!user.empty()) return user;
  return absl::UnauthenticatedError(absl::StrCat("empty basic authorization: ", kHowTo));
}

}  // namespace

absl::StatusOr<std::string> KeyFromAuthorization(std::string_view header_value) {
  const std::string_view value = Trim(header_value);
  if (value.empty()) return absl::UnauthenticatedError(absl::StrCat("missing API key: ", kHowTo));
  if (HasScheme(value, "bearer")) {
    const std::string_view key = Trim(value.substr(6));
    if (key.empty())
      return absl::UnauthenticatedError(absl::StrCat("empty bearer token: ", kHowTo));
    return std::string(key);
  }
  if (HasScheme(value, "basic")) return KeyFromBasic(Trim(value.substr(5)));
  if (const size_t blank = value.find_first_of(" \t"); blank != std::string_view::npos) {
    const std::string_view scheme = value.substr(0, std::min<size_t>(blank, 32));
    return absl::UnauthenticatedError(absl::StrCat("unsupported authorization scheme '",
                                                   absl::string_view(scheme.data(), scheme.size()),
                                                   "': ", kHowTo));
  }
  return std::string(value);
}

}  // namespace observex::tenant
