// Resolves a presented API key to exactly one tenant. The receivers depend only on the
// KeyStore interface; the SQLite-backed implementation verifies Argon2id once per key and
// then serves from a bounded cache, re-checking revocations at least every second so a
// revoked key stops working within 5 s. An unknown key is rejected after one digest
// look-up, without running Argon2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tenant/control_plane.h"

namespace observex::tenant {

struct AuthResult {
  int64_t tenant_id = 0;
  std::string tenant_name;
  int64_t key_id = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Unauthenticated (missing, malformed, unknown or revoked key) or Internal.
  virtual absl::StatusOr<AuthResult> Authenticate(std::string_view presented_key) = 0;
};

struct KeyCacheOptions {
  size_t max_entries = 10'000;          // verified keys kept
  int revocation_poll_ms = 1000;        // how often revocations are re-read
};

// Owns a background thread that polls revocations; joined in the destructor.
std::unique_ptr<KeyStore> NewCachingKeyStore(ControlPlane* control_plane,
                                             KeyCacheOptions options = {});

}  // namespace observex::tenant
