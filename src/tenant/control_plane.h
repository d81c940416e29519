// The embedded control plane: tenants and API keys in one SQLite database under the data
// dir (`<data-dir>/control.db`). Keys are random secrets shown once at creation; the
// database holds only a BLAKE2b-256 look-up digest and an Argon2id fingerprint
// (libsodium crypto_pwhash_str, at least OWASP's minimum: 19 MiB, 2 passes, 1 lane).
// Tenant names pass ValidateTenantName after full decoding and are never used to build a
// file path; storage directories use the numeric tenant id.
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

// Allow-list: 1-64 chars of [a-z0-9_-], starting with a letter or digit.
absl::Status ValidateTenantName(std::string_view name);

class ControlPlane {
 public:
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Open(const std::filesystem::path& db_file);
  virtual ~ControlPlane() = default;

  virtual absl::StatusOr<Tenant> CreateTenant(std::string_view name) = 0;
  virtual absl::StatusOr<Tenant> GetTenant(std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<Tenant>> ListTenants() = 0;

  // Creates a key for an existing tenant, or creates the tenant first if
  // `create_tenant` is set.
  virtual absl::StatusOr<CreatedKey> CreateKey(std::string_view tenant_name,
                                               bool create_tenant) = 0;
  virtual absl::StatusOr<std::vector<ApiKeyInfo>> ListKeys() = 0;
  // NotFound for an unknown id; revoking twice is OK.
  virtual absl::Status RevokeKey(int64_t key_id) = 0;

  // Look-up by the key's BLAKE2b digest; NotFound when no key has it. Includes revoked keys
  // (check revoked_at_unix).
  struct KeyRecord {
    ApiKeyInfo info;
    std::string argon2_fingerprint;
  };
  virtual absl::StatusOr<KeyRecord> FindKeyByDigest(std::string_view digest) = 0;
  // Ids of keys revoked at or after `since_unix` (for cache invalidation).
  virtual absl::StatusOr<std::vector<int64_t>> RevokedKeyIds() = 0;
};

}  // namespace observex::tenant
