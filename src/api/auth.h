// Authentication of query API requests: the API key presented in the `Authorization` header
// (the forms of tenant/authorization.h, the same the OTLP receivers accept) resolves to
// exactly one tenant through the KeyStore. Nothing here looks at query parameters or cookies,
// and no message ever contains the key.
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
