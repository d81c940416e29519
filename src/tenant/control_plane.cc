#include "tenant/control_plane.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "tenant/key_crypto.h"

namespace observex::tenant {
namespace {

constexpr size_t kMaxTenantNameLength = 64;
constexpr char kTenantNameRule[] =
    "tenant names are 1-64 characters of [a-z0-9_-] starting with [a-z0-9]";
// Long enough for the CLI to wait out a server's write, short enough to report a stuck lock.
constexpr int kBusyTimeoutMs = 5000;

// Quotes untrusted input for an error message: escaped, and cut so a hostile name cannot
// flood the log.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string shown = absl::CHexEscape(absl::string_view(s.data(), std::min(s.size(), kMaxShown)));
  return absl::StrCat("\"", shown, s.size() > kMaxShown ? "\"..." : "\"");
}

std::string DescribeBadChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (c == '/' || c == '\\') return "a path separator";
  if (c == '.') return "'.'";
  if (c == '%') return "'%' (names are checked after decoding)";
  if (c == '\0') return "a NUL byte";
  if (c >= 'A' && c <= 'Z') return absl::StrCat("uppercase '", std::string(1, c), "'");
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return "whitespace";
  if (u >= 0x80) return "a non-ASCII byte";
  if (u < 0x20 || u == 0x7f) return "a control character";
  return absl::StrCat("'", std::string(1, c), "'");
}

int64_t NowUnixSeconds() { return NowUnixNanos() / 1'000'000'000; }

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;
struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

// Resets a statement when the call that used it ends, so no read transaction (and its WAL
// snapshot) outlives the call: the next call then sees other processes' commits.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* s) : s_(s) {}
  ~StmtScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

absl::Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg = absl::StrCat("control plane: ", std::string(what), ": ", sqlite3_errstr(rc));
  if (db != nullptr) absl::StrAppend(&msg, " (", sqlite3_errmsg(db), ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string ColumnText(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, col)));
}

int BindText(sqlite3_stmt* s, int index, std::string_view v) {
  return sqlite3_bind_text(s, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

int BindBlob(sqlite3_stmt* s, int index, std::string_view v) {
  return sqlite3_bind_blob(s, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// Each migration runs once, in order, inside the transaction that records it. Never edit a
// released entry; append a new one.
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE tenants(
  id INTEGER PRIMARY KEY,
  name TEXT UNIQUE NOT NULL,
  created_at INTEGER
);
CREATE TABLE api_keys(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  prefix TEXT NOT NULL,
  lookup_digest BLOB UNIQUE NOT NULL,
  argon2 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NULL
);
CREATE INDEX api_keys_revoked ON api_keys(id) WHERE revoked_at IS NOT NULL;
)sql"},
};
constexpr int kLatestSchemaVersion = 1;

// The secret and what is stored about it, computed before any lock is taken because
// Argon2 takes tens of milliseconds.
struct KeyMaterial {
  std::string secret;
  std::string prefix;
  std::string digest;
  std::string fingerprint;
};

absl::StatusOr<KeyMaterial> NewKeyMaterial() {
  if (absl::Status s = internal::EnsureSodium(); !s.ok()) return s;
  KeyMaterial m;
  m.secret = internal::GenerateKey();
  m.prefix = m.secret.substr(0, internal::kShownPrefixLength);
  m.digest = internal::LookupDigest(m.secret);
  absl::StatusOr<std::string> fp = internal::Argon2Fingerprint(m.secret);
  if (!fp.ok()) return fp.status();
  m.fingerprint = *std::move(fp);
  return m;
}

class SqliteControlPlane final : public ControlPlane {
 public:
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Open(const std::filesystem::path& file);

  absl::StatusOr<Tenant> CreateTenant(std::string_view name) override;
  absl::StatusOr<Tenant> GetTenant(std::string_view name) override;
  absl::StatusOr<std::vector<Tenant>> ListTenants() override;
  absl::StatusOr<CreatedKey> CreateKey(std::string_view tenant_name, bool create_tenant) override;
  absl::StatusOr<std::optional<CreatedKey>> EnsureInitialTenant(
      std::string_view tenant_name) override;
  absl::StatusOr<std::vector<ApiKeyInfo>> ListKeys() override;
  absl::Status RevokeKey(int64_t key_id) override;
  absl::StatusOr<KeyRecord> FindKeyByDigest(std::string_view digest) override;
  absl::StatusOr<std::vector<int64_t>> RevokedKeyIds() override;

 private:
  enum Stmt {
    kBegin,
    kCommit,
    kRollback,
    kInsertTenant,
    kInsertTenantIfAbsent,
    kSelectTenantByName,
    kSelectTenants,
    kCountTenants,
    kInsertKey,
    kSelectKeys,
    kSelectKeyByDigest,
    kRevokeKey,
    kSelectRevoked,
    kNumStmts,
  };

  explicit SqliteControlPlane(DbPtr db) : db_(std::move(db)) {}

  absl::Status Configure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Prepare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql, std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Run(Stmt stmt, std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(int rc, std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return SqliteStatus(db_.get(), rc, what);
  }

  absl::StatusOr<std::optional<Tenant>> FindTenantLocked(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Tenant> InsertTenantLocked(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> CountTenantsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<CreatedKey> InsertKeyLocked(const Tenant& tenant, KeyMaterial material)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Rolls back an open write transaction unless Commit() ran.
  class Transaction {
   public:
    explicit Transaction(SqliteControlPlane* cp) : cp_(cp) {}
    ~Transaction() {
      if (open_) (void)cp_->Run(kRollback, "rollback");
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    absl::Status Begin() {
      absl::Status s = cp_->Run(kBegin, "begin transaction");
      open_ = s.ok();
      return s;
    }
    absl::Status Commit() {
      absl::Status s = cp_->Run(kCommit, "commit");
      if (s.ok()) open_ = false;
      return s;
    }

   private:
    SqliteControlPlane* cp_;
    bool open_ = false;
  };

  absl::Mutex mu_;
  DbPtr db_ ABSL_GUARDED_BY(mu_);
  StmtPtr stmts_[kNumStmts] ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<ControlPlane>> SqliteControlPlane::Open(
    const std::filesystem::path& file) {
  if (absl::Status s = internal::EnsureSodium(); !s.ok()) return s;
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat("control plane: cannot create directory ",
                                                      file.parent_path().string(), ": ",
                                                      ec.message()));
    }
  }
  // Create the file ourselves so it starts private; SQLite gives the -wal and -shm files
  // the same mode as the database.
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return absl::PermissionDeniedError(
        absl::StrCat("control plane: cannot open ", file.string(), ": ", std::strerror(err)));
  }
  ::close(fd);

  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 allocates a handle even on failure
  if (rc != SQLITE_OK) return SqliteStatus(db.get(), rc, absl::StrCat("open ", file.string()));

  std::unique_ptr<SqliteControlPlane> cp(new SqliteControlPlane(std::move(db)));
  absl::MutexLock lock(&cp->mu_);
  if (absl::Status s = cp->Configure(); !s.ok()) return s;
  if (absl::Status s = cp->Migrate(); !s.ok()) return s;
  if (absl::Status s = cp->Prepare(); !s.ok()) return s;
  return std::unique_ptr<ControlPlane>(std::move(cp));
}

absl::Status SqliteControlPlane::Exec(const char* sql, std::string_view what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg still holds the message
  if (rc != SQLITE_OK) return Error(rc, what);
  return absl::OkStatus();
}

absl::Status SqliteControlPlane::Configure() {
  sqlite3_extended_result_codes(db_.get(), 1);
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  int enabled = 0;
  sqlite3_db_config(db_.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, &enabled);
  sqlite3_db_config(db_.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &enabled);

  // journal_mode answers with a row naming the mode actually in effect.
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
  StmtPtr journal(raw);
  if (rc != SQLITE_OK) return Error(rc, "prepare journal_mode");
  rc = sqlite3_step(journal.get());
  if (rc != SQLITE_ROW) return Error(rc, "set journal_mode=WAL");
  const std::string mode = ColumnText(journal.get(), 0);
  journal.reset();
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("control plane: journal_mode is ", mode, ", WAL is required"));
  }
  // FULL: a revocation or new key must survive a power cut once the CLI said it happened.
  if (absl::Status s = Exec("PRAGMA synchronous=FULL", "set synchronous"); !s.ok()) return s;
  return Exec("PRAGMA foreign_keys=ON", "enable foreign keys");
}

absl::Status SqliteControlPlane::Migrate() {
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh file
  // migrate one after the other and the second finds nothing to do.
  if (absl::Status s = Exec("BEGIN IMMEDIATE", "begin migration"); !s.ok()) return s;
  struct RollbackUnlessDone {
    SqliteControlPlane* cp;
    bool done = false;
    ~RollbackUnlessDone() {
      if (!done) sqlite3_exec(cp->db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  } guard{this};

  if (absl::Status s = Exec("CREATE TABLE IF NOT EXISTS schema_version("
                            "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                            "create schema_version");
      !s.ok()) {
    return s;
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1,
                              &raw, nullptr);
  StmtPtr current_stmt(raw);
  if (rc != SQLITE_OK) return Error(rc, "prepare schema_version read");
  rc = sqlite3_step(current_stmt.get());
  if (rc != SQLITE_ROW) return Error(rc, "read schema_version");
  const int64_t current = sqlite3_column_int64(current_stmt.get(), 0);
  current_stmt.reset();
  if (current > kLatestSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("control plane: database schema version ", current,
                     " is newer than this build supports (", kLatestSchemaVersion, ")"));
  }

  rc = sqlite3_prepare_v2(db_.get(),
                          "INSERT INTO schema_version(version, applied_at) VALUES(?1, ?2)", -1,
                          &raw, nullptr);
  StmtPtr record(raw);
  if (rc != SQLITE_OK) return Error(rc, "prepare schema_version insert");
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    if (absl::Status s = Exec(m.sql, absl::StrCat("migration ", m.version)); !s.ok()) return s;
    StmtScope scope(record.get());
    sqlite3_bind_int64(record.get(), 1, m.version);
    sqlite3_bind_int64(record.get(), 2, NowUnixSeconds());
    rc = sqlite3_step(record.get());
    if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("record migration ", m.version));
  }
  record.reset();
  if (absl::Status s = Exec("COMMIT", "commit migration"); !s.ok()) return s;
  guard.done = true;
  return absl::OkStatus();
}

absl::Status SqliteControlPlane::Prepare() {
  static constexpr const char* kSql[kNumStmts] = {
      /*kBegin=*/"BEGIN IMMEDIATE",
      /*kCommit=*/"COMMIT",
      /*kRollback=*/"ROLLBACK",
      /*kInsertTenant=*/"INSERT INTO tenants(name, created_at) VALUES(?1, ?2)",
      /*kInsertTenantIfAbsent=*/
      "INSERT INTO tenants(name, created_at) VALUES(?1, ?2) ON CONFLICT(name) DO NOTHING",
      /*kSelectTenantByName=*/"SELECT id, name, created_at FROM tenants WHERE name = ?1",
      /*kSelectTenants=*/"SELECT id, name, created_at FROM tenants ORDER BY id",
      /*kCountTenants=*/"SELECT COUNT(*) FROM tenants",
      /*kInsertKey=*/
      "INSERT INTO api_keys(tenant_id, prefix, lookup_digest, argon2, created_at) "
      "VALUES(?1, ?2, ?3, ?4, ?5)",
      /*kSelectKeys=*/
      "SELECT k.id, k.tenant_id, t.name, k.prefix, k.created_at, k.revoked_at "
      "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id ORDER BY k.id",
      /*kSelectKeyByDigest=*/
      "SELECT k.id, k.tenant_id, t.name, k.prefix, k.created_at, k.revoked_at, k.argon2 "
      "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.lookup_digest = ?1",
      /*kRevokeKey=*/"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
      /*kSelectRevoked=*/"SELECT id FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id",
  };
  for (int i = 0; i < kNumStmts; ++i) {
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_.get(), kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    stmts_[i].reset(raw);
    if (rc != SQLITE_OK) return Error(rc, absl::StrCat("prepare \"", kSql[i], "\""));
  }
  return absl::OkStatus();
}

absl::Status SqliteControlPlane::Run(Stmt stmt, std::string_view what) {
  StmtScope scope(stmts_[stmt].get());
  const int rc = sqlite3_step(scope.get());
  if (rc != SQLITE_DONE) return Error(rc, what);
  return absl::OkStatus();
}

Tenant ReadTenant(sqlite3_stmt* s) {
  Tenant t;
  t.id = sqlite3_column_int64(s, 0);
  t.name = ColumnText(s, 1);
  t.created_at_unix = sqlite3_column_int64(s, 2);
  return t;
}

// Columns: id, tenant_id, tenant name, prefix, created_at, revoked_at.
ApiKeyInfo ReadKeyInfo(sqlite3_stmt* s) {
  ApiKeyInfo k;
  k.id = sqlite3_column_int64(s, 0);
  k.tenant_id = sqlite3_column_int64(s, 1);
  k.tenant_name = ColumnText(s, 2);
  k.prefix = ColumnText(s, 3);
  k.created_at_unix = sqlite3_column_int64(s, 4);
  if (sqlite3_column_type(s, 5) != SQLITE_NULL) k.revoked_at_unix = sqlite3_column_int64(s, 5);
  return k;
}

absl::StatusOr<std::optional<Tenant>> SqliteControlPlane::FindTenantLocked(std::string_view name) {
  StmtScope scope(stmts_[kSelectTenantByName].get());
  BindText(scope.get(), 1, name);
  const int rc = sqlite3_step(scope.get());
  if (rc == SQLITE_DONE) return std::optional<Tenant>();
  if (rc != SQLITE_ROW) return Error(rc, "look up tenant");
  return std::optional<Tenant>(ReadTenant(scope.get()));
}

absl::StatusOr<Tenant> SqliteControlPlane::InsertTenantLocked(std::string_view name) {
  Tenant t;
  t.name = std::string(name);
  t.created_at_unix = NowUnixSeconds();
  StmtScope scope(stmts_[kInsertTenant].get());
  BindText(scope.get(), 1, name);
  sqlite3_bind_int64(scope.get(), 2, t.created_at_unix);
  const int rc = sqlite3_step(scope.get());
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    return absl::AlreadyExistsError(absl::StrCat("tenant \"", t.name, "\" already exists"));
  }
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("create tenant \"", t.name, "\""));
  t.id = sqlite3_last_insert_rowid(db_.get());
  return t;
}

absl::StatusOr<int64_t> SqliteControlPlane::CountTenantsLocked() {
  StmtScope scope(stmts_[kCountTenants].get());
  const int rc = sqlite3_step(scope.get());
  if (rc != SQLITE_ROW) return Error(rc, "count tenants");
  return sqlite3_column_int64(scope.get(), 0);
}

absl::StatusOr<CreatedKey> SqliteControlPlane::InsertKeyLocked(const Tenant& tenant,
                                                               KeyMaterial material) {
  CreatedKey created;
  created.info.tenant_id = tenant.id;
  created.info.tenant_name = tenant.name;
  created.info.prefix = material.prefix;
  created.info.created_at_unix = NowUnixSeconds();
  StmtScope scope(stmts_[kInsertKey].get());
  sqlite3_bind_int64(scope.get(), 1, tenant.id);
  BindText(scope.get(), 2, material.prefix);
  BindBlob(scope.get(), 3, material.digest);
  BindText(scope.get(), 4, material.fingerprint);
  sqlite3_bind_int64(scope.get(), 5, created.info.created_at_unix);
  const int rc = sqlite3_step(scope.get());
  if (rc != SQLITE_DONE)
    return Error(rc, absl::StrCat("create key for tenant \"", tenant.name, "\""));
  created.info.id = sqlite3_last_insert_rowid(db_.get());
  created.secret = std::move(material.secret);
  return created;
}

absl::StatusOr<Tenant> SqliteControlPlane::CreateTenant(std::string_view name) {
  if (absl::Status s = ValidateTenantName(name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return InsertTenantLocked(name);
}

absl::StatusOr<Tenant> SqliteControlPlane::GetTenant(std::string_view name) {
  if (absl::Status s = ValidateTenantName(name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::optional<Tenant>> t = FindTenantLocked(name);
  if (!t.ok()) return t.status();
  if (!t->has_value()) {
    return absl::NotFoundError(absl::StrCat("tenant \"", std::string(name), "\" not found"));
  }
  return **std::move(t);
}

absl::StatusOr<std::vector<Tenant>> SqliteControlPlane::ListTenants() {
  absl::MutexLock lock(&mu_);
  StmtScope scope(stmts_[kSelectTenants].get());
  std::vector<Tenant> out;
  int rc;
  while ((rc = sqlite3_step(scope.get())) == SQLITE_ROW) out.push_back(ReadTenant(scope.get()));
  if (rc != SQLITE_DONE) return Error(rc, "list tenants");
  return out;
}

absl::StatusOr<CreatedKey> SqliteControlPlane::CreateKey(std::string_view tenant_name,
                                                         bool create_tenant) {
  if (absl::Status s = ValidateTenantName(tenant_name); !s.ok()) return s;
  absl::StatusOr<KeyMaterial> material = NewKeyMaterial();
  if (!material.ok()) return material.status();

  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;
  if (create_tenant) {
    StmtScope scope(stmts_[kInsertTenantIfAbsent].get());
    BindText(scope.get(), 1, tenant_name);
    sqlite3_bind_int64(scope.get(), 2, NowUnixSeconds());
    const int rc = sqlite3_step(scope.get());
    if (rc != SQLITE_DONE) {
      return Error(rc, absl::StrCat("create tenant \"", std::string(tenant_name), "\""));
    }
  }
  absl::StatusOr<std::optional<Tenant>> tenant = FindTenantLocked(tenant_name);
  if (!tenant.ok()) return tenant.status();
  if (!tenant->has_value()) {
    return absl::NotFoundError(absl::StrCat("tenant \"", std::string(tenant_name), "\" not found"));
  }
  absl::StatusOr<CreatedKey> created = InsertKeyLocked(**tenant, *std::move(material));
  if (!created.ok()) return created.status();
  if (absl::Status s = txn.Commit(); !s.ok()) return s;
  return created;
}

absl::StatusOr<std::optional<CreatedKey>> SqliteControlPlane::EnsureInitialTenant(
    std::string_view tenant_name) {
  if (absl::Status s = ValidateTenantName(tenant_name); !s.ok()) return s;
  {
    // Cheap pre-check so a normal start does not pay for an Argon2 hash.
    absl::MutexLock lock(&mu_);
    absl::StatusOr<int64_t> n = CountTenantsLocked();
    if (!n.ok()) return n.status();
    if (*n > 0) return std::optional<CreatedKey>();
  }
  absl::StatusOr<KeyMaterial> material = NewKeyMaterial();
  if (!material.ok()) return material.status();

  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;
  // Re-check under the write lock: another process may have bootstrapped meanwhile.
  absl::StatusOr<int64_t> n = CountTenantsLocked();
  if (!n.ok()) return n.status();
  if (*n > 0) return std::optional<CreatedKey>();
  absl::StatusOr<Tenant> tenant = InsertTenantLocked(tenant_name);
  if (!tenant.ok()) return tenant.status();
  absl::StatusOr<CreatedKey> created = InsertKeyLocked(*tenant, *std::move(material));
  if (!created.ok()) return created.status();
  if (absl::Status s = txn.Commit(); !s.ok()) return s;
  return std::optional<CreatedKey>(*std::move(created));
}

absl::StatusOr<std::vector<ApiKeyInfo>> SqliteControlPlane::ListKeys() {
  absl::MutexLock lock(&mu_);
  StmtScope scope(stmts_[kSelectKeys].get());
  std::vector<ApiKeyInfo> out;
  int rc;
  while ((rc = sqlite3_step(scope.get())) == SQLITE_ROW) out.push_back(ReadKeyInfo(scope.get()));
  if (rc != SQLITE_DONE) return Error(rc, "list keys");
  return out;
}

absl::Status SqliteControlPlane::RevokeKey(int64_t key_id) {
  absl::MutexLock lock(&mu_);
  StmtScope scope(stmts_[kRevokeKey].get());
  sqlite3_bind_int64(scope.get(), 1, key_id);
  sqlite3_bind_int64(scope.get(), 2, NowUnixSeconds());
  const int rc = sqlite3_step(scope.get());
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("revoke key ", key_id));
  // COALESCE keeps the first revocation time; the row still counts as changed.
  if (sqlite3_changes(db_.get()) == 0) {
    return absl::NotFoundError(absl::StrCat("API key id ", key_id, " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ControlPlane::KeyRecord> SqliteControlPlane::FindKeyByDigest(
    std::string_view digest) {
  if (digest.size() != internal::kDigestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key digest must be ", internal::kDigestBytes, " bytes, got ", digest.size()));
  }
  absl::MutexLock lock(&mu_);
  StmtScope scope(stmts_[kSelectKeyByDigest].get());
  BindBlob(scope.get(), 1, digest);
  const int rc = sqlite3_step(scope.get());
  if (rc == SQLITE_DONE) return absl::NotFoundError("no API key has this digest");
  if (rc != SQLITE_ROW) return Error(rc, "look up key digest");
  KeyRecord r;
  r.info = ReadKeyInfo(scope.get());
  r.argon2_fingerprint = ColumnText(scope.get(), 6);
  return r;
}

absl::StatusOr<std::vector<int64_t>> SqliteControlPlane::RevokedKeyIds() {
  absl::MutexLock lock(&mu_);
  StmtScope scope(stmts_[kSelectRevoked].get());
  std::vector<int64_t> out;
  int rc;
  while ((rc = sqlite3_step(scope.get())) == SQLITE_ROW) {
    out.push_back(sqlite3_column_int64(scope.get(), 0));
  }
  if (rc != SQLITE_DONE) return Error(rc, "list revoked keys");
  return out;
}

}  // namespace

absl::Status ValidateTenantName(std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tenant name is empty; ", kTenantNameRule));
  }
  if (name.size() > kMaxTenantNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("tenant name ", Quote(name), " is ", name.size(),
                                                   " characters; ", kTenantNameRule));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || (i > 0 && (c == '_' || c == '-'))) continue;
    return absl::InvalidArgumentError(absl::StrCat("tenant name ", Quote(name), " has ",
                                                   DescribeBadChar(c), " at position ", i, "; ",
                                                   kTenantNameRule));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Open(
    const std::filesystem::path& db_file) {
  return SqliteControlPlane::Open(db_file);
}

}  // namespace observex::tenant
