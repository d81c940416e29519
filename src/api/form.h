// Request parameters of the query APIs the way Go's net/http reads them, since the Prometheus
// and Loki APIs are specified in those terms: `application/x-www-form-urlencoded` pairs from
// the body of a POST/PUT/PATCH (when the Content-Type says so) come first, then the pairs of
// the URL's query string; `+` means a space; `Get` returns the first value of a name and
// `All` every value in that order (repeated parameters such as `match[]`). Other body types
// are ignored, as Go ignores them. Values are decoded bytes, not checked for UTF-8.
//
// Value type; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "http/http_server.h"

namespace observex::api {

class Form {
 public:
  // InvalidArgument naming the bad escape ("invalid URL escape \"%zz\"").
  static absl::StatusOr<Form> Parse(const http::Request& request);
  // Decodes one query string ("a=1&b=x+y").
  static absl::Status ParseQueryString(std::string_view query,
                                       std::vector<std::pair<std::string, std::string>>* out);

  // First value of `name`, or "" when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  std::vector<std::string> All(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// Percent-decoding of one URL component ('+' stays '+'); InvalidArgument on a bad escape.
absl::StatusOr<std::string> PercentDecode(std::string_view s);

}  // namespace observex::api
