// The embedded engine behind storage/store.h.
//
// Layout under options.dir (and options.cold_dir for the cold tier):
//   <tenant id>/series.log                       the tenant's series index (hot dir only)
//   <tenant id>/<table>/<YYYY-MM-DD>/<part>/     immutable parts (storage/part.h)
//   quarantine/<tenant id>/<table>/<day>/<part>  parts that failed a checksum
//
// Locking: per (tenant, table) the head's lock comes before the table's `mu`, which guards
// the part lists; the head's publish callback and scans' snapshots both take them in that
// order, which is what makes "parts + head" a consistent view. `maint_mu` serialises the
// writers of one table's parts (a seal, a merge, a retention drop or a cold move) and owns
// the part name sequence. The store's `mu_` guards only the tenant map.
//
// Parts that leave the registry (merged, dropped, moved, quarantined) are deleted when the
// last scan holding them lets go, so a running scan never loses a file underneath it. A
// crash between writing a merged part and deleting its inputs leaves both on disk; on open
// a part whose WAL range lies inside a higher-level part's range of the same day is such an
// input and is removed.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/logging.h"
#include "storage/series_index.h"
#include "storage/store.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;

constexpr const Table (&kTables)[std::size(kAllTables)] = kAllTables;
// Appends wait while all heads together hold more than this many times
// StoreOptions::max_head_bytes_total (see WaitForHeadRoom).
constexpr uint64_t kHeadBytesHardFactor = 2;
constexpr absl::Duration kHeadWaitWithoutProgress = absl::Seconds(5);
constexpr char kQuarantineDir[] = "quarantine";
// The merge thread's nice value: CFS then gives it ~1/10 of a core's share against a
// normal-priority thread that wants the same core.
constexpr int kMergeNice = 10;

size_t TableIndex(Table t) { return static_cast<size_t>(t) - 1; }

uint64_t PartBytes(const Manifest& m) {
  uint64_t n = m.bloom_bytes;
  for (const auto& c : m.columns) n += c.file_bytes;
  return n;
}

uint64_t PlainBytes(const Manifest& m) {
  uint64_t n = 0;
  for (const auto& c : m.columns) n += c.plain_bytes;
  return n;
}

// The day of a time-column value, clamped to the range of day numbers (open-ended scan
// bounds in milliseconds lie far outside it).
int32_t ClampedDay(const TableSchema& schema, int64_t t) {
  const int64_t per_day = schema.time_units_per_day();
  int64_t d = t / per_day;
  if (t % per_day < 0) --d;
  return static_cast<int32_t>(std::clamp<int64_t>(d, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

bool ParseDay(const std::string& name, int32_t* day) {
  // YYYY-MM-DD -> days since the epoch, accepting only names DayDirName produces.
  int y = 0, mo = 0, d = 0;
  if (name.size() != 10 || std::sscanf(name.c_str(), "%4d-%2d-%2d", &y, &mo, &d) != 3) {
    return false;
  }
  const absl::CivilDay cd(y, mo, d);
  const int64_t days = cd - absl::CivilDay(1970, 1, 1);
  if (DayDirName(static_cast<int32_t>(days)) != name) return false;
  *day = static_cast<int32_t>(days);
  return true;
}

// A registered part. Deleted from disk when the last holder releases it after it left the
// registry.
struct PartHandle {
  std::shared_ptr<const PartReader> reader;
  PartInfo info;
  mutable std::atomic<bool> remove_on_release{false};

  ~PartHandle() {
    if (!remove_on_release.load()) return;
    // Out of the part namespace first: a crash while the files are being deleted then leaves
    // a temporary directory, removed at the next start, never a part with files missing.
    std::error_code ec;
    const fs::path doomed = info.dir.parent_path() /
                            absl::StrCat(kTempPartPrefix, "del-", info.dir.filename().string());
    fs::rename(info.dir, doomed, ec);
    const fs::path& victim = ec ? info.dir : doomed;
    fs::remove_all(victim, ec);
    if (ec) OBX_LOG_WARN("storage: cannot remove {}: {}", victim.string(), ec.message());
  }
};
using PartPtr = std::shared_ptr<const PartHandle>;

struct TableState {
  TableState(const TableSchema& schema, int64_t tenant, const HeadOptions& options)
      : head(schema, tenant, options) {}

  TableHead head;
  absl::Mutex mu;                                                     // after head's lock
  std::map<int32_t, std::vector<PartPtr>> parts ABSL_GUARDED_BY(mu);  // per day, oldest first
  // Per day: the highest WAL LSN its parts hold (kept after the day is dropped).
  std::map<int32_t, uint64_t> persisted ABSL_GUARDED_BY(mu);
  uint64_t max_persisted ABSL_GUARDED_BY(mu) = 0;
  bool any_persisted ABSL_GUARDED_BY(mu) = false;

  absl::Mutex maint_mu;  // one part writer at a time
  uint64_t next_sequence ABSL_GUARDED_BY(maint_mu) = 1;

  void NotePersisted(int32_t day, const std::optional<WalRange>& range)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!range) return;
    uint64_t& p = persisted[day];
    p = std::max(p, range->last);
    max_persisted = any_persisted ? std::max(max_persisted, range->last) : range->last;
    any_persisted = true;
  }
};

// The table's parts, oldest day first, whose time range meets [mint, maxt]. Called inside a
// head snapshot, so parts and head rows form one consistent view.
std::vector<PartPtr> PartsOverlapping(TableState& ts, const TableSchema& schema, int64_t mint,
                                      int64_t maxt) {
  std::vector<PartPtr> parts;
  const int32_t min_day = ClampedDay(schema, mint);
  const int32_t max_day = ClampedDay(schema, maxt);
  absl::MutexLock l(&ts.mu);
  for (auto it = ts.parts.lower_bound(min_day); it != ts.parts.end() && it->first <= max_day;
       ++it) {
    for (const PartPtr& p : it->second) {
      const Manifest& m = p->reader->manifest();
      if (m.max_time >= mint && m.min_time <= maxt) parts.push_back(p);
    }
  }
  return parts;
}

struct TenantState {
  int64_t id = 0;
  std::unique_ptr<SeriesIndex> index;
  std::array<std::unique_ptr<TableState>, std::size(kAllTables)> tables;
  TableState& table(Table t) { return *tables[TableIndex(t)]; }
};

// Collects warnings from the scans of one query; shared by its sources.
class Warnings {
 public:
  void Add(std::string w) {
    absl::MutexLock l(&mu_);
    if (std::find(list_.begin(), list_.end(), w) == list_.end()) list_.push_back(std::move(w));
  }
  std::vector<std::string> Get() const {
    absl::MutexLock l(&mu_);
    return list_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> list_ ABSL_GUARDED_BY(mu_);
};

class EmbeddedStore;

// A part's scan that turns a checksum failure into quarantine + a warning + end of stream,
// so the query goes on with the other parts.
class QuarantiningSource final : public RowSource {
 public:
  QuarantiningSource(std::unique_ptr<PartScan> inner, PartPtr part, const EmbeddedStore* store,
                     std::shared_ptr<Warnings> warnings)
      : inner_(std::move(inner)),
        part_(std::move(part)),
        store_(store),
        warnings_(std::move(warnings)) {}

  absl::StatusOr<bool> Next(ColumnBatch* out) override;
  bool truncated() const override { return !failed_ && inner_->truncated(); }
  const std::vector<std::string>& column_names() const override { return inner_->column_names(); }

 private:
  std::unique_ptr<PartScan> inner_;
  PartPtr part_;
  const EmbeddedStore* store_;
  std::shared_ptr<Warnings> warnings_;
  bool failed_ = false;
};

class StoreScanResult final : public ScanResult {
 public:
  StoreScanResult(std::unique_ptr<RowSource> rows, std::shared_ptr<Warnings> warnings)
      : rows_(std::move(rows)), warnings_(std::move(warnings)) {}
  RowSource& rows() override { return *rows_; }
  std::vector<std::string> warnings() const override { return warnings_->Get(); }

 private:
  std::unique_ptr<RowSource> rows_;
  std::shared_ptr<Warnings> warnings_;
};

class EmbeddedStore final : public Store {
 public:
  explicit EmbeddedStore(StoreOptions options)
      : options_(std::move(options)),
        block_cache_(options_.block_cache_bytes > 0
                         ? std::make_unique<BlockCache>(options_.block_cache_bytes)
                         : nullptr) {}
  ~EmbeddedStore() override { Close(); }

  absl::Status Load();
  void StartThreads();

  absl::Status Append(int64_t tenant_id, Table table, ColumnBatch rows,
                      std::optional<uint64_t> wal_lsn) override;
  absl::StatusOr<std::vector<int64_t>> ResolveSeries(
      int64_t tenant_id, absl::Span<const query::Labels* const> labels) override;
  absl::Status UpdateMetadata(int64_t tenant_id,
                              const std::vector<query::MetricMetadata>& families) override;
  uint64_t DurableLsn(uint64_t appended_up_to) const override;

  absl::StatusOr<std::unique_ptr<ScanResult>> Scan(const TenantScope& scope, Table table,
                                                   ScanOptions options) const override;
  std::unique_ptr<query::SeriesSource> Series(const TenantScope& scope) const override;

  absl::Status Flush() override;
  absl::Status Maintain(absl::Time now) override;
  std::vector<PartInfo> Parts() const override;
  StoreStats stats() const override;
  void Close() override;

  // Scans over one tenant's table, with warnings collected in `warnings`.
  absl::StatusOr<std::unique_ptr<RowSource>> ScanTenant(int64_t tenant_id, Table table,
                                                        const ScanOptions& options,
                                                        std::shared_ptr<Warnings> warnings) const;
  TenantState* FindTenant(int64_t tenant_id) const;
  // Takes `part` out of service after a checksum failure. Idempotent.
  void Quarantine(const PartPtr& part, const absl::Status& why) const;
  // Null when StoreOptions::block_cache_bytes is 0.
  BlockCache* block_cache() const { return block_cache_.get(); }

 private:
  absl::StatusOr<TenantState*> GetOrCreateTenant(int64_t tenant_id);
  absl::StatusOr<std::unique_ptr<TenantState>> NewTenant(int64_t tenant_id);
  absl::Status LoadTier(const fs::path& root, bool cold);
  absl::Status SealTable(TenantState& tenant, Table table);
  absl::Status SealDue(absl::Time now);
  absl::Status MergeDue();
  absl::Status MergeDay(TenantState& tenant, Table table, int32_t day);
  absl::Status ApplyRetention(absl::Time now);
  absl::Status MoveCold(absl::Time now);
  absl::StatusOr<PartPtr> OpenPart(const fs::path& dir, Table table, int64_t tenant, int32_t day,
                                   bool cold) const;
  void DropParts(TableState& t, Table table, const std::vector<std::pair<int32_t, PartPtr>>& drop,
                 bool by_cap);
  std::vector<TenantState*> AllTenants() const;
  // Decoded bytes held by every head.
  uint64_t HeadBytes() const;
  // With the background thread: waits while the heads hold more than kHeadBytesHardFactor x
  // max_head_bytes_total, so a writer faster than the seals is held back (the WAL keeps the
  // backlog) instead of growing the heads without bound.
  void WaitForHeadRoom();
  void SealLoop();
  void MergeLoop();

  const StoreOptions options_;
  const std::unique_ptr<BlockCache> block_cache_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int64_t, std::unique_ptr<TenantState>> tenants_ ABSL_GUARDED_BY(mu_);
  mutable std::atomic<uint64_t> quarantined_{0};
  std::atomic<uint64_t> merges_{0};
  // The highest WAL LSN appended (for StoreOptions::max_head_wal_lag_bytes).
  std::atomic<uint64_t> newest_lsn_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread seal_thread_;
  std::thread merge_thread_;
};

absl::StatusOr<bool> QuarantiningSource::Next(ColumnBatch* out) {
  if (failed_) return false;
  auto r = inner_->Next(out);
  if (r.ok() || r.status().code() != absl::StatusCode::kDataLoss) return r;
  failed_ = true;
  store_->Quarantine(part_, r.status());
  warnings_->Add(absl::StrCat("part ", part_->info.name, " of ", DayDirName(part_->info.day), " (",
                              std::string(TableName(part_->info.table)),
                              ") failed its checksum and was quarantined; results are partial"));
  return false;
}

// ---------------------------------------------------------------------------------------
// Opening.

absl::StatusOr<std::unique_ptr<TenantState>> EmbeddedStore::NewTenant(int64_t tenant_id) {
  auto t = std::make_unique<TenantState>();
  t->id = tenant_id;
  auto index = SeriesIndex::Open(options_.dir / std::to_string(tenant_id) / kSeriesLogFileName,
                                 options_.head.fsync);
  if (!index.ok()) return index.status();
  t->index = *std::move(index);
  for (Table table : kTables) {
    t->tables[TableIndex(table)] =
        std::make_unique<TableState>(SchemaFor(table), tenant_id, options_.head);
  }
  return t;
}

absl::StatusOr<TenantState*> EmbeddedStore::GetOrCreateTenant(int64_t tenant_id) {
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = tenants_.find(tenant_id);
    if (it != tenants_.end()) return it->second.get();
  }
  if (tenant_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid tenant id ", tenant_id));
  }
  absl::MutexLock l(&mu_);
  auto it = tenants_.find(tenant_id);
  if (it != tenants_.end()) return it->second.get();
  auto t = NewTenant(tenant_id);
  if (!t.ok()) return t.status();
  TenantState* raw = t->get();
  tenants_.emplace(tenant_id, *std::move(t));
  return raw;
}

TenantState* EmbeddedStore::FindTenant(int64_t tenant_id) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = tenants_.find(tenant_id);
  return it == tenants_.end() ? nullptr : it->second.get();
}

std::vector<TenantState*> EmbeddedStore::AllTenants() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<TenantState*> out;
  for (const auto& [id, t] : tenants_) out.push_back(t.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->id < b->id; });
  return out;
}

absl::StatusOr<PartPtr> EmbeddedStore::OpenPart(const fs::path& dir, Table table, int64_t tenant,
                                                int32_t day, bool cold) const {
  auto reader = PartReader::Open(dir, SchemaFor(table), tenant);
  if (!reader.ok()) return reader.status();
  const Manifest& m = (*reader)->manifest();
  if (m.day != day) {
    return absl::DataLossError(absl::StrCat("part ", dir.string(), " holds day ", DayDirName(m.day),
                                            " but lies in ", DayDirName(day)));
  }
  auto h = std::make_shared<PartHandle>();
  h->reader = *std::move(reader);
  h->info = PartInfo{tenant, table, day, m.part_name, dir, cold, m.level, m.rows, PartBytes(m)};
  return PartPtr(std::move(h));
}

absl::Status EmbeddedStore::LoadTier(const fs::path& root, bool cold) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return absl::OkStatus();
  for (const auto& tenant_entry : fs::directory_iterator(root, ec)) {
    int64_t tenant_id = 0;
    const std::string tname = tenant_entry.path().filename().string();
    if (!tenant_entry.is_directory() || !absl::SimpleAtoi(tname, &tenant_id) || tenant_id <= 0 ||
        std::to_string(tenant_id) != tname) {
      continue;  // quarantine/ and anything not made by the engine
    }
    auto tenant = GetOrCreateTenant(tenant_id);
    if (!tenant.ok()) return tenant.status();
    for (Table table : kTables) {
      const fs::path table_dir = tenant_entry.path() / std::string(TableName(table));
      std::error_code absent;
      if (!fs::is_directory(table_dir, absent)) continue;
      TableState& ts = (*tenant)->table(table);
      for (const auto& day_entry : fs::directory_iterator(table_dir, ec)) {
        int32_t day = 0;
        if (!day_entry.is_directory() || !ParseDay(day_entry.path().filename().string(), &day)) {
          continue;
        }
        if (auto s = RemoveTemporaryParts(day_entry.path()); !s.ok()) return s;
        std::vector<fs::path> dirs;
        for (const auto& p : fs::directory_iterator(day_entry.path(), ec)) {
          if (p.is_directory()) dirs.push_back(p.path());
        }
        std::sort(dirs.begin(), dirs.end());
        for (const fs::path& dir : dirs) {
          auto part = OpenPart(dir, table, tenant_id, day, cold);
          if (!part.ok()) {
            // A file missing from a part under its final name is damage like a bad checksum:
            // the part is set aside and the rest serves. Other errors (EIO, EACCES) stop.
            const absl::StatusCode code = part.status().code();
            if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kNotFound) {
              return part.status();
            }
            auto h = std::make_shared<PartHandle>();
            h->info = PartInfo{tenant_id, table, day, dir.filename().string(), dir, cold};
            Quarantine(h, part.status());
            continue;
          }
          // A part under its final name was fully written; the sequence resumes after it.
          uint64_t seq = 0;
          const std::string name = dir.filename().string();
          if (name.rfind("p-", 0) == 0 && absl::SimpleAtoi(name.substr(2), &seq)) {
            absl::MutexLock l(&ts.maint_mu);
            ts.next_sequence = std::max(ts.next_sequence, seq + 1);
          }
          absl::MutexLock l(&ts.mu);
          auto& list = ts.parts[day];
          // The same part in both tiers: a cold move finished its copy; keep the cold one.
          auto same = std::find_if(list.begin(), list.end(),
                                   [&](const PartPtr& p) { return p->info.name == name; });
          if (same != list.end()) {
            PartPtr hot = (*same)->info.cold ? *part : *same;
            PartPtr keep = (*same)->info.cold ? *same : *part;
            hot->remove_on_release = true;
            *same = keep;
            continue;
          }
          list.push_back(*part);
        }
      }
    }
  }
  if (ec) return fileutil::ErrnoStatus(ec.value(), "list", root);
  return absl::OkStatus();
}

absl::Status EmbeddedStore::Load() {
  if (auto s = fileutil::CreateDirs(options_.dir, options_.head.fsync); !s.ok()) return s;
  if (!options_.cold_dir.empty()) {
    if (auto s = fileutil::CreateDirs(options_.cold_dir, options_.head.fsync); !s.ok()) return s;
  }
  if (auto s = LoadTier(options_.dir, false); !s.ok()) return s;
  if (!options_.cold_dir.empty()) {
    if (auto s = LoadTier(options_.cold_dir, true); !s.ok()) return s;
  }
  // Remove merge inputs a crash left next to their merged part, then order each day's parts
  // by name (creation order) and record what the WAL no longer needs to give us.
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      TableState& ts = tenant->table(table);
      absl::MutexLock l(&ts.mu);
      for (auto& [day, list] : ts.parts) {
        std::vector<PartPtr> keep;
        for (const PartPtr& p : list) {
          const auto& r = p->reader->manifest().wal_range;
          const bool covered = r && std::any_of(list.begin(), list.end(), [&](const PartPtr& q) {
                                 const auto& qr = q->reader->manifest().wal_range;
                                 return q != p && q->info.level > p->info.level && qr &&
                                        qr->first <= r->first && r->last <= qr->last;
                               });
          if (covered) {
            OBX_LOG_INFO("storage: removing {}: a merged part holds its rows",
                         p->info.dir.string());
            p->remove_on_release = true;
            continue;
          }
          keep.push_back(p);
        }
        // WAL order, as seals appended them and merges kept them (a merged part has a newer
        // name than the parts after it): merges pick neighbours in this order.
        std::sort(keep.begin(), keep.end(), [](const PartPtr& a, const PartPtr& b) {
          const auto& ra = a->reader->manifest().wal_range;
          const auto& rb = b->reader->manifest().wal_range;
          const uint64_t fa = ra ? ra->first : 0, fb = rb ? rb->first : 0;
          return fa != fb ? fa < fb : a->info.name < b->info.name;
        });
        list = std::move(keep);
        for (const PartPtr& p : list) ts.NotePersisted(day, p->reader->manifest().wal_range);
      }
    }
  }
  return absl::OkStatus();
}

void EmbeddedStore::StartThreads() {
  if (!options_.background) return;
  seal_thread_ = std::thread([this] { SealLoop(); });
  merge_thread_ = std::thread([this] { MergeLoop(); });
}

void EmbeddedStore::Close() {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (seal_thread_.joinable()) seal_thread_.join();
  if (merge_thread_.joinable()) merge_thread_.join();
}

// ---------------------------------------------------------------------------------------
// Write path.

absl::Status EmbeddedStore::Append(int64_t tenant_id, Table table, ColumnBatch rows,
                                   std::optional<uint64_t> wal_lsn) {
  const TableSchema& schema = SchemaFor(table);
  if (auto s = schema.CheckBatch(rows); !s.ok()) return s;
  if (rows.rows() == 0) return absl::OkStatus();
  auto tenant = GetOrCreateTenant(tenant_id);
  if (!tenant.ok()) return tenant.status();
  TableState& ts = (*tenant)->table(table);

  // Replay after a restart: drop the rows of days whose parts already hold this entry.
  if (wal_lsn) {
    absl::flat_hash_set<int32_t> skip_days;
    {
      absl::MutexLock l(&ts.mu);
      if (ts.any_persisted && *wal_lsn <= ts.max_persisted) {
        for (const auto& [day, last] : ts.persisted) {
          if (*wal_lsn <= last) skip_days.insert(day);
        }
      }
    }
    if (!skip_days.empty()) {
      const auto& times = std::get<0>(rows.columns[schema.time_column]);
      std::vector<uint32_t> idx;
      for (size_t i = 0; i < times.size(); ++i) {
        if (!skip_days.contains(schema.DayOf(times[i]))) idx.push_back(static_cast<uint32_t>(i));
      }
      if (idx.empty()) return absl::OkStatus();
      ColumnBatch kept = schema.NewBatch();
      for (size_t c = 0; c < kept.columns.size(); ++c) {
        AppendRows(rows.columns[c], idx, kept.columns[c]);
      }
      rows = std::move(kept);
    }
  }

  if (table == Table::kSamples) {
    // The series index learns which days each series has samples in (for look-ups by time).
    // NoteDay takes repeated ids; nearly every batch lies in one day, passed as it is.
    const auto& ids = std::get<0>(rows.columns[schema.IndexOf("series_id")]);
    const auto& t = std::get<0>(rows.columns[schema.time_column]);
    const int32_t first_day = schema.DayOf(t[0]);
    size_t other = 0;
    while (other < t.size() && schema.DayOf(t[other]) == first_day) ++other;
    if (other == t.size()) {
      if (auto s = (*tenant)->index->NoteDay(ids, first_day); !s.ok()) return s;
    } else {
      absl::flat_hash_map<int32_t, std::vector<int64_t>> by_day;
      for (size_t i = 0; i < ids.size(); ++i) by_day[schema.DayOf(t[i])].push_back(ids[i]);
      for (const auto& [day, v] : by_day) {
        if (auto s = (*tenant)->index->NoteDay(v, day); !s.ok()) return s;
      }
    }
  }
  if (wal_lsn) {
    uint64_t seen = newest_lsn_.load(std::memory_order_relaxed);
    while (*wal_lsn > seen && !newest_lsn_.compare_exchange_weak(seen, *wal_lsn)) {
    }
  }
  WaitForHeadRoom();
  return ts.head.Append(std::move(rows), wal_lsn, absl::Now());
}

uint64_t EmbeddedStore::HeadBytes() const {
  uint64_t bytes = 0;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) bytes += tenant->table(table).head.stats().bytes;
  }
  return bytes;
}

void EmbeddedStore::WaitForHeadRoom() {
  if (!options_.background) return;  // nothing would seal: the caller drives Maintain()
  const uint64_t cap = kHeadBytesHardFactor * options_.max_head_bytes_total;
  // Seals that make no progress (a failing disk) do not hold the caller for ever: after
  // kHeadWaitWithoutProgress without the heads shrinking, the append goes ahead.
  uint64_t least = HeadBytes();
  absl::Time progress = absl::Now();
  for (uint64_t bytes = least; bytes > cap; bytes = HeadBytes()) {
    if (bytes < least) {
      least = bytes;
      progress = absl::Now();
    } else if (absl::Now() - progress > kHeadWaitWithoutProgress) {
      return;
    }
    std::unique_lock<std::mutex> l(stop_mu_);
    if (stop_cv_.wait_for(l, std::chrono::milliseconds(10), [this] { return stopping_; })) return;
  }
}

absl::StatusOr<std::vector<int64_t>> EmbeddedStore::ResolveSeries(
    int64_t tenant_id, absl::Span<const query::Labels* const> labels) {
  auto tenant = GetOrCreateTenant(tenant_id);
  if (!tenant.ok()) return tenant.status();
  return (*tenant)->index->Resolve(labels);
}

absl::Status EmbeddedStore::UpdateMetadata(int64_t tenant_id,
                                           const std::vector<query::MetricMetadata>& families) {
  if (families.empty()) return absl::OkStatus();
  auto tenant = GetOrCreateTenant(tenant_id);
  if (!tenant.ok()) return tenant.status();
  return (*tenant)->index->UpdateMetadata(families);
}

uint64_t EmbeddedStore::DurableLsn(uint64_t appended_up_to) const {
  uint64_t lsn = appended_up_to;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      if (auto oldest = tenant->table(table).head.OldestWalLsn()) lsn = std::min(lsn, *oldest);
    }
  }
  return lsn;
}

// ---------------------------------------------------------------------------------------
// Read path.

absl::StatusOr<std::unique_ptr<RowSource>> EmbeddedStore::ScanTenant(
    int64_t tenant_id, Table table, const ScanOptions& options,
    std::shared_ptr<Warnings> warnings) const {
  const TableSchema& schema = SchemaFor(table);
  TenantState* tenant = FindTenant(tenant_id);
  if (tenant == nullptr) {
    // Nothing stored for this tenant: still validate the options, then an empty stream.
    auto filter_check = TableHead(schema, tenant_id, HeadOptions{}).Scan(options);
    if (!filter_check.ok()) return filter_check.status();
    return MergeScan(schema, options, {});
  }
  TableState& ts = tenant->table(table);
  std::vector<PartPtr> parts;
  TableHead::Snapshot snapshot = ts.head.TakeSnapshot(
      [&] { parts = PartsOverlapping(ts, schema, options.min_time, options.max_time); });
  std::vector<SourceFactory> sources;
  for (PartPtr& p : parts) {
    sources.push_back(
        [this, p, warnings](const ScanOptions& o) -> absl::StatusOr<std::unique_ptr<RowSource>> {
          auto scan = PartScan::Create(p->reader, o);
          if (!scan.ok()) return scan.status();
          return std::make_unique<QuarantiningSource>(*std::move(scan), p, this, warnings);
        });
  }
  sources.push_back([&ts, snap = std::move(snapshot)](const ScanOptions& o) mutable {
    return ts.head.ScanSnapshot(std::move(snap), o);
  });
  return MergeScan(schema, options, std::move(sources));
}

absl::StatusOr<std::unique_ptr<ScanResult>> EmbeddedStore::Scan(const TenantScope& scope,
                                                                Table table,
                                                                ScanOptions options) const {
  auto warnings = std::make_shared<Warnings>();
  auto rows = ScanTenant(scope.tenant_id(), table, options, warnings);
  if (!rows.ok()) return rows.status();
  return std::make_unique<StoreScanResult>(*std::move(rows), std::move(warnings));
}

void EmbeddedStore::Quarantine(const PartPtr& part, const absl::Status& why) const {
  const PartInfo& info = part->info;
  bool removed = false;
  if (TenantState* tenant = FindTenant(info.tenant_id)) {
    TableState& ts = tenant->table(info.table);
    absl::MutexLock l(&ts.mu);
    auto it = ts.parts.find(info.day);
    if (it != ts.parts.end()) {
      auto& list = it->second;
      auto pos = std::find(list.begin(), list.end(), part);
      if (pos != list.end()) {
        list.erase(pos);
        removed = true;
      }
    }
  }
  const fs::path root = info.cold ? options_.cold_dir : options_.dir;
  fs::path target = root / kQuarantineDir / std::to_string(info.tenant_id) /
                    std::string(TableName(info.table)) / DayDirName(info.day) / info.name;
  std::error_code ec;
  if (!fs::exists(info.dir, ec)) return;  // moved already by another scan
  for (int n = 1; fs::exists(target, ec); ++n) {
    target.replace_filename(absl::StrCat(info.name, "-", n));
  }
  fs::create_directories(target.parent_path(), ec);
  fs::rename(info.dir, target, ec);
  OBX_LOG_ERROR("storage: part {} quarantined to {}{}: {}", info.dir.string(), target.string(),
                ec ? absl::StrCat(" (move failed: ", ec.message(), ")") : "", why.ToString());
  if (!ec || removed) {
    quarantined_.fetch_add(1);
    if (options_.observer) options_.observer->OnQuarantine(info.table);
  }
}

// The tenant's samples through the series index, as a query::SeriesSource.
class StoreSeriesSource final : public query::SeriesSource {
 public:
  StoreSeriesSource(const EmbeddedStore* store, int64_t tenant_id)
      : store_(store), tenant_id_(tenant_id), warnings_(std::make_shared<storage::Warnings>()) {}

  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(
      const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
      int64_t maxt_ms) const override;
  absl::StatusOr<std::vector<query::Labels>> Series(
      const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
      int64_t maxt_ms) const override;
  absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
      int64_t maxt_ms) const override;
  absl::StatusOr<std::vector<std::string>> LabelValues(
      std::string_view name, const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
      int64_t maxt_ms) const override;
  absl::StatusOr<std::vector<query::MetricMetadata>> Metadata(
      std::string_view metric) const override;
  std::vector<std::string> Warnings() const override { return warnings_->Get(); }

 private:
  std::vector<int64_t> Match(const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
                             int64_t maxt_ms) const {
    TenantState* t = store_->FindTenant(tenant_id_);
    if (t == nullptr) return {};
    const TableSchema& s = SamplesSchema();
    return t->index->Match(matchers, ClampedDay(s, mint_ms), ClampedDay(s, maxt_ms));
  }

  const EmbeddedStore* store_;
  const int64_t tenant_id_;
  std::shared_ptr<storage::Warnings> warnings_;
};

// A samples block's first and last series id, from the sparse index.
int64_t FirstId(const BlockMeta& m) { return std::get<int64_t>(m.first_key[0]); }
int64_t LastId(const BlockMeta& m) { return std::get<int64_t>(m.last_key[0]); }

// Whether none of a samples block's rows of the wanted ids [it, end) (sorted, the first not
// below the block's first id) can lie in [mint, maxt], by the sparse index alone: rows are
// sorted by (series id, time), so the block's first series starts at its first key's time
// and its last series ends at its last key's time. A series cut by a block edge (most are:
// a day of 15 s scrapes is 5,760 rows, a block 8,192) is then read from one block, not two.
bool WantedRowsOutOfRange(const BlockMeta& m, const int64_t* it, const int64_t* end, int64_t mint,
                          int64_t maxt) {
  // One series: the block's time range decided already.
  const int64_t first = FirstId(m), last = LastId(m);
  if (first == last || m.first_key.size() < 2 || m.last_key.size() < 2) return false;
  for (; it != end && *it <= last; ++it) {
    if (*it == first) {
      if (std::get<int64_t>(m.first_key[1]) <= maxt) return false;
    } else if (*it == last) {
      if (std::get<int64_t>(m.last_key[1]) >= mint) return false;
    } else {
      return false;  // a series wholly inside the block: its times are not in the index
    }
  }
  return true;
}

// What one Select reads: the ids asked for (ascending), the parts overlapping the range
// (oldest first) with their blocks' id ranges, and the head's samples of those ids taken at
// the same moment (the head is small and is read once, up front). Immutable once built,
// except for the set of parts that failed a checksum, so workers share it.
struct SampleSelection {
  struct PartBlocks {
    PartPtr part;
    // Blocks that may hold ids in [ids.front(), ids.back()] (by the sparse index).
    size_t begin = 0, end = 0;
  };
  const EmbeddedStore* store = nullptr;
  std::shared_ptr<storage::Warnings> warnings;
  const SeriesIndex* index = nullptr;
  std::vector<int64_t> ids;
  int64_t mint = 0, maxt = 0;
  int series_col = -1, time_col = -1, value_col = -1;
  std::vector<PartBlocks> parts;
  BlockCache* block_cache = nullptr;  // for small selections only
  absl::flat_hash_map<int64_t, std::vector<query::SamplePoint>> head;

  mutable absl::Mutex failed_mu;
  mutable std::vector<bool> failed ABSL_GUARDED_BY(failed_mu);  // per part

  bool Failed(size_t p) const {
    absl::MutexLock l(&failed_mu);
    return failed[p];
  }
  // A checksum failure takes the part out of service and the query goes on without it.
  void Fail(size_t p, const absl::Status& why) const {
    {
      absl::MutexLock l(&failed_mu);
      if (failed[p]) return;
      failed[p] = true;
    }
    const PartPtr& part = parts[p].part;
    store->Quarantine(part, why);
    warnings->Add(absl::StrCat("part ", part->info.name, " of ", DayDirName(part->info.day), " (",
                               std::string(TableName(part->info.table)),
                               ") failed its checksum and was quarantined; results are partial"));
  }
};

// The samples of ids [id_begin, id_end) of a selection, series after series.
struct SampleBatch {
  size_t id_begin = 0, id_end = 0;
  std::vector<query::SamplePoint> samples;
  std::vector<size_t> begin, length;     // per id of the batch
  std::vector<uint8_t> unsorted, stale;  // per id: needs sorting; holds a staleness marker
  // With a transform applied ahead: its results, series after series, and where each is.
  std::vector<query::SamplePoint> results;
  std::vector<size_t> result_begin, result_length;  // per id of the batch

  size_t Bytes() const {
    return (samples.capacity() + results.capacity()) * sizeof(query::SamplePoint) +
           (begin.capacity() + length.capacity() + result_begin.capacity() +
            result_length.capacity()) *
               sizeof(size_t);
  }
  absl::Status status;
};

// One decoding thread's reusable buffers. The time and value columns of a batch's blocks
// are kept decoded until the batch is assembled, so each wanted sample is copied once.
struct BatchDecoder {
  struct Segment {
    uint32_t id;  // index into the batch's ids
    uint32_t length;
    const int64_t* times;
    const double* values;
  };
  BlockReadContext ctx;
  std::vector<ValueRun> series_runs;  // of the block being read
  // Pools of decoded time and value columns; the first `used` of each hold this batch's.
  // Separate, so that a slot always holds the same type and keeps its memory from batch to
  // batch (a block with nothing in range takes a time column and no value column).
  struct ColumnPool {
    std::vector<std::unique_ptr<Column>> columns;
    size_t used = 0;
    Column* Next() {
      if (used == columns.size()) columns.push_back(std::make_unique<Column>());
      return columns[used++].get();
    }
  };
  ColumnPool time_columns, value_columns;
  std::vector<Segment> segments;
  // The rows [begin, end) of a block holding a wanted series (id: index into the batch's ids).
  struct WantedRun {
    uint32_t id;
    size_t begin, end;
  };
  std::vector<WantedRun> wanted_runs;       // of the block being read
  std::vector<RowWindow> windows;           // rows of it to decode
  std::vector<query::SamplePoint> scratch;  // the transform's

  // Roughly: each pooled column holds a block.
  size_t Bytes() const {
    return (time_columns.columns.size() + value_columns.columns.size() + 1) * kDefaultBlockRows *
           sizeof(int64_t);
  }

  // Appends the wanted rows of one block to the segments. Only the rows of wanted series
  // are decoded from the time column, and only those in the time range from the value column:
  // a short read of a few series decodes their runs' stretches, not whole blocks.
  absl::Status ReadBlock(const SampleSelection& sel, const PartReader& part, size_t block,
                         size_t id_begin, size_t id_end) {
    // Rows are sorted by series id: the block's series are its runs of equal ids.
    if (auto s = part.ReadBlockRuns(sel.series_col, block, ctx, &series_runs); !s.ok()) return s;
    const int64_t* ids = sel.ids.data();
    size_t k = id_begin;
    wanted_runs.clear();
    for (const ValueRun& run : series_runs) {
      if (k < id_end && ids[k] < run.value) {
        k = std::lower_bound(ids + k, ids + id_end, run.value) - ids;
      }
      if (k == id_end) break;
      if (ids[k] == run.value) {
        wanted_runs.push_back({static_cast<uint32_t>(k - id_begin), run.begin,
                               static_cast<size_t>(run.begin) + run.length});
      }
    }
    if (wanted_runs.empty()) return absl::OkStatus();
    windows.clear();
    for (const WantedRun& run : wanted_runs) windows.push_back({run.begin, run.end});
    Column* tc = time_columns.Next();
    // A run is one series in time order: the time column narrows it to its stretch inside
    // the range by bisection (of the shared sequence, when the run is a slice of one).
    if (auto s = part.ReadTimeWindows(sel.time_col, block, ctx, tc, std::span<RowWindow>(windows),
                                      sel.mint, sel.maxt);
        !s.ok()) {
      return s;
    }
    const int64_t* times = std::get<0>(*tc).data();
    const size_t segments_before = segments.size();
    size_t kept_windows = 0;
    for (size_t i = 0; i < wanted_runs.size(); ++i) {
      const RowWindow w = windows[i];
      if (w.begin == w.end) continue;
      segments.push_back(
          {wanted_runs[i].id, static_cast<uint32_t>(w.end - w.begin), times + w.begin, nullptr});
      windows[kept_windows++] = w;
    }
    windows.resize(kept_windows);
    const size_t kept = segments.size();
    if (kept == segments_before) return absl::OkStatus();
    Column* vc = value_columns.Next();
    if (auto s = part.ReadBlock(sel.value_col, block, ctx, vc, windows); !s.ok()) return s;
    const double* values = std::get<1>(*vc).data();
    for (size_t si = segments_before; si < kept; ++si) {
      segments[si].values = values + (segments[si].times - times);
    }
    return absl::OkStatus();
  }

  // Decodes a batch and, with a transform, applies it to each of its series while their
  // samples are hot in the cache.
  void Decode(const SampleSelection& sel, size_t id_begin, size_t id_end,
              const query::SeriesTransform* transform, SampleBatch* out) {
    DecodeSamples(sel, id_begin, id_end, out);
    if (transform == nullptr || !out->status.ok()) return;
    const size_t m = id_end - id_begin;
    out->results.clear();
    out->result_begin.assign(m, 0);
    out->result_length.assign(m, 0);
    for (size_t i = 0; i < m; ++i) {
      if (out->length[i] == 0) continue;
      out->result_begin[i] = out->results.size();
      transform->Apply(absl::MakeConstSpan(out->samples.data() + out->begin[i], out->length[i]),
                       out->stale[i] != 0, &scratch, &out->results);
      out->result_length[i] = out->results.size() - out->result_begin[i];
    }
  }

  void DecodeSamples(const SampleSelection& sel, size_t id_begin, size_t id_end, SampleBatch* out) {
    out->id_begin = id_begin;
    out->id_end = id_end;
    out->status = absl::OkStatus();
    segments.clear();
    time_columns.used = value_columns.used = 0;
    ctx.cache = sel.block_cache;
    const int64_t lo = sel.ids[id_begin], hi = sel.ids[id_end - 1];
    const int64_t* ids = sel.ids.data();
    for (size_t p = 0; p < sel.parts.size(); ++p) {
      if (sel.Failed(p)) continue;
      const auto& pb = sel.parts[p];
      const PartReader& reader = *pb.part->reader;
      const auto& blocks = reader.manifest().blocks;
      size_t b = std::partition_point(blocks.begin() + pb.begin, blocks.begin() + pb.end,
                                      [&](const BlockMeta& m) { return LastId(m) < lo; }) -
                 blocks.begin();
      for (; b < pb.end && FirstId(blocks[b]) <= hi; ++b) {
        if (blocks[b].max_time < sel.mint || blocks[b].min_time > sel.maxt) continue;
        const int64_t* it = std::lower_bound(ids + id_begin, ids + id_end, FirstId(blocks[b]));
        if (it == ids + id_end || *it > LastId(blocks[b])) continue;
        if (WantedRowsOutOfRange(blocks[b], it, ids + id_end, sel.mint, sel.maxt)) continue;
        const size_t segments_before = segments.size();
        absl::Status s = ReadBlock(sel, reader, b, id_begin, id_end);
        if (s.ok()) continue;
        segments.resize(segments_before);  // nothing of a failed block
        // Another thread may have quarantined the part meanwhile (its files moved away).
        if (sel.Failed(p)) break;
        if (s.code() != absl::StatusCode::kDataLoss) {
          out->status = s;
          return;
        }
        sel.Fail(p, s);
        break;
      }
    }
    const size_t m = id_end - id_begin;
    out->begin.assign(m, 0);
    out->length.assign(m, 0);
    for (const Segment& s : segments) out->length[s.id] += s.length;
    size_t total = 0;
    if (!sel.head.empty()) {
      for (size_t i = 0; i < m; ++i) {
        auto it = sel.head.find(sel.ids[id_begin + i]);
        if (it != sel.head.end()) out->length[i] += it->second.size();
      }
    }
    for (size_t i = 0; i < m; ++i) {
      out->begin[i] = total;
      total += out->length[i];
    }
    // The buffer is reused from batch to batch and never shrinks: growing it is the only
    // time its memory is touched before being written.
    if (out->samples.size() < total) out->samples.resize(total);
    // Segments are in source order (parts oldest first, then blocks, then rows), so each
    // series' stretches land in that order; the head's rows come last, as the newest.
    std::vector<size_t>& fill = out->length;
    std::fill(fill.begin(), fill.end(), 0);
    query::SamplePoint* dst = out->samples.data();
    // Each source is in time order per series (a run is sorted by time, ties possible);
    // together they may interleave. Order is checked where it can break: inside a run
    // (ties) and where a series' stretches meet.
    std::vector<uint8_t>& unsorted = out->unsorted;
    unsorted.assign(m, 0);
    std::vector<uint8_t>& stale = out->stale;
    stale.assign(m, 0);
    for (const Segment& s : segments) {
      query::SamplePoint* o = dst + out->begin[s.id] + fill[s.id];
      uint8_t bad = fill[s.id] > 0 && o[-1].t_ms >= s.times[0];
      uint8_t marker = 0;
      for (uint32_t r = 0; r < s.length; ++r) {
        o[r] = {s.times[r], s.values[r]};
        marker |= std::bit_cast<uint64_t>(s.values[r]) == query::kStaleNaNBits;
      }
      for (uint32_t r = 1; r < s.length; ++r) bad |= s.times[r] <= s.times[r - 1];
      unsorted[s.id] |= bad;
      stale[s.id] |= marker;
      fill[s.id] += s.length;
    }
    if (!sel.head.empty()) {
      for (size_t i = 0; i < m; ++i) {
        auto it = sel.head.find(sel.ids[id_begin + i]);
        if (it == sel.head.end()) continue;
        query::SamplePoint* o = dst + out->begin[i] + fill[i];
        std::copy(it->second.begin(), it->second.end(), o);
        const size_t len = it->second.size();
        unsorted[i] |= fill[i] > 0 && len > 0 && o[-1].t_ms >= o[0].t_ms;
        for (size_t r = 0; r < len; ++r) {
          unsorted[i] |= r > 0 && o[r].t_ms <= o[r - 1].t_ms;
          stale[i] |= query::IsStaleNaN(o[r].value);
        }
        fill[i] += len;
      }
    }
    for (size_t i = 0; i < m; ++i) {
      if (!unsorted[i]) continue;
      // A stable sort, and a timestamp written twice keeps its newest value (the later
      // source). Usually the sources hold disjoint, time-ordered stretches and this is not
      // reached.
      query::SamplePoint* s = dst + out->begin[i];
      const size_t len = fill[i];
      std::stable_sort(s, s + len, [](const auto& a, const auto& b) { return a.t_ms < b.t_ms; });
      size_t w = 0;
      for (size_t r = 0; r < len; ++r) {
        if (w > 0 && s[w - 1].t_ms == s[r].t_ms) {
          s[w - 1] = s[r];
        } else {
          s[w++] = s[r];
        }
      }
      fill[i] = w;
    }
  }
};

// Buffers kept between selections, so that steady querying neither maps nor zeroes fresh
// memory and reuses its decompression contexts. Bounded: at most `max_kept` objects, and one
// holding more than kMaxPooledBytes is freed instead.
template <typename T>
class BufferPool {
 public:
  static constexpr size_t kMaxPooledBytes = size_t{32} << 20;
  explicit BufferPool(size_t max_kept) : max_kept_(max_kept) {}
  std::unique_ptr<T> Get() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!kept_.empty()) {
        std::unique_ptr<T> t = std::move(kept_.back());
        kept_.pop_back();
        return t;
      }
    }
    return std::make_unique<T>();
  }
  void Put(std::unique_ptr<T> t) {
    if (t == nullptr || t->Bytes() > kMaxPooledBytes) return;
    std::lock_guard<std::mutex> l(mu_);
    if (kept_.size() < max_kept_) kept_.push_back(std::move(t));
  }

 private:
  const size_t max_kept_;
  std::mutex mu_;
  std::vector<std::unique_ptr<T>> kept_;
};

constexpr size_t kPooledBatches = 8;
constexpr size_t kPooledDecoders = 4;
BufferPool<SampleBatch>& BatchPool() {
  static BufferPool<SampleBatch> pool(kPooledBatches);
  return pool;
}
BufferPool<BatchDecoder>& DecoderPool() {
  static BufferPool<BatchDecoder> pool(kPooledDecoders);
  return pool;
}

// Streams a selection's series in id order, a batch of ids at a time. Batches are decoded
// ahead by up to kMaxWorkers threads that the set owns and joins, at most kAhead batches
// beyond the one being read, so memory stays bounded by the batch size however large the
// selection; the reader decodes a batch itself when no worker has started it, and a small
// selection entirely.
// Below this many rows to read (by the blocks' time spans) a selection is decoded without
// worker threads: about a millisecond of decoding.
constexpr double kMinRowsForWorkers = 100'000;

class StoredSeriesSet final : public query::SeriesSet {
 public:
  static constexpr size_t kMaxWorkers = 2;
  static constexpr size_t kAhead = 3;

  StoredSeriesSet() = default;
  StoredSeriesSet(std::shared_ptr<const SampleSelection> sel,
                  std::vector<std::pair<size_t, size_t>> batches, size_t workers,
                  size_t workers_ahead)
      : sel_(std::move(sel)),
        batches_(std::move(batches)),
        worker_count_(workers),
        workers_ahead_(workers_ahead),
        slots_(batches_.size()) {}
  ~StoredSeriesSet() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    BatchPool().Put(std::move(cur_));
    for (auto& b : free_) BatchPool().Put(std::move(b));
    for (auto& b : slots_) BatchPool().Put(std::move(b));
    DecoderPool().Put(std::move(local_));
  }

  bool Next() override {
    if (!status_.ok()) return false;
    if (!started_) {
      // Workers start here, so that a transform offered before the first Next() is known
      // to them.
      started_ = true;
      const size_t n = transform_ != nullptr ? workers_ahead_ : worker_count_;
      for (size_t w = 0; w < n; ++w) workers_.emplace_back([this] { Work(); });
    }
    while (true) {
      if (cur_ != nullptr) {
        while (++pos_ < cur_->id_end - cur_->id_begin) {
          if (cur_->length[pos_] == 0) continue;
          labels_ = sel_->index->LabelsOf(sel_->ids[cur_->id_begin + pos_]);
          return true;
        }
      }
      if (next_batch_ == batches_.size()) {
        Recycle();
        return false;
      }
      if (!Take(next_batch_++)) return false;
      pos_ = static_cast<size_t>(-1);
    }
  }
  const query::Labels& labels() const override { return labels_; }
  absl::Span<const query::SamplePoint> samples() const override {
    return absl::MakeConstSpan(cur_->samples.data() + cur_->begin[pos_], cur_->length[pos_]);
  }
  absl::Status status() const override { return status_; }
  bool MayHaveStaleMarkers() const override { return cur_->stale[pos_] != 0; }
  bool ApplyAhead(std::shared_ptr<const query::SeriesTransform> t) override {
    if (started_ || t == nullptr) return false;
    transform_ = std::move(t);
    return true;
  }
  absl::Span<const query::SamplePoint> transformed() const override {
    return absl::MakeConstSpan(cur_->results.data() + cur_->result_begin[pos_],
                               cur_->result_length[pos_]);
  }

 private:
  void Recycle() {
    if (cur_ == nullptr) return;
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(std::move(cur_));
  }

  // Makes batch k current: decodes it here without workers, else waits for it.
  bool Take(size_t k) {
    const query::SeriesTransform* transform = transform_.get();
    if (workers_.empty()) {
      if (cur_ == nullptr) cur_ = BatchPool().Get();
      if (local_ == nullptr) local_ = DecoderPool().Get();
      local_->Decode(*sel_, batches_[k].first, batches_[k].second, transform, cur_.get());
    } else {
      std::unique_lock<std::mutex> l(mu_);
      if (cur_ != nullptr) free_.push_back(std::move(cur_));
      reading_ = k;
      cv_.notify_all();
      if (slots_[k] == nullptr && next_start_ == k) {
        // No worker has started it: the reader decodes it rather than wait idle.
        next_start_ = k + 1;
        if (!free_.empty()) {
          cur_ = std::move(free_.back());
          free_.pop_back();
        }
        l.unlock();
        if (cur_ == nullptr) cur_ = BatchPool().Get();
        if (local_ == nullptr) local_ = DecoderPool().Get();
        local_->Decode(*sel_, batches_[k].first, batches_[k].second, transform, cur_.get());
      } else {
        cv_.wait(l, [&] { return slots_[k] != nullptr; });
        cur_ = std::move(slots_[k]);
      }
    }
    if (!cur_->status.ok()) {
      status_ = cur_->status;
      return false;
    }
    return true;
  }

  void Work() {
    std::unique_ptr<BatchDecoder> dec = DecoderPool().Get();
    const query::SeriesTransform* transform = transform_.get();
    while (true) {
      size_t k;
      std::unique_ptr<SampleBatch> b;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] {
          return stop_ || next_start_ >= batches_.size() || next_start_ < reading_ + kAhead;
        });
        if (stop_ || next_start_ >= batches_.size()) break;
        k = next_start_++;
        if (!free_.empty()) {
          b = std::move(free_.back());
          free_.pop_back();
        }
      }
      if (b == nullptr) b = BatchPool().Get();
      dec->Decode(*sel_, batches_[k].first, batches_[k].second, transform, b.get());
      {
        std::lock_guard<std::mutex> l(mu_);
        slots_[k] = std::move(b);
      }
      cv_.notify_all();
    }
    DecoderPool().Put(std::move(dec));
  }

  std::shared_ptr<const SampleSelection> sel_;
  std::vector<std::pair<size_t, size_t>> batches_;  // [id_begin, id_end) each
  size_t next_batch_ = 0;                           // the reader's next batch
  std::unique_ptr<SampleBatch> cur_;
  size_t pos_ = static_cast<size_t>(-1);
  query::Labels labels_;
  absl::Status status_;
  std::unique_ptr<BatchDecoder> local_;  // without workers
  const size_t worker_count_ = 0;
  // With a transform the reader only collects results, so workers take every core.
  const size_t workers_ahead_ = 0;
  bool started_ = false;  // the first Next() has been called (workers run)
  std::shared_ptr<const query::SeriesTransform> transform_;  // set before workers start

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  size_t reading_ = 0;                               // batch the reader waits for or reads
  size_t next_start_ = 0;                            // next batch a worker takes
  std::vector<std::unique_ptr<SampleBatch>> slots_;  // decoded, not yet taken
  std::vector<std::unique_ptr<SampleBatch>> free_;   // buffers to reuse
  std::vector<std::thread> workers_;
};

absl::StatusOr<std::unique_ptr<query::SeriesSet>> StoreSeriesSource::Select(
    const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const {
  std::vector<int64_t> ids;
  if (!matchers.empty() && mint_ms <= maxt_ms) ids = Match(matchers, mint_ms, maxt_ms);
  TenantState* tenant = store_->FindTenant(tenant_id_);
  if (ids.empty() || tenant == nullptr) return std::make_unique<StoredSeriesSet>();
  auto sel = std::make_shared<SampleSelection>();
  sel->store = store_;
  sel->warnings = warnings_;
  sel->index = tenant->index.get();
  sel->mint = mint_ms;
  sel->maxt = maxt_ms;
  const TableSchema& schema = SamplesSchema();
  sel->series_col = schema.IndexOf("series_id");
  sel->time_col = schema.IndexOf("time");
  sel->value_col = schema.IndexOf("value");

  TableState& ts = tenant->table(Table::kSamples);
  std::vector<PartPtr> parts;
  TableHead::Snapshot snapshot =
      ts.head.TakeSnapshot([&] { parts = PartsOverlapping(ts, schema, mint_ms, maxt_ms); });

  // The head's rows of these ids, read once (it holds recent data only).
  if (!snapshot.empty()) {
    ScanOptions o;
    o.min_time = mint_ms;
    o.max_time = maxt_ms;
    o.columns = {"series_id", "time", "value"};
    o.predicates.push_back(Predicate::In("series_id", ids));
    o.order = ScanOrder::kSortKey;
    o.max_batch_rows = 65'536;
    auto rows = ts.head.ScanSnapshot(std::move(snapshot), o);
    if (!rows.ok()) return rows.status();
    ColumnBatch batch;
    while (true) {
      auto more = (*rows)->Next(&batch);
      if (!more.ok()) return more.status();
      if (!*more) break;
      const auto& sid = std::get<0>(batch.columns[0]);
      const auto& t = std::get<0>(batch.columns[1]);
      const auto& v = std::get<1>(batch.columns[2]);
      std::vector<query::SamplePoint>* cur = nullptr;
      int64_t last_id = 0;
      for (size_t i = 0; i < sid.size(); ++i) {
        if (cur == nullptr || sid[i] != last_id) {
          last_id = sid[i];
          cur = &sel->head[last_id];
        }
        cur->push_back({t[i], v[i]});
      }
    }
  }

  // Blocks of the parts that may hold the ids, for sizing the batches, and the rows of them
  // the range covers (assuming rows spread evenly over a block's time span), for deciding
  // whether decoding is worth more threads.
  size_t candidate_blocks = 0;
  double rows_in_range = 0;
  for (PartPtr& p : parts) {
    SampleSelection::PartBlocks pb;
    const auto& blocks = p->reader->manifest().blocks;
    pb.begin = std::partition_point(blocks.begin(), blocks.end(),
                                    [&](const BlockMeta& m) { return LastId(m) < ids.front(); }) -
               blocks.begin();
    pb.end = std::partition_point(blocks.begin() + pb.begin, blocks.end(),
                                  [&](const BlockMeta& m) { return FirstId(m) <= ids.back(); }) -
             blocks.begin();
    if (pb.begin == pb.end) continue;
    for (size_t b = pb.begin; b < pb.end; ++b) {
      const BlockMeta& m = blocks[b];
      if (m.max_time < mint_ms || m.min_time > maxt_ms) continue;
      auto it = std::lower_bound(ids.begin(), ids.end(), FirstId(m));
      if (it == ids.end() || *it > LastId(m)) continue;
      ++candidate_blocks;
      const double span = static_cast<double>(m.max_time - m.min_time) + 1;
      const double overlap =
          static_cast<double>(std::min(m.max_time, maxt_ms) - std::max(m.min_time, mint_ms)) + 1;
      rows_in_range += static_cast<double>(m.rows) * overlap / span;
    }
    pb.part = std::move(p);
    sel->parts.push_back(std::move(pb));
  }
  sel->failed.assign(sel->parts.size(), false);

  // Batches of about kBlocksPerBatch blocks (8,192 rows each, ~3 MB of samples). A block
  // holding the ids on both sides of a cut is decoded by both batches (a run rarely starts
  // on a block boundary), so batches are large; a small selection still gets a batch per
  // worker and one more, so that both cores decode it.
  constexpr size_t kBlocksPerBatch = 24;
  const size_t want = std::max(candidate_blocks / kBlocksPerBatch,
                               std::min(candidate_blocks / 8, StoredSeriesSet::kMaxWorkers + 1));
  const size_t nbatches = std::clamp<size_t>(want, 1, ids.size());
  std::vector<std::pair<size_t, size_t>> batches;
  for (size_t b = 0; b < nbatches; ++b) {
    const size_t begin = ids.size() * b / nbatches, end = ids.size() * (b + 1) / nbatches;
    if (begin < end) batches.emplace_back(begin, end);
  }
  // The reader evaluates what it reads and decodes a batch itself when no worker has started
  // it, so workers leave it a core: one fewer than the cores (more would only take turns
  // with the reader, which is the critical path).
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  // A read of few rows (an instant query's minutes of a few series) is decoded by the reader
  // alone: starting threads would cost more than they save.
  const bool small = rows_in_range < kMinRowsForWorkers;
  // Only small selections use the block cache: a dashboard's short queries repeat, and a
  // long range read once would only push their blocks out.
  if (small) sel->block_cache = store_->block_cache();
  const size_t workers = small || batches.size() < 2
                             ? 0
                             : std::min({StoredSeriesSet::kMaxWorkers, hw - 1, batches.size()});
  // A reader whose transform the workers apply has little to do but wait for them: were it
  // left a core, it would find each batch already started by a worker and the decoding would
  // run on one core.
  const size_t workers_ahead = small || batches.size() < 2
                                   ? 0
                                   : std::min({StoredSeriesSet::kMaxWorkers, hw, batches.size()});
  sel->ids = std::move(ids);
  return std::make_unique<StoredSeriesSet>(std::move(sel), std::move(batches), workers,
                                           workers_ahead);
}

absl::StatusOr<std::vector<query::Labels>> StoreSeriesSource::Series(
    const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const {
  TenantState* t = store_->FindTenant(tenant_id_);
  std::vector<query::Labels> out;
  if (t == nullptr) return out;
  for (int64_t id : Match(matchers, mint_ms, maxt_ms)) out.push_back(t->index->LabelsOf(id));
  std::sort(out.begin(), out.end(), [](const query::Labels& a, const query::Labels& b) {
    return query::CompareLabels(a, b) < 0;
  });
  return out;
}

absl::StatusOr<std::vector<std::string>> StoreSeriesSource::LabelNames(
    const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const {
  auto series = Series(matchers, mint_ms, maxt_ms);
  if (!series.ok()) return series.status();
  absl::flat_hash_set<std::string> names;
  for (const auto& l : *series) {
    for (const auto& item : l.items()) names.insert(item.name);
  }
  std::vector<std::string> out(names.begin(), names.end());
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> StoreSeriesSource::LabelValues(
    std::string_view name, const std::vector<query::LabelMatcher>& matchers, int64_t mint_ms,
    int64_t maxt_ms) const {
  auto series = Series(matchers, mint_ms, maxt_ms);
  if (!series.ok()) return series.status();
  absl::flat_hash_set<std::string> values;
  for (const auto& l : *series) {
    std::string_view v = l.Get(name);
    if (!v.empty()) values.emplace(v);
  }
  std::vector<std::string> out(values.begin(), values.end());
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<query::MetricMetadata>> StoreSeriesSource::Metadata(
    std::string_view metric) const {
  TenantState* t = store_->FindTenant(tenant_id_);
  if (t == nullptr) return std::vector<query::MetricMetadata>{};
  return t->index->Metadata(metric);
}

std::unique_ptr<query::SeriesSource> EmbeddedStore::Series(const TenantScope& scope) const {
  return std::make_unique<StoreSeriesSource>(this, scope.tenant_id());
}

// ---------------------------------------------------------------------------------------
// Maintenance.

absl::Status EmbeddedStore::SealTable(TenantState& tenant, Table table) {
  TableState& ts = tenant.table(table);
  // A samples part must never name a series the index log could lose.
  if (table == Table::kSamples) {
    if (auto s = tenant.index->Sync(); !s.ok()) return s;
  }
  absl::MutexLock m(&ts.maint_mu);
  auto written =
      ts.head.Seal(options_.dir, &ts.next_sequence, [&](const std::vector<Manifest>& manifests) {
        absl::MutexLock l(&ts.mu);
        for (const Manifest& mf : manifests) {
          const fs::path dir = DayDir(options_.dir, tenant.id, table, mf.day) / mf.part_name;
          auto part = OpenPart(dir, table, tenant.id, mf.day, false);
          if (!part.ok()) {
            // Written and fsynced, but unreadable now: it is loaded
            // (or quarantined) at the next start.
            OBX_LOG_ERROR("storage: cannot open new part {}: {}", dir.string(),
                          part.status().ToString());
            continue;
          }
          ts.parts[mf.day].push_back(*part);
          ts.NotePersisted(mf.day, mf.wal_range);
        }
      });
  if (!written.ok()) return written.status();
  if (options_.observer) {
    for (const Manifest& mf : *written) {
      options_.observer->OnPartWritten(table, mf.rows, PartBytes(mf), false);
    }
  }
  return absl::OkStatus();
}

absl::Status EmbeddedStore::Flush() {
  absl::Status first;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      if (auto s = SealTable(*tenant, table); !s.ok() && first.ok()) first = s;
    }
  }
  return first;
}

absl::Status EmbeddedStore::SealDue(absl::Time now) {
  absl::Status first;
  struct Candidate {
    TenantState* tenant;
    Table table;
    uint64_t bytes;
  };
  std::vector<Candidate> others;
  uint64_t total = 0;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      TableHead& head = tenant->table(table).head;
      // A head far behind the WAL's newest entry holds its checkpoint back.
      const std::optional<uint64_t> oldest = head.OldestWalLsn();
      const uint64_t newest = newest_lsn_.load();
      const bool holds_wal = options_.max_head_wal_lag_bytes > 0 && oldest && newest > *oldest &&
                             newest - *oldest > options_.max_head_wal_lag_bytes;
      if (head.ShouldSeal(now) || holds_wal) {
        if (auto s = SealTable(*tenant, table); !s.ok()) {
          OBX_LOG_ERROR("storage: sealing tenant {} {}: {}", tenant->id,
                        std::string(TableName(table)), s.ToString());
          if (first.ok()) first = s;
        }
        continue;
      }
      const uint64_t bytes = head.stats().bytes;
      total += bytes;
      if (bytes > 0) others.push_back({tenant, table, bytes});
    }
  }
  // All heads together over budget: seal the largest first.
  std::sort(others.begin(), others.end(),
            [](const Candidate& a, const Candidate& b) { return a.bytes > b.bytes; });
  for (const Candidate& c : others) {
    if (total <= options_.max_head_bytes_total) break;
    if (auto s = SealTable(*c.tenant, c.table); !s.ok() && first.ok()) first = s;
    total -= c.bytes;
  }
  return first;
}

absl::Status EmbeddedStore::MergeDay(TenantState& tenant, Table table, int32_t day) {
  TableState& ts = tenant.table(table);
  const TableSchema& schema = SchemaFor(table);
  std::vector<PartPtr> inputs;
  {
    absl::MutexLock l(&ts.mu);
    auto it = ts.parts.find(day);
    if (it == ts.parts.end() || it->second.size() <= options_.merge.max_parts_per_day) {
      return absl::OkStatus();
    }
    // Only neighbours in creation order are merged: their WAL ranges are then contiguous,
    // and a merged part's range never spans a part that was left out, which is what lets
    // Load tell merge inputs left by a crash from parts written later. Among the windows
    // of neighbouring hot parts within the bounds, the one with the fewest bytes goes first.
    const auto& list = it->second;
    // As many neighbours as bring the day back to its bound in one merge (within the
    // bounds of one merge), the cheapest such window first; merged parts take part again,
    // so the count stays bounded while seals keep adding small parts.
    const size_t want = std::clamp<size_t>(list.size() - options_.merge.max_parts_per_day + 1, 2,
                                           options_.merge.max_inputs);
    size_t best_short = SIZE_MAX;  // want - len of the best window
    uint64_t best_bytes = UINT64_MAX;
    size_t best_begin = 0, best_len = 0;
    for (size_t begin = 0; begin < list.size(); ++begin) {
      uint64_t bytes = 0, plain = 0;
      for (size_t len = 1; begin + len <= list.size() && len <= want; ++len) {
        const PartPtr& p = list[begin + len - 1];
        if (p->info.cold) break;
        const uint64_t b = PlainBytes(p->reader->manifest());
        if (len >= 2 && plain + b > options_.merge.max_input_bytes) break;
        plain += b;
        bytes += p->info.bytes;
        const size_t short_by = want - len;
        if (len >= 2 && (short_by < best_short || (short_by == best_short && bytes < best_bytes))) {
          best_short = short_by;
          best_bytes = bytes;
          best_begin = begin;
          best_len = len;
        }
      }
    }
    inputs.assign(list.begin() + static_cast<long>(best_begin),
                  list.begin() + static_cast<long>(best_begin + best_len));
  }
  if (inputs.size() < 2) return absl::OkStatus();
  // Read every input in sort-key order; WritePart sorts the union again, taking the batches
  // where they lie.
  std::vector<ColumnBatch> batches;
  std::optional<WalRange> range;
  uint32_t level = 0;
  for (const PartPtr& p : inputs) {
    ScanOptions o;
    o.order = ScanOrder::kSortKey;
    o.max_batch_rows = 65'536;
    auto scan = PartScan::Create(p->reader, o);
    if (!scan.ok()) return scan.status();
    ColumnBatch b;
    while (true) {
      auto more = (*scan)->Next(&b);
      if (!more.ok()) {
        if (more.status().code() == absl::StatusCode::kDataLoss) Quarantine(p, more.status());
        return more.status();
      }
      if (!*more) break;
      batches.push_back(std::move(b));
      b = ColumnBatch();
    }
    const auto& r = p->reader->manifest().wal_range;
    if (r) {
      range =
          range ? WalRange{std::min(range->first, r->first), std::max(range->last, r->last)} : *r;
    }
    level = std::max(level, p->info.level + 1);
  }
  PartWriteOptions w;
  w.tenant_id = tenant.id;
  w.day = day;
  {
    absl::MutexLock m(&ts.maint_mu);
    w.name = PartName(ts.next_sequence++);
  }
  w.wal_range = range;
  w.level = level;
  w.block_rows = options_.head.block_rows;
  w.zstd_level = options_.head.zstd_level;
  w.fsync = options_.head.fsync;
  std::vector<const ColumnBatch*> chunks;
  chunks.reserve(batches.size());
  for (const ColumnBatch& b : batches) chunks.push_back(&b);
  auto manifest = WritePart(options_.dir, schema, std::span<const ColumnBatch* const>(chunks), w);
  if (!manifest.ok()) return manifest.status();
  auto merged =
      OpenPart(DayDir(options_.dir, tenant.id, table, day) / w.name, table, tenant.id, day, false);
  if (!merged.ok()) return merged.status();
  {
    absl::MutexLock l(&ts.mu);
    auto& list = ts.parts[day];
    std::vector<PartPtr> next;
    bool placed = false;
    for (const PartPtr& p : list) {
      if (std::find(inputs.begin(), inputs.end(), p) != inputs.end()) {
        // The merged part takes the place of its first input, keeping creation order.
        if (!placed) next.push_back(*merged);
        placed = true;
        p->remove_on_release = true;
        continue;
      }
      next.push_back(p);
    }
    if (!placed) {
      // Every input left meanwhile (the day was dropped): so does the merged part.
      (*merged)->remove_on_release = true;
      return absl::OkStatus();
    }
    list = std::move(next);
  }
  merges_.fetch_add(1);
  if (options_.observer) {
    options_.observer->OnPartWritten(table, manifest->rows, PartBytes(*manifest), true);
  }
  OBX_LOG_DEBUG("storage: merged {} parts of tenant {} {} {} into {} ({} rows)", inputs.size(),
                tenant.id, std::string(TableName(table)), DayDirName(day), w.name, manifest->rows);
  if (options_.merge.max_bytes_per_second > 0) {
    // Throttle: give ingest the CPU and disk back in proportion to the work done.
    const double secs = static_cast<double>(PartBytes(*manifest)) /
                        static_cast<double>(options_.merge.max_bytes_per_second);
    std::unique_lock<std::mutex> l(stop_mu_);
    stop_cv_.wait_for(l, std::chrono::duration<double>(secs), [this] { return stopping_; });
  }
  return absl::OkStatus();
}

absl::Status EmbeddedStore::MergeDue() {
  absl::Status first;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      TableState& ts = tenant->table(table);
      std::vector<int32_t> days;
      {
        absl::MutexLock l(&ts.mu);
        for (const auto& [day, list] : ts.parts) {
          if (list.size() > options_.merge.max_parts_per_day) days.push_back(day);
        }
      }
      for (int32_t day : days) {
        if (auto s = MergeDay(*tenant, table, day); !s.ok()) {
          OBX_LOG_ERROR("storage: merging tenant {} {} {}: {}", tenant->id,
                        std::string(TableName(table)), DayDirName(day), s.ToString());
          if (first.ok()) first = s;
        }
      }
    }
  }
  return first;
}

void EmbeddedStore::DropParts(TableState& ts, Table table,
                              const std::vector<std::pair<int32_t, PartPtr>>& drop, bool by_cap) {
  {
    absl::MutexLock l(&ts.mu);
    for (const auto& [day, p] : drop) {
      auto it = ts.parts.find(day);
      if (it == ts.parts.end()) continue;
      auto& list = it->second;
      list.erase(std::remove(list.begin(), list.end(), p), list.end());
      if (list.empty()) ts.parts.erase(it);
      p->remove_on_release = true;
    }
  }
  for (const auto& [day, p] : drop) {
    if (options_.observer) options_.observer->OnRetentionDrop(table, p->info.bytes, by_cap);
  }
}

absl::Status EmbeddedStore::ApplyRetention(absl::Time now) {
  // Days that ended before the cut-off go whole.
  if (options_.retention != absl::InfiniteDuration()) {
    const int64_t cutoff_s = absl::ToUnixSeconds(now - options_.retention);
    const int64_t cutoff_day = cutoff_s / 86'400 - (cutoff_s % 86'400 < 0 ? 1 : 0);
    const int32_t last_dropped = static_cast<int32_t>(cutoff_day) - 1;
    for (TenantState* tenant : AllTenants()) {
      for (Table table : kTables) {
        TableState& ts = tenant->table(table);
        absl::MutexLock m(&ts.maint_mu);
        std::vector<std::pair<int32_t, PartPtr>> drop;
        {
          absl::MutexLock l(&ts.mu);
          for (auto it = ts.parts.begin(); it != ts.parts.end() && it->first <= last_dropped;
               ++it) {
            for (const PartPtr& p : it->second) drop.emplace_back(it->first, p);
          }
        }
        if (drop.empty()) continue;
        OBX_LOG_INFO("storage: retention drops {} parts of tenant {} {} up to {}", drop.size(),
                     tenant->id, std::string(TableName(table)), DayDirName(last_dropped));
        DropParts(ts, table, drop, false);
      }
    }
  }
  if (options_.max_disk_bytes == 0) return absl::OkStatus();
  // Over the disk cap: the oldest day (over every tenant and table) goes first, but never
  // today's, which is still being written.
  const int32_t today = static_cast<int32_t>(absl::ToUnixSeconds(now) / 86'400);
  while (true) {
    uint64_t total = 0;
    int32_t oldest = INT32_MAX;
    for (TenantState* tenant : AllTenants()) {
      for (Table table : kTables) {
        TableState& ts = tenant->table(table);
        absl::MutexLock l(&ts.mu);
        for (const auto& [day, list] : ts.parts) {
          for (const PartPtr& p : list) total += p->info.bytes;
          if (!list.empty()) oldest = std::min(oldest, day);
        }
      }
    }
    if (total <= options_.max_disk_bytes) return absl::OkStatus();
    if (oldest >= today) {
      OBX_LOG_WARN(
          "storage: {} bytes stored exceed max_disk_bytes ({}) with only today's data "
          "left; nothing more is dropped",
          total, options_.max_disk_bytes);
      return absl::OkStatus();
    }
    for (TenantState* tenant : AllTenants()) {
      for (Table table : kTables) {
        TableState& ts = tenant->table(table);
        absl::MutexLock m(&ts.maint_mu);
        std::vector<std::pair<int32_t, PartPtr>> drop;
        {
          absl::MutexLock l(&ts.mu);
          auto it = ts.parts.find(oldest);
          if (it != ts.parts.end()) {
            for (const PartPtr& p : it->second) drop.emplace_back(oldest, p);
          }
        }
        if (drop.empty()) continue;
        OBX_LOG_WARN("storage: over max_disk_bytes ({} > {}): dropping {} of tenant {} {}", total,
                     options_.max_disk_bytes, DayDirName(oldest), tenant->id,
                     std::string(TableName(table)));
        DropParts(ts, table, drop, true);
      }
    }
  }
}

absl::Status EmbeddedStore::MoveCold(absl::Time now) {
  if (options_.cold_dir.empty() || options_.cold_after == absl::InfiniteDuration()) {
    return absl::OkStatus();
  }
  const int64_t cutoff_s = absl::ToUnixSeconds(now - options_.cold_after);
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      TableState& ts = tenant->table(table);
      std::vector<PartPtr> move;
      {
        absl::MutexLock l(&ts.mu);
        for (const auto& [day, list] : ts.parts) {
          if ((static_cast<int64_t>(day) + 1) * 86'400 > cutoff_s) break;
          for (const PartPtr& p : list) {
            if (!p->info.cold) move.push_back(p);
          }
        }
      }
      for (const PartPtr& p : move) {
        absl::MutexLock m(&ts.maint_mu);
        const fs::path day_dir = DayDir(options_.cold_dir, tenant->id, table, p->info.day);
        const fs::path tmp = day_dir / absl::StrCat(kTempPartPrefix, p->info.name);
        const fs::path dest = day_dir / p->info.name;
        std::error_code ec;
        if (auto s = fileutil::CreateDirs(day_dir, options_.head.fsync); !s.ok()) return s;
        fs::remove_all(tmp, ec);
        fs::copy(p->info.dir, tmp, fs::copy_options::recursive, ec);
        if (ec) return fileutil::ErrnoStatus(ec.value(), "copy to cold tier", tmp);
        if (options_.head.fsync) {
          for (const auto& f : fs::directory_iterator(tmp)) {
            auto fd = fileutil::OpenForRead(f.path());
            if (!fd.ok()) return fd.status();
            if (auto s = fileutil::Fsync(fd->get(), f.path()); !s.ok()) return s;
          }
          if (auto s = fileutil::FsyncDir(tmp); !s.ok()) return s;
        }
        fs::rename(tmp, dest, ec);
        if (ec) return fileutil::ErrnoStatus(ec.value(), "rename into cold tier", dest);
        if (options_.head.fsync) {
          if (auto s = fileutil::FsyncDir(day_dir); !s.ok()) return s;
        }
        auto cold = OpenPart(dest, table, tenant->id, p->info.day, true);
        if (!cold.ok()) return cold.status();
        {
          absl::MutexLock l(&ts.mu);
          auto& list = ts.parts[p->info.day];
          auto pos = std::find(list.begin(), list.end(), p);
          if (pos == list.end()) {
            (*cold)->remove_on_release = true;  // dropped or quarantined meanwhile
            continue;
          }
          *pos = *cold;
          p->remove_on_release = true;
        }
        if (options_.observer) options_.observer->OnColdMove(table, p->info.bytes);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status EmbeddedStore::Maintain(absl::Time now) {
  absl::Status first = SealDue(now);
  for (auto s : {MergeDue(), ApplyRetention(now), MoveCold(now)}) {
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

void EmbeddedStore::SealLoop() {
  bool behind = false;
  while (true) {
    {
      // Heads still over their budget after a round (appends went on while it sealed): the
      // next round starts at once.
      std::unique_lock<std::mutex> l(stop_mu_);
      if (stop_cv_.wait_for(l,
                            behind ? std::chrono::milliseconds(0)
                                   : absl::ToChronoMilliseconds(options_.maintenance_interval),
                            [this] { return stopping_; })) {
        return;
      }
    }
    // Errors are logged; the rows stay in the head and the WAL.
    behind = SealDue(absl::Now()).ok() && HeadBytes() > options_.max_head_bytes_total;
  }
}

void EmbeddedStore::MergeLoop() {
  // Merges are the one deferrable CPU hog: below normal priority (Linux nice is per thread)
  // they take what queries, ingest and seals leave, instead of an equal share of the cores,
  // so a trace look-up during a merge waits less. The byte throttle still bounds their I/O.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kMergeNice) != 0) {
    OBX_LOG_WARN("storage: cannot lower the merge thread's priority: {}", std::strerror(errno));
  }
  while (true) {
    {
      std::unique_lock<std::mutex> l(stop_mu_);
      if (stop_cv_.wait_for(l, absl::ToChronoMilliseconds(options_.maintenance_interval * 5),
                            [this] { return stopping_; })) {
        return;
      }
    }
    const absl::Time now = absl::Now();
    for (auto s : {MergeDue(), ApplyRetention(now), MoveCold(now)}) {
      if (!s.ok()) OBX_LOG_ERROR("storage: maintenance: {}", s.ToString());
    }
  }
}

std::vector<PartInfo> EmbeddedStore::Parts() const {
  std::vector<PartInfo> out;
  for (TenantState* tenant : AllTenants()) {
    for (Table table : kTables) {
      TableState& ts = tenant->table(table);
      absl::MutexLock l(&ts.mu);
      for (const auto& [day, list] : ts.parts) {
        for (const PartPtr& p : list) out.push_back(p->info);
      }
    }
  }
  return out;
}

StoreStats EmbeddedStore::stats() const {
  StoreStats s;
  for (TenantState* tenant : AllTenants()) {
    s.series += tenant->index->size();
    for (Table table : kTables) {
      TableState& ts = tenant->table(table);
      const auto hs = ts.head.stats();
      s.head_rows += hs.rows;
      s.head_bytes += hs.bytes;
      absl::MutexLock l(&ts.mu);
      for (const auto& [day, list] : ts.parts) {
        for (const PartPtr& p : list) {
          ++s.parts;
          s.part_bytes += p->info.bytes;
          if (p->info.cold) s.cold_bytes += p->info.bytes;
        }
      }
    }
  }
  s.quarantined_parts = quarantined_.load();
  s.merges = merges_.load();
  if (block_cache_ != nullptr) {
    const BlockCache::Stats c = block_cache_->stats();
    s.block_cache_hits = c.hits;
    s.block_cache_misses = c.misses;
    s.block_cache_bytes = c.bytes;
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenEmbeddedStore(StoreOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("storage needs a directory");
  if (options.merge.max_inputs < 2) {
    return absl::InvalidArgumentError("merge.max_inputs must be at least 2");
  }
  auto store = std::make_unique<EmbeddedStore>(std::move(options));
  if (auto s = store->Load(); !s.ok()) return s;
  store->StartThreads();
  return store;
}

}  // namespace observex::storage
