// Resolves a presented API key to exactly one tenant. The receivers depend only on the
// KeyStore interface; the control-plane-backed implementation verifies Argon2id once per key
// and then serves from a bounded LRU cache keyed by the key's BLAKE2b digest (the secret
// itself is never kept), re-reading revocations every revocation_poll_ms (default 1 s) so a
// revoked key stops working within 5 s, also when it was revoked by another process. A
// malformed key is rejected without any database work, an unknown key after one digest
// look-up and without running Argon2. Concurrent requests for one uncached key share one
// Argon2 run, and at most max_concurrent_verifications run at once (19 MiB each).
//
// Thread-safety: Authenticate and stats may be called from any number of threads.
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

struct KeyStoreStats {
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;  // well-formed keys looked up in the control plane
  uint64_t malformed = 0;     // rejected by format alone
  uint64_t unknown = 0;       // no key with that digest
  uint64_t argon2_verifications = 0;
  uint64_t revocation_polls = 0;        // successful polls
  uint64_t revocation_poll_errors = 0;  // each one empties the cache (fail closed)
  uint64_t revoked_evictions = 0;
  uint64_t cached_entries = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Unauthenticated (missing, malformed, unknown or revoked key); Unavailable or Internal
  // when the control plane cannot be read. Messages never contain the presented key.
  virtual absl::StatusOr<AuthResult> Authenticate(std::string_view presented_key) = 0;
  // Counters for metrics and tests; implementations that keep none return zeros.
  virtual KeyStoreStats stats() const { return {}; }
};

struct KeyCacheOptions {
  size_t max_entries = 10'000;           // verified keys kept; 0 disables the cache
  int revocation_poll_ms = 1000;         // how often revocations are re-read; keep <= 4000
  int max_concurrent_verifications = 4;  // Argon2 runs at once (memory bound)
};

// `control_plane` must outlive the store. Owns a background thread that polls revocations;
// the destructor wakes and joins it without waiting out the poll interval.
std::unique_ptr<KeyStore> NewCachingKeyStore(ControlPlane* control_plane,
                                             KeyCacheOptions options = {});

}  // namespace observex::tenant
