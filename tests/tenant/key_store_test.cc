#include "tenant/key_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "testing/temp_dir.h"
#include "tenant/control_plane.h"
#include "tenant/key_crypto.h"

namespace observex::tenant {
namespace {

using ::observex::testing::TempDir;
using ::testing::HasSubstr;

// Forwards to a real control plane and counts digest look-ups, to show which paths touch
// the database at all.
class CountingControlPlane final : public ControlPlane {
 public:
  explicit CountingControlPlane(ControlPlane* inner) : inner_(inner) {}
  absl::StatusOr<Tenant> CreateTenant(std::string_view name) override {
    return inner_->CreateTenant(name);
  }
  absl::StatusOr<Tenant> GetTenant(std::string_view name) override {
    return inner_->GetTenant(name);
  }
  absl::StatusOr<std::vector<Tenant>> ListTenants() override { return inner_->ListTenants(); }
  absl::StatusOr<CreatedKey> CreateKey(std::string_view tenant_name, bool create) override {
    return inner_->CreateKey(tenant_name, create);
  }
  absl::StatusOr<std::optional<CreatedKey>> EnsureInitialTenant(std::string_view name) override {
    return inner_->EnsureInitialTenant(name);
  }
  absl::StatusOr<std::vector<ApiKeyInfo>> ListKeys() override { return inner_->ListKeys(); }
  absl::Status RevokeKey(int64_t key_id) override { return inner_->RevokeKey(key_id); }
  absl::StatusOr<KeyRecord> FindKeyByDigest(std::string_view digest) override {
    ++digest_lookups;
    return inner_->FindKeyByDigest(digest);
  }
  absl::StatusOr<std::vector<int64_t>> RevokedKeyIds() override {
    if (fail_polls) return absl::UnavailableError("injected poll failure");
    return inner_->RevokedKeyIds();
  }

  std::atomic<int> digest_lookups{0};
  std::atomic<bool> fail_polls{false};

 private:
  ControlPlane* inner_;
};

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(file());
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = *std::move(cp);
    counting_ = std::make_unique<CountingControlPlane>(cp_.get());
  }

  std::filesystem::path file() const { return dir_.path() / "control.db"; }

  CreatedKey NewKey(std::string_view tenant) {
    absl::StatusOr<CreatedKey> key = cp_->CreateKey(tenant, /*create_tenant=*/true);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *std::move(key) : CreatedKey{};
  }

  // Authenticates until the key is rejected or five seconds pass; returns the first
  // rejection, or OK if the key kept working for the whole time.
  static absl::Status WaitUntilRejected(KeyStore& store, const std::string& secret) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<AuthResult> r = store.Authenticate(secret);
      if (!r.ok()) return r.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::OkStatus();
  }

  TempDir dir_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<CountingControlPlane> counting_;
};

TEST_F(KeyStoreTest, AuthenticatesToTheRightTenantAndCaches) {
  CreatedKey acme = NewKey("acme");
  CreatedKey beta = NewKey("beta");
  auto store = NewCachingKeyStore(counting_.get());

  absl::StatusOr<AuthResult> a = store->Authenticate(acme.secret);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->tenant_id, acme.info.tenant_id);
  EXPECT_EQ(a->tenant_name, "acme");
  EXPECT_EQ(a->key_id, acme.info.id);
  absl::StatusOr<AuthResult> b = store->Authenticate(beta.secret);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->tenant_name, "beta");
  EXPECT_NE(b->tenant_id, a->tenant_id);
  EXPECT_EQ(store->stats().argon2_verifications, 2u);

  // Served from the cache: no look-up, no Argon2.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<AuthResult> again = store->Authenticate(acme.secret);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->tenant_name, "acme");
  }
  KeyStoreStats s = store->stats();
  EXPECT_EQ(s.argon2_verifications, 2u);
  EXPECT_EQ(s.cache_hits, 3u);
  EXPECT_EQ(s.cached_entries, 2u);
  EXPECT_EQ(counting_->digest_lookups.load(), 2);
}

TEST_F(KeyStoreTest, UnknownKeyIsRejectedWithoutArgon2) {
  NewKey("acme");
  auto store = NewCachingKeyStore(counting_.get());
  const std::string stranger = internal::GenerateKey();
  absl::StatusOr<AuthResult> r = store->Authenticate(stranger);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown API key"));
  EXPECT_THAT(std::string(r.status().message()), ::testing::Not(HasSubstr(stranger)));
  KeyStoreStats s = store->stats();
  EXPECT_EQ(s.argon2_verifications, 0u);
  EXPECT_EQ(s.unknown, 1u);
  EXPECT_EQ(s.cached_entries, 0u);
  EXPECT_EQ(counting_->digest_lookups.load(), 1);
}

TEST_F(KeyStoreTest, WrongKeyWithValidFormatIsRejected) {
  CreatedKey acme = NewKey("acme");
  auto store = NewCachingKeyStore(counting_.get());
  std::string wrong = acme.secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  ASSERT_TRUE(internal::LooksLikeApiKey(wrong));
  absl::StatusOr<AuthResult> r = store->Authenticate(wrong);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_EQ(store->stats().argon2_verifications, 0u);
  // The real key still works afterwards.
  EXPECT_TRUE(store->Authenticate(acme.secret).ok());
}

TEST_F(KeyStoreTest, MalformedKeysAreRejectedWithoutDatabaseWork) {
  CreatedKey acme = NewKey("acme");
  auto store = NewCachingKeyStore(counting_.get());
  const std::vector<std::string> malformed = {
      "",
      "obx_",
      "Bearer token",
      acme.secret + "x",
      acme.secret.substr(0, acme.secret.size() - 1),
      "xyz_" + acme.secret.substr(4),
      acme.secret.substr(0, 20) + "!" + acme.secret.substr(21),
      acme.secret.substr(0, 20) + std::string(1, '\0') + acme.secret.substr(21),
  };
  for (const std::string& key : malformed) {
    absl::StatusOr<AuthResult> r = store->Authenticate(key);
    EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
    if (!key.empty()) {
      EXPECT_THAT(std::string(r.status().message()), HasSubstr("malformed API key"));
    }
  }
  EXPECT_THAT(std::string(store->Authenticate("").status().message()), HasSubstr("missing"));
  EXPECT_EQ(counting_->digest_lookups.load(), 0);
  EXPECT_EQ(store->stats().argon2_verifications, 0u);
  EXPECT_EQ(store->stats().malformed, malformed.size() + 1);
}

TEST_F(KeyStoreTest, KeyRevokedBeforeUseIsRejectedWithoutArgon2) {
  CreatedKey acme = NewKey("acme");
  ASSERT_TRUE(cp_->RevokeKey(acme.info.id).ok());
  auto store = NewCachingKeyStore(counting_.get());
  absl::StatusOr<AuthResult> r = store->Authenticate(acme.secret);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("revoked"));
  EXPECT_EQ(store->stats().argon2_verifications, 0u);
}

TEST_F(KeyStoreTest, CachedKeyStopsWorkingAfterRevocation) {
  CreatedKey acme = NewKey("acme");
  CreatedKey keep = NewKey("acme");
  KeyCacheOptions options;
  options.revocation_poll_ms = 100;
  auto store = NewCachingKeyStore(counting_.get(), options);
  ASSERT_TRUE(store->Authenticate(acme.secret).ok());
  ASSERT_TRUE(store->Authenticate(keep.secret).ok());
  ASSERT_TRUE(store->Authenticate(acme.secret).ok());
  ASSERT_EQ(store->stats().cache_hits, 1u);  // the revocation must beat a cached entry

  ASSERT_TRUE(cp_->RevokeKey(acme.info.id).ok());
  absl::Status rejected = WaitUntilRejected(*store, acme.secret);
  EXPECT_TRUE(absl::IsUnauthenticated(rejected)) << "still accepted 5 s after revocation";
  EXPECT_THAT(std::string(rejected.message()), HasSubstr("revoked"));
  EXPECT_GE(store->stats().revoked_evictions, 1u);
  // Stays rejected, and other keys of the tenant keep working.
  EXPECT_TRUE(absl::IsUnauthenticated(store->Authenticate(acme.secret).status()));
  EXPECT_TRUE(store->Authenticate(keep.secret).ok());
}

TEST_F(KeyStoreTest, RevocationByAnotherProcessIsSeenWithDefaultPolling) {
  CreatedKey acme = NewKey("acme");
  auto store = NewCachingKeyStore(cp_.get());  // default options: the server's settings
  ASSERT_TRUE(store->Authenticate(acme.secret).ok());
  ASSERT_TRUE(store->Authenticate(acme.secret).ok());
  ASSERT_EQ(store->stats().cache_hits, 1u);

  {
    // What `observex keys revoke` does: its own connection to the same file.
    absl::StatusOr<std::unique_ptr<ControlPlane>> cli = ControlPlane::Open(file());
    ASSERT_TRUE(cli.ok()) << cli.status();
    ASSERT_TRUE((*cli)->RevokeKey(acme.info.id).ok());
  }
  absl::Status rejected = WaitUntilRejected(*store, acme.secret);
  EXPECT_TRUE(absl::IsUnauthenticated(rejected)) << "still accepted 5 s after revocation";
}

TEST_F(KeyStoreTest, KeyCreatedByAnotherProcessIsAccepted) {
  auto store = NewCachingKeyStore(cp_.get());
  absl::StatusOr<std::unique_ptr<ControlPlane>> cli = ControlPlane::Open(file());
  ASSERT_TRUE(cli.ok()) << cli.status();
  absl::StatusOr<CreatedKey> key = (*cli)->CreateKey("acme", true);
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<AuthResult> r = store->Authenticate(key->secret);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tenant_name, "acme");
}

TEST_F(KeyStoreTest, FailedRevocationPollEmptiesTheCache) {
  CreatedKey acme = NewKey("acme");
  KeyCacheOptions options;
  options.revocation_poll_ms = 20;
  auto store = NewCachingKeyStore(counting_.get(), options);
  ASSERT_TRUE(store->Authenticate(acme.secret).ok());
  ASSERT_EQ(store->stats().cached_entries, 1u);
  counting_->fail_polls = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (store->stats().revocation_poll_errors == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(store->stats().revocation_poll_errors, 1u);
  EXPECT_EQ(store->stats().cached_entries, 0u);
  // Still usable, through the control plane each time.
  EXPECT_TRUE(store->Authenticate(acme.secret).ok());
  EXPECT_GE(store->stats().argon2_verifications, 2u);
}

TEST_F(KeyStoreTest, CacheBoundIsRespectedLeastRecentlyUsedFirst) {
  CreatedKey a = NewKey("acme");
  CreatedKey b = NewKey("acme");
  CreatedKey c = NewKey("beta");
  KeyCacheOptions options;
  options.max_entries = 2;
  auto store = NewCachingKeyStore(counting_.get(), options);

  for (const CreatedKey* k : {&a, &b, &c}) ASSERT_TRUE(store->Authenticate(k->secret).ok());
  EXPECT_EQ(store->stats().cached_entries, 2u);
  EXPECT_EQ(store->stats().argon2_verifications, 3u);

  ASSERT_TRUE(store->Authenticate(c.secret).ok());  // newest: cached
  EXPECT_EQ(store->stats().argon2_verifications, 3u);
  ASSERT_TRUE(store->Authenticate(a.secret).ok());  // oldest: was evicted
  EXPECT_EQ(store->stats().argon2_verifications, 4u);
  ASSERT_TRUE(store->Authenticate(c.secret).ok());  // c was used after b, so b went
  EXPECT_EQ(store->stats().argon2_verifications, 4u);
  ASSERT_TRUE(store->Authenticate(b.secret).ok());
  EXPECT_EQ(store->stats().argon2_verifications, 5u);
  EXPECT_EQ(store->stats().cached_entries, 2u);
}

TEST_F(KeyStoreTest, ZeroMaxEntriesDisablesCaching) {
  CreatedKey a = NewKey("acme");
  KeyCacheOptions options;
  options.max_entries = 0;
  auto store = NewCachingKeyStore(counting_.get(), options);
  ASSERT_TRUE(store->Authenticate(a.secret).ok());
  ASSERT_TRUE(store->Authenticate(a.secret).ok());
  EXPECT_EQ(store->stats().argon2_verifications, 2u);
  EXPECT_EQ(store->stats().cached_entries, 0u);
}

TEST_F(KeyStoreTest, ConcurrentCallersShareOneVerification) {
  CreatedKey a = NewKey("acme");
  auto store = NewCachingKeyStore(counting_.get());
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      absl::StatusOr<AuthResult> r = store->Authenticate(a.secret);
      if (r.ok() && r->tenant_name == "acme") ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads);
  EXPECT_EQ(store->stats().argon2_verifications, 1u);
}

TEST_F(KeyStoreTest, ConcurrentDistinctKeysWithOneVerificationSlot) {
  std::vector<CreatedKey> keys;
  for (const char* tenant : {"t1", "t2", "t3", "t4"}) keys.push_back(NewKey(tenant));
  KeyCacheOptions options;
  options.max_concurrent_verifications = 1;
  auto store = NewCachingKeyStore(counting_.get(), options);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int round = 0; round < 2; ++round) {
    for (const CreatedKey& k : keys) {
      threads.emplace_back([&store, &ok, &k] {
        absl::StatusOr<AuthResult> r = store->Authenticate(k.secret);
        if (r.ok() && r->tenant_name == k.info.tenant_name) ++ok;
      });
    }
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(store->stats().argon2_verifications, 4u);
}

}  // namespace
}  // namespace observex::tenant
