#include "api/auth.h"

#include "tenant/authorization.h"

namespace observex::api {

absl::StatusOr<std::string> PresentedKey(const http::Request& request) {
  return tenant::KeyFromAuthorization(request.Header("authorization"));
}

absl::StatusOr<tenant::AuthResult> Authenticate(const http::Request& request,
                                                tenant::KeyStore* keys) {
  absl::StatusOr<std::string> key = PresentedKey(request);
  if (!key.ok()) return key.status();
  return keys->Authenticate(*key);
}

}  // namespace observex::api
