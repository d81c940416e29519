// `observex storage inspect`: what the embedded engine holds on disk, read without taking
// the directory over. It walks the same layout the engine does (storage/part.h), opens each
// part's MANIFEST with storage::PartReader, compares the file sizes with it, re-checks the
// quarantined parts to say why they failed, and counts the series of each tenant's log with
// storage::SeriesIndex::CountSeries. Nothing is written, renamed or truncated, so it can run
// beside a server; a part that vanishes while it is read (merged, dropped, moved) is skipped.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "app/commands.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "storage/part.h"
#include "storage/series_index.h"

namespace observex::app {
namespace {

namespace fs = std::filesystem;
using storage::Table;

// The engine's names (storage/engine.cc): <dir>/quarantine/... and the hot root under the
// data directory (app/serve.cc).
constexpr char kQuarantineDirName[] = "quarantine";
constexpr char kStorageDirName[] = "storage";

// Where a part directory lies, from its path alone.
struct Location {
  int64_t tenant = 0;
  Table table = Table::kSpans;
  int32_t day = 0;
  std::string name;
  bool cold = false;
  fs::path dir;
};

struct PartRecord {
  Location at;
  uint32_t level = 0;
  uint64_t rows = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  std::optional<storage::WalRange> wal;
  uint64_t disk_bytes = 0;  // every file in the directory, as the file system reports them
  uint64_t bloom_bytes = 0;
  std::vector<storage::ColumnMeta> columns;
  std::string superseded_by;  // set: another part holds these rows; not counted in totals
};

// A part that cannot be read (in service) or was taken out of service (quarantined).
struct Problem {
  Location at;
  uint64_t disk_bytes = 0;
  std::string reason;
};

struct TableTotals {
  uint64_t parts = 0;
  uint64_t rows = 0;
  uint64_t disk_bytes = 0;
  uint64_t bloom_bytes = 0;
  std::vector<storage::ColumnMeta> columns;  // summed, schema order
  std::optional<size_t> series;              // samples: from the tenant's series log
  std::string series_error;
};
using TableKey = std::pair<int64_t, Table>;

struct Filter {
  std::optional<int64_t> tenant;
  std::optional<Table> table;
  bool Accepts(int64_t t) const { return !tenant || *tenant == t; }
  bool Accepts(Table t) const { return !table || *table == t; }
};

// A directory's entries; a directory that does not exist (removed meanwhile) has none.
absl::StatusOr<std::vector<fs::directory_entry>> ListDir(const fs::path& dir) {
  std::vector<fs::directory_entry> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) out.push_back(*it);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::UnavailableError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  }
  return out;
}

bool IsDir(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}

// Names the engine makes: "42" (no sign, no leading zero), "2024-05-17".
bool ParseTenantDir(const std::string& name, int64_t* id) {
  return absl::SimpleAtoi(name, id) && *id > 0 && std::to_string(*id) == name;
}

bool ParseDayDir(const std::string& name, int32_t* day) {
  absl::CivilDay cd;
  if (name.size() != 10 || !absl::ParseCivilTime(name, &cd)) return false;
  const int64_t days = cd - absl::CivilDay(1970, 1, 1);
  if (days < std::numeric_limits<int32_t>::min() || days > std::numeric_limits<int32_t>::max()) {
    return false;
  }
  if (storage::DayDirName(static_cast<int32_t>(days)) != name) return false;
  *day = static_cast<int32_t>(days);
  return true;
}

// Part directories under `root` laid out as <tenant>/<table>/<day>/<part>; temporary
// directories of parts being written are not parts yet. Tenant ids seen go to *tenants.
absl::Status ListParts(const fs::path& root, bool cold, const Filter& filter,
                       std::vector<Location>* out, std::vector<int64_t>* tenants) {
  auto tenant_dirs = ListDir(root);
  if (!tenant_dirs.ok()) return tenant_dirs.status();
  for (const auto& te : *tenant_dirs) {
    int64_t tenant = 0;
    if (!IsDir(te) || !ParseTenantDir(te.path().filename().string(), &tenant) ||
        !filter.Accepts(tenant)) {
      continue;  // quarantine/ and anything the engine did not make
    }
    if (tenants) tenants->push_back(tenant);
    auto table_dirs = ListDir(te.path());
    if (!table_dirs.ok()) return table_dirs.status();
    for (const auto& ta : *table_dirs) {
      auto table = storage::ParseTable(ta.path().filename().string());
      if (!IsDir(ta) || !table.ok() || !filter.Accepts(*table)) continue;
      auto day_dirs = ListDir(ta.path());
      if (!day_dirs.ok()) return day_dirs.status();
      for (const auto& de : *day_dirs) {
        int32_t day = 0;
        if (!IsDir(de) || !ParseDayDir(de.path().filename().string(), &day)) continue;
        auto part_dirs = ListDir(de.path());
        if (!part_dirs.ok()) return part_dirs.status();
        for (const auto& pe : *part_dirs) {
          std::string name = pe.path().filename().string();
          if (!IsDir(pe) || name.empty() || name[0] == '.') continue;
          out->push_back(Location{tenant, *table, day, std::move(name), cold, pe.path()});
        }
      }
    }
  }
  return absl::OkStatus();
}

uint64_t DirBytes(const fs::path& dir) {
  uint64_t n = 0;
  auto entries = ListDir(dir);
  if (!entries.ok()) return 0;
  for (const auto& e : *entries) {
    std::error_code ec;
    const uintmax_t size = e.file_size(ec);
    if (!ec) n += size;
  }
  return n;
}

bool Gone(const fs::path& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) && !ec;
}

// Why a part cannot be served: its manifest (PartReader's checks), its place, and the sizes of
// its files. Empty when it looks whole.
std::string CheckFiles(const storage::PartReader& reader, const Location& at) {
  const storage::Manifest& m = reader.manifest();
  if (m.day != at.day) {
    return absl::StrCat("storage: ", at.dir.string(), ": part holds day ",
                        storage::DayDirName(m.day), " but lies in ", storage::DayDirName(at.day));
  }
  const auto check = [&](const fs::path& file, uint64_t want) -> std::string {
    std::error_code ec;
    const uintmax_t size = fs::file_size(file, ec);
    if (ec) return absl::StrCat("storage: ", file.string(), ": ", ec.message());
    if (size != want) {
      return absl::StrCat("storage: ", file.string(), ": has ", size, " bytes, the manifest says ",
                          want);
    }
    return "";
  };
  for (const auto& c : m.columns) {
    if (auto why = check(at.dir / storage::ColumnFileName(c.name), c.file_bytes); !why.empty()) {
      return why;
    }
  }
  if (m.bloom_column >= 0) {
    const auto& name = m.columns[m.bloom_column].name;
    if (auto why = check(at.dir / storage::BloomFileName(name), m.bloom_bytes); !why.empty()) {
      return why;
    }
  }
  return "";
}

// Why a quarantined part failed: the first check that fails now, reading every block (they
// are few, and the reason is what an operator needs).
std::string QuarantineReason(const Location& at) {
  auto reader = storage::PartReader::Open(at.dir, storage::SchemaFor(at.table), at.tenant);
  if (!reader.ok()) return std::string(reader.status().message());
  if (auto why = CheckFiles(**reader, at); !why.empty()) return why;
  storage::BlockReadContext ctx;
  storage::Column column;
  const storage::Manifest& m = (*reader)->manifest();
  for (size_t c = 0; c < m.columns.size(); ++c) {
    for (size_t b = 0; b < (*reader)->num_blocks(); ++b) {
      if (auto s = (*reader)->ReadBlock(static_cast<int>(c), b, ctx, &column); !s.ok()) {
        return std::string(s.message());
      }
    }
  }
  if (m.bloom_column >= 0) {
    if (auto s = (*reader)->MayContain(""); !s.ok()) return std::string(s.status().message());
  }
  return "every checksum passes now (the failure may have been a read error); see "
         "docs/storage.md on returning a part to service";
}

// Parts whose rows another part also holds, as the engine decides when it opens: the hot copy
// of a part a cold move has copied, and a merge input next to its merged part. Both are
// transient while a server runs and removed when it next starts.
void MarkSuperseded(std::vector<PartRecord>& parts) {
  // `parts` is sorted by tenant, table, day: compare within each run.
  for (size_t begin = 0; begin < parts.size();) {
    size_t end = begin;
    const auto same_day = [&](const PartRecord& a, const PartRecord& b) {
      return a.at.tenant == b.at.tenant && a.at.table == b.at.table && a.at.day == b.at.day;
    };
    while (end < parts.size() && same_day(parts[begin], parts[end])) ++end;
    for (size_t i = begin; i < end; ++i) {
      PartRecord& p = parts[i];
      for (size_t j = begin; j < end && p.superseded_by.empty(); ++j) {
        const PartRecord& q = parts[j];
        if (i == j) continue;
        if (q.at.name == p.at.name && q.at.cold && !p.at.cold) {
          p.superseded_by = absl::StrCat("its cold copy ", q.at.dir.string());
        } else if (p.wal && q.wal && q.level > p.level && q.wal->first <= p.wal->first &&
                   p.wal->last <= q.wal->last) {
          p.superseded_by = absl::StrCat("merged part ", q.at.name);
        }
      }
    }
    begin = end;
  }
}

const storage::TableSchema& Schema(Table t) { return storage::SchemaFor(t); }

absl::Time TimeOf(Table table, int64_t t) {
  return Schema(table).time_units_per_second == 1000 ? absl::FromUnixMillis(t)
                                                     : absl::FromUnixNanos(t);
}

std::string TextTime(Table table, int64_t t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", TimeOf(table, t), absl::UTCTimeZone());
}

std::string IsoTime(Table table, int64_t t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", TimeOf(table, t), absl::UTCTimeZone());
}

std::string HumanBytes(uint64_t n) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(n, " B") : absl::StrFormat("%.1f %s", v, kUnits[u]);
}

// a / b, or nothing when b is 0.
std::optional<double> Ratio(uint64_t a, uint64_t b) {
  if (b == 0) return std::nullopt;
  return static_cast<double>(a) / static_cast<double>(b);
}

std::string FormatRatio(std::optional<double> r, const char* suffix = "") {
  return r ? absl::StrFormat("%.2f%s", *r, suffix) : "-";
}

std::string TierName(bool cold) { return cold ? "cold" : "hot"; }

std::string WalText(const std::optional<storage::WalRange>& w) {
  return w ? absl::StrCat(w->first, "-", w->last) : "-";
}

// Columns padded to their widest cell; numbers right-aligned.
class TextTable {
 public:
  TextTable(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
    rows_.push_back(std::move(header));
  }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out, std::string_view indent) const {
    std::vector<size_t> width(rows_.front().size(), 0);
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows_) {
      std::string line(indent);
      for (size_t i = 0; i < r.size(); ++i) {
        const std::string pad(width[i] - r[i].size(), ' ');
        if (i > 0) line += "  ";
        line += right_[i] ? pad + r[i] : r[i] + pad;
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out << line << "\n";
    }
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

struct Report {
  fs::path hot_root;
  fs::path cold_root;  // empty: none
  std::vector<PartRecord> parts;
  std::vector<Problem> damaged;
  std::vector<Problem> quarantined;
  std::map<TableKey, TableTotals> tables;
  uint64_t vanished = 0;
};

void PrintText(const Report& r, std::ostream& out) {
  out << "Storage in " << r.hot_root.string() << " (hot)";
  if (!r.cold_root.empty()) out << " and " << r.cold_root.string() << " (cold)";
  out << ": " << r.parts.size() << " parts, " << r.damaged.size() << " damaged, "
      << r.quarantined.size() << " quarantined";
  if (r.vanished > 0) out << " (" << r.vanished << " vanished while being read)";
  out << "\n";

  if (!r.parts.empty()) {
    out << "\nParts\n";
    const bool notes = std::any_of(r.parts.begin(), r.parts.end(),
                                   [](const PartRecord& p) { return !p.superseded_by.empty(); });
    std::vector<std::string> header = {"TENANT",         "TABLE",          "DAY",    "PART",
                                       "TIER",           "LEVEL",          "ROWS",   "BYTES",
                                       "MIN TIME (UTC)", "MAX TIME (UTC)", "WAL LSN"};
    std::vector<bool> right = {true, false, false, false, false, true,
                               true, true,  false, false, false};
    if (notes) {
      header.push_back("NOTE");
      right.push_back(false);
    }
    TextTable t(std::move(header), std::move(right));
    for (const PartRecord& p : r.parts) {
      std::vector<std::string> row = {absl::StrCat(p.at.tenant),
                                      std::string(storage::TableName(p.at.table)),
                                      storage::DayDirName(p.at.day),
                                      p.at.name,
                                      TierName(p.at.cold),
                                      absl::StrCat(p.level),
                                      absl::StrCat(p.rows),
                                      absl::StrCat(p.disk_bytes),
                                      TextTime(p.at.table, p.min_time),
                                      TextTime(p.at.table, p.max_time),
                                      WalText(p.wal)};
      if (notes) row.push_back(p.superseded_by.empty() ? "" : "superseded by " + p.superseded_by);
      t.Add(std::move(row));
    }
    t.Print(out, "");
  }

  for (const auto& [key, tt] : r.tables) {
    const auto& [tenant, table] = key;
    uint64_t plain = 0;
    for (const auto& c : tt.columns) plain += c.plain_bytes;
    out << "\nTenant " << tenant << ", " << storage::TableName(table) << ": " << tt.parts
        << " parts, " << tt.rows << " rows, " << tt.disk_bytes << " bytes on disk ("
        << HumanBytes(tt.disk_bytes) << "), " << plain << " bytes plain ("
        << FormatRatio(Ratio(plain, tt.disk_bytes), "x") << "), "
        << FormatRatio(Ratio(tt.disk_bytes, tt.rows)) << " bytes/row\n";
    if (!tt.columns.empty()) {
      TextTable t({"COLUMN", "TYPE", "FILE BYTES", "ENCODED", "PLAIN", "PLAIN/FILE", "BYTES/ROW"},
                  {false, false, true, true, true, true, true});
      uint64_t column_bytes = 0;
      for (const auto& c : tt.columns) {
        column_bytes += c.file_bytes;
        t.Add({c.name, std::string(storage::ColumnTypeName(c.type)), absl::StrCat(c.file_bytes),
               absl::StrCat(c.raw_bytes), absl::StrCat(c.plain_bytes),
               FormatRatio(Ratio(c.plain_bytes, c.file_bytes)),
               FormatRatio(Ratio(c.file_bytes, tt.rows))});
      }
      t.Print(out, "  ");
      const uint64_t other = tt.disk_bytes - std::min(tt.disk_bytes, column_bytes + tt.bloom_bytes);
      out << "  other files: " << tt.bloom_bytes << " bytes of Bloom filters, " << other
          << " bytes of manifests\n";
    }
    if (table == Table::kSamples) {
      out << "  bytes per sample: " << FormatRatio(Ratio(tt.disk_bytes, tt.rows))
          << "; series in the series index: ";
      if (tt.series) {
        out << *tt.series << "\n";
      } else {
        out << (tt.series_error.empty() ? "no series log" : tt.series_error) << "\n";
      }
    }
  }

  const auto print_problems = [&](const std::vector<Problem>& list, std::string_view title,
                                  std::string_view note) {
    if (list.empty()) return;
    out << "\n" << title << " (" << list.size() << "): " << note << "\n";
    for (const Problem& p : list) {
      out << "  " << p.at.tenant << "  " << storage::TableName(p.at.table) << "  "
          << storage::DayDirName(p.at.day) << "  " << p.at.name << "  " << TierName(p.at.cold)
          << "  " << p.disk_bytes << " bytes  " << p.at.dir.string() << "\n    " << p.reason
          << "\n";
    }
  };
  print_problems(r.damaged, "Damaged parts in service",
                 "the server quarantines each when it next opens or reads it");
  print_problems(r.quarantined, "Quarantined parts",
                 "not served; see docs/storage.md for what to do");
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Key(JsonWriter& w, std::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Num(JsonWriter& w, std::optional<double> v) {
  if (v) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

void WriteLocation(JsonWriter& w, const Location& at) {
  Key(w, "tenant");
  w.Int64(at.tenant);
  Key(w, "table");
  Str(w, storage::TableName(at.table));
  Key(w, "day");
  Str(w, storage::DayDirName(at.day));
  Key(w, "part");
  Str(w, at.name);
  Key(w, "tier");
  Str(w, TierName(at.cold));
  Key(w, "path");
  Str(w, at.dir.string());
}

void PrintJson(const Report& r, std::ostream& out) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  Key(w, "storage_dir");
  Str(w, r.hot_root.string());
  Key(w, "cold_dir");
  if (r.cold_root.empty()) {
    w.Null();
  } else {
    Str(w, r.cold_root.string());
  }
  Key(w, "vanished_parts");
  w.Uint64(r.vanished);

  Key(w, "parts");
  w.StartArray();
  for (const PartRecord& p : r.parts) {
    w.StartObject();
    WriteLocation(w, p.at);
    Key(w, "level");
    w.Uint(p.level);
    Key(w, "rows");
    w.Uint64(p.rows);
    Key(w, "bytes");
    w.Uint64(p.disk_bytes);
    Key(w, "min_time");
    Str(w, IsoTime(p.at.table, p.min_time));
    Key(w, "max_time");
    Str(w, IsoTime(p.at.table, p.max_time));
    Key(w, "min_time_unix_nano");
    w.Int64(absl::ToUnixNanos(TimeOf(p.at.table, p.min_time)));
    Key(w, "max_time_unix_nano");
    w.Int64(absl::ToUnixNanos(TimeOf(p.at.table, p.max_time)));
    Key(w, "wal_first_lsn");
    p.wal ? w.Uint64(p.wal->first) : w.Null();
    Key(w, "wal_last_lsn");
    p.wal ? w.Uint64(p.wal->last) : w.Null();
    Key(w, "superseded_by");
    p.superseded_by.empty() ? w.Null() : w.String(p.superseded_by.c_str());
    w.EndObject();
  }
  w.EndArray();

  Key(w, "tables");
  w.StartArray();
  for (const auto& [key, tt] : r.tables) {
    uint64_t plain = 0, raw = 0;
    for (const auto& c : tt.columns) {
      plain += c.plain_bytes;
      raw += c.raw_bytes;
    }
    w.StartObject();
    Key(w, "tenant");
    w.Int64(key.first);
    Key(w, "table");
    Str(w, storage::TableName(key.second));
    Key(w, "parts");
    w.Uint64(tt.parts);
    Key(w, "rows");
    w.Uint64(tt.rows);
    Key(w, "bytes");
    w.Uint64(tt.disk_bytes);
    Key(w, "raw_bytes");
    w.Uint64(raw);
    Key(w, "plain_bytes");
    w.Uint64(plain);
    Key(w, "bloom_bytes");
    w.Uint64(tt.bloom_bytes);
    Key(w, "compression_ratio");
    Num(w, Ratio(plain, tt.disk_bytes));
    Key(w, "bytes_per_row");
    Num(w, Ratio(tt.disk_bytes, tt.rows));
    if (key.second == Table::kSamples) {
      Key(w, "series");
      tt.series ? w.Uint64(*tt.series) : w.Null();
      if (!tt.series_error.empty()) {
        Key(w, "series_error");
        Str(w, tt.series_error);
      }
    }
    Key(w, "columns");
    w.StartArray();
    for (const auto& c : tt.columns) {
      w.StartObject();
      Key(w, "name");
      Str(w, c.name);
      Key(w, "type");
      Str(w, storage::ColumnTypeName(c.type));
      Key(w, "file_bytes");
      w.Uint64(c.file_bytes);
      Key(w, "raw_bytes");
      w.Uint64(c.raw_bytes);
      Key(w, "plain_bytes");
      w.Uint64(c.plain_bytes);
      Key(w, "compression_ratio");
      Num(w, Ratio(c.plain_bytes, c.file_bytes));
      Key(w, "bytes_per_row");
      Num(w, Ratio(c.file_bytes, tt.rows));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();

  using NamedList = std::pair<std::string_view, const std::vector<Problem>*>;
  for (const NamedList& named :
       {NamedList("damaged", &r.damaged), NamedList("quarantined", &r.quarantined)}) {
    Key(w, named.first);
    w.StartArray();
    for (const Problem& p : *named.second) {
      w.StartObject();
      WriteLocation(w, p.at);
      Key(w, "bytes");
      w.Uint64(p.disk_bytes);
      Key(w, "reason");
      Str(w, p.reason);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  out << std::string_view(buf.GetString(), buf.GetSize()) << "\n";
}

bool LocationLess(const Location& a, const Location& b) {
  return std::tie(a.tenant, a.table, a.day, a.name, a.cold) <
         std::tie(b.tenant, b.table, b.day, b.name, b.cold);
}

absl::Status CheckDir(const fs::path& dir, std::string_view what, std::string_view hint) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("no ", std::string(what), " at ", dir.string(),
                                          ec ? absl::StrCat(" (", ec.message(), ")") : "",
                                          std::string(hint)));
}

}  // namespace

absl::StatusOr<StorageInspectSummary> InspectStorage(const StorageInspectOptions& options,
                                                     std::ostream& out, std::ostream& progress) {
  Filter filter;
  if (!options.tenant.empty()) {
    int64_t id = 0;
    if (!ParseTenantDir(options.tenant, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tenant takes a numeric tenant id (the directory names under ",
                       (fs::path(options.data_dir) / kStorageDirName).string(), "), got '",
                       options.tenant, "'"));
    }
    filter.tenant = id;
  }
  if (!options.table.empty()) {
    auto t = storage::ParseTable(options.table);
    if (!t.ok()) return t.status();
    filter.table = *t;
  }
  Report report;
  report.hot_root = fs::path(options.data_dir) / kStorageDirName;
  if (auto s = CheckDir(fs::path(options.data_dir), "data directory", ""); !s.ok()) return s;
  if (auto s = CheckDir(report.hot_root, "storage directory",
                        "; the server creates it on its first start with this --data-dir");
      !s.ok()) {
    return s;
  }
  if (!options.cold_dir.empty()) {
    report.cold_root = options.cold_dir;
    if (auto s = CheckDir(report.cold_root, "cold directory", ""); !s.ok()) return s;
  }

  // Every directory first (cheap), so progress can say how far along the reading is.
  std::vector<Location> live, quarantined;
  std::vector<int64_t> tenants;
  for (const auto& [root, cold] :
       {std::pair(report.hot_root, false), std::pair(report.cold_root, true)}) {
    if (root.empty()) continue;
    if (auto s = ListParts(root, cold, filter, &live, cold ? nullptr : &tenants); !s.ok()) return s;
    if (auto s = ListParts(root / kQuarantineDirName, cold, filter, &quarantined, nullptr);
        !s.ok()) {
      return s;
    }
  }
  const size_t total = live.size() + quarantined.size();
  const bool show_progress = total > options.progress_above_parts;
  size_t done = 0;
  const auto step = [&] {
    ++done;
    if (show_progress && (done % 1000 == 0 || done == total)) {
      progress << "observex storage inspect: " << done << " / " << total << " parts read\n";
    }
  };

  for (const Location& at : live) {
    step();
    auto reader = storage::PartReader::Open(at.dir, Schema(at.table), at.tenant);
    std::string why;
    if (reader.ok()) {
      why = CheckFiles(**reader, at);
    } else {
      why = std::string(reader.status().message());
    }
    if (Gone(at.dir)) {  // merged, dropped or moved while we looked
      ++report.vanished;
      continue;
    }
    if (!why.empty()) {
      report.damaged.push_back(Problem{at, DirBytes(at.dir), std::move(why)});
      continue;
    }
    const storage::Manifest& m = (*reader)->manifest();
    PartRecord p;
    p.at = at;
    p.level = m.level;
    p.rows = m.rows;
    p.min_time = m.min_time;
    p.max_time = m.max_time;
    p.wal = m.wal_range;
    p.disk_bytes = DirBytes(at.dir);
    p.bloom_bytes = m.bloom_bytes;
    p.columns = m.columns;
    report.parts.push_back(std::move(p));
  }
  for (const Location& at : quarantined) {
    step();
    std::string why = QuarantineReason(at);
    if (Gone(at.dir)) {
      ++report.vanished;
      continue;
    }
    report.quarantined.push_back(Problem{at, DirBytes(at.dir), std::move(why)});
  }

  std::sort(report.parts.begin(), report.parts.end(),
            [](const PartRecord& a, const PartRecord& b) { return LocationLess(a.at, b.at); });
  for (auto* list : {&report.damaged, &report.quarantined}) {
    std::sort(list->begin(), list->end(),
              [](const Problem& a, const Problem& b) { return LocationLess(a.at, b.at); });
  }
  MarkSuperseded(report.parts);

  for (const PartRecord& p : report.parts) {
    if (!p.superseded_by.empty()) continue;
    TableTotals& tt = report.tables[{p.at.tenant, p.at.table}];
    ++tt.parts;
    tt.rows += p.rows;
    tt.disk_bytes += p.disk_bytes;
    tt.bloom_bytes += p.bloom_bytes;
    if (tt.columns.empty()) {
      for (const auto& c : p.columns) tt.columns.push_back({c.name, c.type});
    }
    for (size_t i = 0; i < p.columns.size() && i < tt.columns.size(); ++i) {
      tt.columns[i].file_bytes += p.columns[i].file_bytes;
      tt.columns[i].raw_bytes += p.columns[i].raw_bytes;
      tt.columns[i].plain_bytes += p.columns[i].plain_bytes;
    }
  }
  if (filter.Accepts(Table::kSamples)) {
    std::sort(tenants.begin(), tenants.end());
    for (int64_t tenant : tenants) {
      const fs::path log = report.hot_root / std::to_string(tenant) / storage::kSeriesLogFileName;
      auto n = storage::SeriesIndex::CountSeries(log);
      if (!n.ok() && absl::IsNotFound(n.status())) continue;
      TableTotals& tt = report.tables[{tenant, Table::kSamples}];
      if (n.ok()) {
        tt.series = *n;
      } else {
        tt.series_error = std::string(n.status().message());
      }
    }
  }

  if (options.json) {
    PrintJson(report, out);
  } else {
    PrintText(report, out);
  }
  StorageInspectSummary summary;
  summary.parts = report.parts.size();
  summary.damaged = report.damaged.size();
  summary.quarantined = report.quarantined.size();
  return summary;
}

int RunStorageInspect(const StorageInspectOptions& options) {
  auto summary = InspectStorage(options, std::cout, std::cerr);
  if (!summary.ok()) {
    std::cerr << "observex storage inspect: " << summary.status().message() << "\n";
    const auto code = summary.status().code();
    return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ? 2
                                                                                             : 1;
  }
  std::cout.flush();
  return summary->damaged > 0 ? 1 : 0;
}

}  // namespace observex::app
