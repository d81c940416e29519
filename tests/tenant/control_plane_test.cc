#include "tenant/control_plane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "testing/temp_dir.h"
#include "tenant/key_crypto.h"

namespace observex::tenant {
namespace {

using ::observex::testing::ReadFileBytes;
using ::observex::testing::TempDir;
using ::testing::HasSubstr;

std::unique_ptr<ControlPlane> OpenOrDie(const std::filesystem::path& file) {
  absl::StatusOr<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(file);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? *std::move(cp) : nullptr;
}

// Runs one read-only scalar query on the file with a separate connection, as a second
// process would.
int64_t QueryInt(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

TEST(ValidateTenantNameTest, AcceptsAllowListNames) {
  for (const std::string& name :
       {std::string("ok-name_1"), std::string("a"), std::string("0"), std::string("default"),
        std::string("team-42_prod"), std::string(64, 'x')}) {
    EXPECT_TRUE(ValidateTenantName(name).ok()) << name << ": " << ValidateTenantName(name);
  }
}

TEST(ValidateTenantNameTest, RejectsEverythingElseNamingTheRule) {
  const std::vector<std::string> bad = {
      "",
      std::string(65, 'a'),
      "../x",
      "a/b",
      ".",
      "..",
      "a\\b",
      "A",
      "Acme",
      "a b",
      "a%2fb",
      std::string("a\0b", 3),
      "caf\xc3\xa9",
      "-lead",
      "_lead",
      "a.b",
      "a\nb",
      "a:b",
  };
  for (const std::string& name : bad) {
    absl::Status s = ValidateTenantName(name);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << absl::CHexEscape(name) << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("[a-z0-9_-]")) << s;
  }
  EXPECT_THAT(std::string(ValidateTenantName("../x").message()), HasSubstr("'.'"));
  EXPECT_THAT(std::string(ValidateTenantName("a/b").message()), HasSubstr("path separator"));
  EXPECT_THAT(std::string(ValidateTenantName("A").message()), HasSubstr("uppercase"));
  EXPECT_THAT(std::string(ValidateTenantName(std::string(65, 'a')).message()), HasSubstr("65"));
  EXPECT_THAT(std::string(ValidateTenantName(std::string("a\0b", 3)).message()), HasSubstr("NUL"));
}

TEST(ControlPlaneTest, CreatesPrivateDatabaseFileAndParentDir) {
  TempDir dir;
  const auto file = dir.path() / "nested" / "control.db";
  auto cp = OpenOrDie(file);
  ASSERT_NE(cp, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(ControlPlaneTest, OpenFailsOnUnusablePath) {
  TempDir dir;
  // A directory where the file should be.
  std::filesystem::create_directories(dir.path() / "control.db");
  absl::StatusOr<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(dir.path() / "control.db");
  EXPECT_FALSE(cp.ok());
}

TEST(ControlPlaneTest, CreateTenantRejectsDuplicateAndBadNames) {
  TempDir dir;
  auto cp = OpenOrDie(dir.path() / "control.db");
  ASSERT_NE(cp, nullptr);

  absl::StatusOr<Tenant> acme = cp->CreateTenant("acme");
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_GT(acme->id, 0);
  EXPECT_EQ(acme->name, "acme");
  EXPECT_GT(acme->created_at_unix, 0);

  absl::StatusOr<Tenant> again = cp->CreateTenant("acme");
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("acme"));

  EXPECT_TRUE(absl::IsInvalidArgument(cp->CreateTenant("../x").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(cp->CreateTenant("Acme").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(cp->GetTenant("a/b").status()));

  absl::StatusOr<Tenant> got = cp->GetTenant("acme");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id, acme->id);
  EXPECT_TRUE(absl::IsNotFound(cp->GetTenant("nobody").status()));

  ASSERT_TRUE(cp->CreateTenant("beta").ok());
  absl::StatusOr<std::vector<Tenant>> all = cp->ListTenants();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "acme");
  EXPECT_EQ((*all)[1].name, "beta");
}

TEST(ControlPlaneTest, CreateKeyReturnsWellFormedSecretOnce) {
  TempDir dir;
  auto cp = OpenOrDie(dir.path() / "control.db");
  ASSERT_NE(cp, nullptr);

  EXPECT_TRUE(absl::IsNotFound(cp->CreateKey("acme", /*create_tenant=*/false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(cp->CreateKey("../etc", true).status()));
  EXPECT_TRUE(cp->ListTenants()->empty());

  absl::StatusOr<CreatedKey> key = cp->CreateKey("acme", /*create_tenant=*/true);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret.size(), internal::kKeyLength);
  EXPECT_TRUE(key->secret.starts_with("obx_"));
  EXPECT_TRUE(internal::LooksLikeApiKey(key->secret));
  EXPECT_EQ(key->info.prefix, key->secret.substr(0, 8));
  EXPECT_EQ(key->info.tenant_name, "acme");
  EXPECT_GT(key->info.id, 0);
  EXPECT_FALSE(key->info.revoked_at_unix.has_value());

  // create_tenant on an existing tenant reuses it.
  absl::StatusOr<CreatedKey> second = cp->CreateKey("acme", true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->info.tenant_id, key->info.tenant_id);
  EXPECT_NE(second->secret, key->secret);
  absl::StatusOr<CreatedKey> third = cp->CreateKey("acme", false);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(cp->ListTenants()->size(), 1u);

  // The stored record finds the key by digest and holds an Argon2id string at our cost.
  absl::StatusOr<ControlPlane::KeyRecord> rec =
      cp->FindKeyByDigest(internal::LookupDigest(key->secret));
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->info.id, key->info.id);
  EXPECT_THAT(rec->argon2_fingerprint, HasSubstr("$argon2id$v=19$m=19456,t=2,p=1$"));
  EXPECT_EQ(crypto_pwhash_str_verify(rec->argon2_fingerprint.c_str(), key->secret.data(),
                                     key->secret.size()),
            0);
}

TEST(ControlPlaneTest, DatabaseNeverContainsSecretBytes) {
  TempDir dir;
  const auto file = dir.path() / "control.db";
  std::vector<std::string> secrets;
  {
    auto cp = OpenOrDie(file);
    ASSERT_NE(cp, nullptr);
    for (const char* tenant : {"acme", "beta", "acme"}) {
      absl::StatusOr<CreatedKey> key = cp->CreateKey(tenant, true);
      ASSERT_TRUE(key.ok()) << key.status();
      secrets.push_back(key->secret);
    }
    ASSERT_TRUE(cp->RevokeKey(1).ok());
  }
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    bytes += ReadFileBytes(entry.path());  // control.db plus any -wal/-shm left
  }
  ASSERT_GT(bytes.size(), 0u);
  ASSERT_NE(bytes.find("acme"), std::string::npos);  // the search itself works
  for (const std::string& secret : secrets) {
    EXPECT_EQ(bytes.find(secret), std::string::npos);
    // No 8-character window beyond the shown prefix, so no partial secret either.
    for (size_t i = 1; i + 8 <= secret.size(); ++i) {
      EXPECT_EQ(bytes.find(secret.substr(i, 8)), std::string::npos) << "window at " << i;
    }
    // Nor the decoded random bytes.
    unsigned char raw[internal::kKeyRandomBytes];
    size_t raw_len = 0;
    ASSERT_EQ(sodium_base642bin(raw, sizeof(raw), secret.data() + 4, secret.size() - 4, nullptr,
                                &raw_len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
              0);
    ASSERT_EQ(raw_len, sizeof(raw));
    EXPECT_EQ(bytes.find(std::string(reinterpret_cast<char*>(raw), raw_len)), std::string::npos);
  }
}

TEST(ControlPlaneTest, ListKeysShowsPrefixesNeverSecrets) {
  TempDir dir;
  auto cp = OpenOrDie(dir.path() / "control.db");
  ASSERT_NE(cp, nullptr);
  absl::StatusOr<CreatedKey> a = cp->CreateKey("acme", true);
  absl::StatusOr<CreatedKey> b = cp->CreateKey("beta", true);
  ASSERT_TRUE(a.ok() && b.ok());

  absl::StatusOr<std::vector<ApiKeyInfo>> keys = cp->ListKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, a->info.id);
  EXPECT_EQ((*keys)[0].tenant_name, "acme");
  EXPECT_EQ((*keys)[1].tenant_name, "beta");
  for (const ApiKeyInfo& k : *keys) {
    EXPECT_EQ(k.prefix.size(), 8u);
    for (const std::string& secret : {a->secret, b->secret}) {
      EXPECT_EQ(k.prefix.find(secret), std::string::npos);
      EXPECT_EQ(k.tenant_name.find(secret.substr(8)), std::string::npos);
    }
  }
}

TEST(ControlPlaneTest, RevokeKeyIsIdempotentAndReportsUnknownIds) {
  TempDir dir;
  auto cp = OpenOrDie(dir.path() / "control.db");
  ASSERT_NE(cp, nullptr);
  absl::StatusOr<CreatedKey> a = cp->CreateKey("acme", true);
  absl::StatusOr<CreatedKey> b = cp->CreateKey("acme", true);
  ASSERT_TRUE(a.ok() && b.ok());

  EXPECT_TRUE(absl::IsNotFound(cp->RevokeKey(9999)));
  EXPECT_TRUE(cp->RevokedKeyIds()->empty());
  ASSERT_TRUE(cp->RevokeKey(b->info.id).ok());
  ASSERT_TRUE(cp->RevokeKey(b->info.id).ok());
  EXPECT_THAT(*cp->RevokedKeyIds(), ::testing::ElementsAre(b->info.id));

  absl::StatusOr<std::vector<ApiKeyInfo>> keys = cp->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_FALSE((*keys)[0].revoked_at_unix.has_value());
  EXPECT_TRUE((*keys)[1].revoked_at_unix.has_value());
  absl::StatusOr<ControlPlane::KeyRecord> rec =
      cp->FindKeyByDigest(internal::LookupDigest(b->secret));
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->info.revoked_at_unix.has_value());
}

TEST(ControlPlaneTest, FindKeyByDigestChecksInput) {
  TempDir dir;
  auto cp = OpenOrDie(dir.path() / "control.db");
  ASSERT_NE(cp, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(cp->FindKeyByDigest("short").status()));
  EXPECT_TRUE(absl::IsNotFound(
      cp->FindKeyByDigest(internal::LookupDigest(internal::GenerateKey())).status()));
}

TEST(ControlPlaneTest, ReopenKeepsDataAndMigrationsRunOnce) {
  TempDir dir;
  const auto file = dir.path() / "control.db";
  std::string secret;
  {
    auto cp = OpenOrDie(file);
    ASSERT_NE(cp, nullptr);
    absl::StatusOr<CreatedKey> key = cp->CreateKey("acme", true);
    ASSERT_TRUE(key.ok());
    secret = key->secret;
    // A second instance on the same file (another process) while the first is open.
    auto other = OpenOrDie(file);
    ASSERT_NE(other, nullptr);
    EXPECT_TRUE(other->GetTenant("acme").ok());
  }
  auto cp = OpenOrDie(file);
  ASSERT_NE(cp, nullptr);
  EXPECT_TRUE(cp->GetTenant("acme").ok());
  EXPECT_EQ(cp->ListKeys()->size(), 1u);
  EXPECT_TRUE(cp->FindKeyByDigest(internal::LookupDigest(secret)).ok());
  EXPECT_EQ(QueryInt(file, "SELECT COUNT(*) FROM schema_version"), 1);
  EXPECT_EQ(QueryInt(file, "SELECT MAX(version) FROM schema_version"), 1);
}

TEST(ControlPlaneTest, RefusesSchemaNewerThanBuild) {
  TempDir dir;
  const auto file = dir.path() / "control.db";
  { ASSERT_NE(OpenOrDie(file), nullptr); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "INSERT INTO schema_version VALUES(999, 0)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(file);
  EXPECT_TRUE(absl::IsFailedPrecondition(cp.status())) << cp.status();
  EXPECT_THAT(std::string(cp.status().message()), HasSubstr("999"));
}

TEST(ControlPlaneTest, EnsureInitialTenantBootstrapsOnlyAnEmptyDatabase) {
  TempDir dir;
  const auto file = dir.path() / "control.db";
  auto first = OpenOrDie(file);
  auto second = OpenOrDie(file);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  EXPECT_TRUE(absl::IsInvalidArgument(first->EnsureInitialTenant("Default").status()));
  absl::StatusOr<std::optional<CreatedKey>> boot = first->EnsureInitialTenant("default");
  ASSERT_TRUE(boot.ok()) << boot.status();
  ASSERT_TRUE(boot->has_value());
  EXPECT_EQ((*boot)->info.tenant_name, "default");
  EXPECT_TRUE(internal::LooksLikeApiKey((*boot)->secret));

  absl::StatusOr<std::optional<CreatedKey>> again = second->EnsureInitialTenant("default");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(second->ListKeys()->size(), 1u);
}

}  // namespace
}  // namespace observex::tenant
