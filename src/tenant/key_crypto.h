// Internal to src/tenant: the API key format and the libsodium primitives behind it.
// A key is "obx_" followed by 32 random bytes in unpadded base64url (47 characters). The
// look-up digest is BLAKE2b-256 of the whole key string; the fingerprint is an Argon2id
// crypto_pwhash_str string. All functions are thread-safe once EnsureSodium() succeeded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::tenant::internal {

inline constexpr std::string_view kKeyPrefix = "obx_";
inline constexpr size_t kKeyRandomBytes = 32;
// 4 + ceil(32 * 4 / 3) characters; fixed, so a length check rejects junk before any work.
inline constexpr size_t kKeyLength = 47;
// Characters of the key shown in listings: "obx_" plus 4 random characters (24 bits), enough
// to tell keys apart, far too few to matter for guessing.
inline constexpr size_t kShownPrefixLength = 8;
inline constexpr size_t kDigestBytes = 32;

// Argon2id cost, OWASP's minimum recommendation (m=19456 KiB, t=2, p=1; libsodium always
// uses one lane). Keys are 256-bit random, so Argon2 is defence in depth for a stolen
// database rather than the only barrier; the minimum keeps one verification in the tens of
// milliseconds.
inline constexpr unsigned long long kArgon2OpsLimit = 2;
inline constexpr size_t kArgon2MemLimitBytes = size_t{19456} * 1024;

// Runs sodium_init() once per process; later calls return the first result.
absl::Status EnsureSodium();

// A fresh random key in the format above.
std::string GenerateKey();

// True when `key` has the key's shape (prefix, length, base64url alphabet). Cheap, no I/O.
bool LooksLikeApiKey(std::string_view key);

// BLAKE2b-256 of the key string, as 32 raw bytes.
std::string LookupDigest(std::string_view key);

// Argon2id string ("$argon2id$v=19$m=19456,t=2,p=1$...") with a random salt.
absl::StatusOr<std::string> Argon2Fingerprint(std::string_view key);

// True when `key` matches `fingerprint`; false for a mismatch or an unparsable fingerprint.
bool VerifyArgon2Fingerprint(const std::string& fingerprint, std::string_view key);

}  // namespace observex::tenant::internal
