// How a client presents its API key: the `Authorization` header of every HTTP endpoint (OTLP,
// remote write, query API) and the `authorization` metadata of OTLP/gRPC, parsed in one place
// so every endpoint accepts the same forms and answers a bad one with the same words:
//   - `Bearer <key>`, or a bare `<key>` without scheme (what OTLP exporters are configured
//     with), and
//   - `Basic base64(<user>:<key>)`: basic auth with the key as the password, for clients such
//     as Grafana's data sources and Prometheus' remote write that only do basic auth. The user
//     name is ignored; when the password is empty the user name is taken as the key.
// The key is only extracted here, not verified (KeyStore::Authenticate does that), and no
// error message ever contains what was presented.
//
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace observex::tenant {

// The key in an authorization header value. Unauthenticated, with a message that says how to
// send a key, when the value is empty, malformed or uses another scheme.
absl::StatusOr<std::string> KeyFromAuthorization(std::string_view header_value);

}  // namespace observex::tenant
