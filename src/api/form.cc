#include "api/form.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace observex::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Unescape(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        std::string bad(s.substr(i, 3));
        return absl::InvalidArgumentError("invalid URL escape \"" + bad + "\"");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool IsFormBody(const http::Request& request) {
  if (request.method != "POST" && request.method != "PUT" && request.method != "PATCH") {
    return false;
  }
  std::string_view type = request.Header("content-type");
  const size_t semi = type.find(';');
  if (semi != std::string_view::npos) type = type.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return absl::EqualsIgnoreCase(absl::string_view(type.data(), type.size()),
                                "application/x-www-form-urlencoded");
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(std::string_view s) { return Unescape(s, false); }

absl::Status Form::ParseQueryString(std::string_view query,
                                    std::vector<std::pair<std::string, std::string>>* out) {
  absl::Status first_error;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto k = Unescape(key, true);
    auto v = Unescape(value, true);
    if (!k.ok() || !v.ok()) {
      if (first_error.ok()) first_error = !k.ok() ? k.status() : v.status();
      continue;
    }
    out->emplace_back(*std::move(k), *std::move(v));
  }
  return first_error;
}

absl::StatusOr<Form> Form::Parse(const http::Request& request) {
  Form form;
  if (IsFormBody(request)) {
    if (absl::Status s = ParseQueryString(request.body, &form.pairs_); !s.ok()) return s;
  }
  if (absl::Status s = ParseQueryString(request.query, &form.pairs_); !s.ok()) return s;
  return form;
}

std::string_view Form::Get(std::string_view name) const {
  for (const auto& [k, v] : pairs_) {
    if (k == name) return v;
  }
  return {};
}

bool Form::Has(std::string_view name) const {
  for (const auto& [k, v] : pairs_) {
    if (k == name) return true;
  }
  return false;
}

std::vector<std::string> Form::All(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : pairs_) {
    if (k == name) out.push_back(v);
  }
  return out;
}

}  // namespace observex::api
