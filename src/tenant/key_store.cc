#include "tenant/key_store.h"

#include <algorithm>
#include <list>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "tenant/key_crypto.h"

namespace observex::tenant {
namespace {

class CachingKeyStore final : public KeyStore {
 public:
  CachingKeyStore(ControlPlane* control_plane, KeyCacheOptions options)
      : control_plane_(control_plane),
        max_entries_(options.max_entries),
        poll_interval_(absl::Milliseconds(std::max(1, options.revocation_poll_ms))),
        max_concurrent_verifications_(std::max(1, options.max_concurrent_verifications)),
        sodium_(internal::EnsureSodium()) {
    poller_ = std::thread([this] { PollRevocations(); });
  }

  ~CachingKeyStore() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    poller_.join();
  }

  CachingKeyStore(const CachingKeyStore&) = delete;
  CachingKeyStore& operator=(const CachingKeyStore&) = delete;

  absl::StatusOr<AuthResult> Authenticate(std::string_view presented) override;
  KeyStoreStats stats() const override {
    absl::MutexLock lock(&mu_);
    KeyStoreStats s = stats_;
    s.cached_entries = lru_.size();
    return s;
  }

 private:
  struct Entry {
    std::string digest;
    AuthResult auth;
  };
  // One control-plane look-up and Argon2 run shared by every caller presenting the same key.
  struct Flight {
    bool done = false;
    absl::StatusOr<AuthResult> result = absl::UnknownError("pending");
  };

  absl::StatusOr<AuthResult> LookUpAndVerify(std::string_view presented, const std::string& digest);
  void InsertLocked(const std::string& digest, const AuthResult& auth)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PollRevocations();
  bool VerificationSlotFree() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return verifications_running_ < max_concurrent_verifications_;
  }

  ControlPlane* const control_plane_;
  const size_t max_entries_;
  const absl::Duration poll_interval_;
  const int max_concurrent_verifications_;
  const absl::Status sodium_;

  mutable absl::Mutex mu_;
  // Most recently used first; index_ points into it.
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  // Bounded by the number of concurrent callers.
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> in_flight_ ABSL_GUARDED_BY(mu_);
  int verifications_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool poll_failing_ ABSL_GUARDED_BY(mu_) = false;
  KeyStoreStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread poller_;  // started last in the constructor, joined in the destructor
};

absl::StatusOr<AuthResult> CachingKeyStore::Authenticate(std::string_view presented) {
  if (presented.empty() || !internal::LooksLikeApiKey(presented)) {
    absl::MutexLock lock(&mu_);
    ++stats_.malformed;
    if (presented.empty()) return absl::UnauthenticatedError("missing API key");
    return absl::UnauthenticatedError(
        absl::StrCat("malformed API key (", presented.size(), " bytes; expected \"",
                     std::string(internal::kKeyPrefix), "\" and ", internal::kKeyLength,
                     " characters of base64url)"));
  }
  if (!sodium_.ok()) return sodium_;
  const std::string digest = internal::LookupDigest(presented);

  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = index_.find(digest); it != index_.end()) {
      ++stats_.cache_hits;
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->auth;
    }
    ++stats_.cache_misses;
    auto [slot, leader] = in_flight_.try_emplace(digest);
    if (!leader) {
      // Same digest means the same key string, so the leader's answer is ours too.
      flight = slot->second;
      mu_.Await(absl::Condition(&flight->done));
      return flight->result;
    }
    slot->second = std::make_shared<Flight>();
    flight = slot->second;
  }

  absl::StatusOr<AuthResult> result = LookUpAndVerify(presented, digest);

  absl::MutexLock lock(&mu_);
  // A revocation polled while this look-up ran is caught by the next poll, which evicts by
  // key id from the full revoked list.
  if (result.ok()) InsertLocked(digest, *result);
  flight->result = result;
  flight->done = true;
  in_flight_.erase(digest);
  return result;
}

absl::StatusOr<AuthResult> CachingKeyStore::LookUpAndVerify(std::string_view presented,
                                                            const std::string& digest) {
  absl::StatusOr<ControlPlane::KeyRecord> record = control_plane_->FindKeyByDigest(digest);
  if (absl::IsNotFound(record.status())) {
    absl::MutexLock lock(&mu_);
    ++stats_.unknown;
    return absl::UnauthenticatedError("unknown API key");
  }
  if (!record.ok()) return record.status();
  if (record->info.revoked_at_unix.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("API key ", record->info.prefix, "... (id ", record->info.id, ") is revoked"));
  }

  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &CachingKeyStore::VerificationSlotFree));
    ++verifications_running_;
    ++stats_.argon2_verifications;
  }
  const bool match = internal::VerifyArgon2Fingerprint(record->argon2_fingerprint, presented);
  {
    absl::MutexLock lock(&mu_);
    --verifications_running_;
  }
  if (!match) {
    // Only a BLAKE2b collision or an edited database gets here.
    OBX_LOG_WARN("API key {}... (id {}) matched by digest but failed Argon2id verification",
                 record->info.prefix, record->info.id);
    return absl::UnauthenticatedError(absl::StrCat("API key ", record->info.prefix, "... (id ",
                                                   record->info.id, ") failed verification"));
  }
  AuthResult auth;
  auth.tenant_id = record->info.tenant_id;
  auth.tenant_name = record->info.tenant_name;
  auth.key_id = record->info.id;
  return auth;
}

void CachingKeyStore::InsertLocked(const std::string& digest, const AuthResult& auth) {
  if (max_entries_ == 0) return;
  if (auto it = index_.find(digest); it != index_.end()) {
    it->second->auth = auth;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{digest, auth});
  index_[digest] = lru_.begin();
  while (lru_.size() > max_entries_) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
}

void CachingKeyStore::PollRevocations() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), poll_interval_)) return;
    }
    absl::StatusOr<std::vector<int64_t>> revoked = control_plane_->RevokedKeyIds();

    absl::MutexLock lock(&mu_);
    if (!revoked.ok()) {
      // Fail closed: without fresh revocations the cache may hold revoked keys, so every
      // key goes back through the control plane until polling works again.
      ++stats_.revocation_poll_errors;
      lru_.clear();
      index_.clear();
      if (!poll_failing_) {
        OBX_LOG_WARN("API key revocation poll failed, key cache emptied: {}",
                     revoked.status().ToString());
      }
      poll_failing_ = true;
      continue;
    }
    if (poll_failing_) OBX_LOG_INFO("API key revocation poll recovered");
    poll_failing_ = false;
    ++stats_.revocation_polls;
    if (lru_.empty() || revoked->empty()) continue;
    const absl::flat_hash_set<int64_t> ids(revoked->begin(), revoked->end());
    for (auto it = lru_.begin(); it != lru_.end();) {
      if (ids.contains(it->auth.key_id)) {
        index_.erase(it->digest);
        it = lru_.erase(it);
        ++stats_.revoked_evictions;
      } else {
        ++it;
      }
    }
  }
}

}  // namespace

std::unique_ptr<KeyStore> NewCachingKeyStore(ControlPlane* control_plane, KeyCacheOptions options) {
  return std::make_unique<CachingKeyStore>(control_plane, options);
}

}  // namespace observex::tenant
