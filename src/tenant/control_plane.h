// The embedded control plane: tenants and API keys in one SQLite database under the data
// dir (`<data-dir>/control.db`). Keys are random secrets shown once at creation; the
// database holds only a BLAKE2b-256 look-up digest and an Argon2id fingerprint
// (libsodium crypto_pwhash_str_alg with Argon2id13 at OWASP's minimum: m=19456 KiB, t=2,
// p=1). Tenant names pass ValidateTenantName after full decoding and are never used to
// build a file path; storage directories use the numeric tenant id.
//
// The database file is created with mode 0600 and a numbered, idempotent schema migration
// (table schema_version); it runs in WAL mode with a busy timeout, so several processes may
// open it at once (the CLI while the server runs) and each sees the others' committed
// changes on its next call. Every statement is prepared once with bound parameters.
//
// Thread-safety: a ControlPlane serialises its own SQLite access and may be shared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::tenant {

struct Tenant {
  int64_t id = 0;
  std::string name;
  int64_t created_at_unix = 0;
};

struct ApiKeyInfo {
  int64_t id = 0;
  int64_t tenant_id = 0;
  std::string tenant_name;
  std::string prefix;  // first characters of the key, safe to show ("obx_AbC1")
  int64_t created_at_unix = 0;
  std::optional<int64_t> revoked_at_unix;
};

struct CreatedKey {
  ApiKeyInfo info;
  std::string secret;  // the whole key; exists only in this value, never stored
};

// Allow-list: 1-64 chars of [a-z0-9_-], starting with a letter or digit. Callers pass the
// fully decoded name; anything else ('.', '/', '\\', '%', NUL, uppercase, spaces, non-ASCII)
// is InvalidArgument with a message naming the rule.
absl::Status ValidateTenantName(std::string_view name);

class ControlPlane {
 public:
  // Opens or creates the database (and a missing parent directory), applying pending
  // migrations. FailedPrecondition when the file's schema is newer than this build knows;
  // Unavailable when another process holds the write lock past the busy timeout (5 s).
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Open(const std::filesystem::path& db_file);
  virtual ~ControlPlane() = default;

  // InvalidArgument for a bad name, AlreadyExists for a taken one.
  virtual absl::StatusOr<Tenant> CreateTenant(std::string_view name) = 0;
  // InvalidArgument for a bad name, NotFound for an unknown one.
  virtual absl::StatusOr<Tenant> GetTenant(std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<Tenant>> ListTenants() = 0;

  // Creates a key for an existing tenant (NotFound otherwise), or, if `create_tenant` is
  // set, for the tenant of that name, creating it when absent. The returned secret is the
  // only copy that will ever exist.
  virtual absl::StatusOr<CreatedKey> CreateKey(std::string_view tenant_name,
                                               bool create_tenant) = 0;
  // First-start bootstrap: when the database has no tenant at all, creates `tenant_name`
  // with one key and returns it; otherwise returns nullopt. Atomic across processes, so
  // two servers starting on one empty data dir print one key between them.
  virtual absl::StatusOr<std::optional<CreatedKey>> EnsureInitialTenant(
      std::string_view tenant_name) = 0;
  virtual absl::StatusOr<std::vector<ApiKeyInfo>> ListKeys() = 0;
  // NotFound for an unknown id; revoking twice is OK.
  virtual absl::Status RevokeKey(int64_t key_id) = 0;

  // Look-up by the key's 32-byte BLAKE2b-256 digest (InvalidArgument for another length);
  // NotFound when no key has it. Includes revoked keys (check revoked_at_unix).
  struct KeyRecord {
    ApiKeyInfo info;
    std::string argon2_fingerprint;
  };
  virtual absl::StatusOr<KeyRecord> FindKeyByDigest(std::string_view digest) = 0;
  // Ids of all revoked keys, ascending (for cache invalidation). A full list rather than a
  // delta, so a poller that misses one round still converges on the next.
  virtual absl::StatusOr<std::vector<int64_t>> RevokedKeyIds() = 0;
};

}  // namespace observex::tenant
