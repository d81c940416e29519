// Authentication of query API requests: the API key presented with a request resolves to
// exactly one tenant through the KeyStore, the same keys the OTLP receivers accept. Two forms
// are accepted in the `Authorization` header:
//   - `Bearer <key>` (a bare `<key>` without scheme too, as the OTLP receiver accepts), and
//   - `Basic base64(<user>:<key>)`: HTTP basic auth with the key as the password, for clients
//     such as Grafana's data sources that can only be configured with basic auth. The user
//     name is ignored; when the password is empty the user name is taken as the key.
// Nothing here looks at query parameters or cookies, and no message ever contains the key.
//
// Stateless; thread-safe as far as the KeyStore is.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "http/http_server.h"
#include "tenant/key_store.h"

namespace observex::api {

// The key presented by `request`, not yet verified. Unauthenticated (with a message that says
// how to send a key) when the header is missing, empty, malformed or uses another scheme.
absl::StatusOr<std::string> PresentedKey(const http::Request& request);

// PresentedKey, then KeyStore::Authenticate. Unauthenticated for a missing, malformed,
// unknown or revoked key; Unavailable or Internal when the control plane cannot be read.
absl::StatusOr<tenant::AuthResult> Authenticate(const http::Request& request,
                                                tenant::KeyStore* keys);

}  // namespace observex::api
