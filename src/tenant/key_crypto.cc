#include "tenant/key_crypto.h"

#include <sodium.h>

#include <mutex>

namespace observex::tenant::internal {

absl::Status EnsureSodium() {
  static std::once_flag once;
  static int result = -1;
  std::call_once(once, [] { result = sodium_init(); });
  // sodium_init() returns 1 when already initialised by someone else in the process.
  if (result < 0) return absl::InternalError("libsodium initialisation failed (sodium_init)");
  return absl::OkStatus();
}

namespace {
constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
static_assert(kKeyPrefix.size() + sodium_base64_ENCODED_LEN(kKeyRandomBytes, kVariant) - 1 ==
              kKeyLength);
static_assert(kDigestBytes == crypto_generichash_BYTES);
static_assert(kArgon2OpsLimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN);
static_assert(kArgon2MemLimitBytes >= crypto_pwhash_argon2id_MEMLIMIT_MIN);
}  // namespace

std::string GenerateKey() {
  unsigned char random[kKeyRandomBytes];
  randombytes_buf(random, sizeof(random));
  char encoded[sodium_base64_ENCODED_LEN(kKeyRandomBytes, kVariant)];
  sodium_bin2base64(encoded, sizeof(encoded), random, sizeof(random), kVariant);
  sodium_memzero(random, sizeof(random));
  std::string key(kKeyPrefix);
  key += encoded;
  sodium_memzero(encoded, sizeof(encoded));
  return key;
}

bool LooksLikeApiKey(std::string_view key) {
  if (key.size() != kKeyLength || !key.starts_with(kKeyPrefix)) return false;
  for (char c : key.substr(kKeyPrefix.size())) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string LookupDigest(std::string_view key) {
  std::string digest(kDigestBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(digest.data()), digest.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr, 0);
  return digest;
}

absl::StatusOr<std::string> Argon2Fingerprint(std::string_view key) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, key.data(), key.size(), kArgon2OpsLimit, kArgon2MemLimitBytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError(
        "Argon2id fingerprint failed (crypto_pwhash_str_alg: out of memory?)");
  }
  return std::string(out);
}

bool VerifyArgon2Fingerprint(const std::string& fingerprint, std::string_view key) {
  return crypto_pwhash_str_verify(fingerprint.c_str(), key.data(), key.size()) == 0;
}

}  // namespace observex::tenant::internal
