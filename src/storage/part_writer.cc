#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "storage/bits.h"
#include "storage/part.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;

// Column file writes are batched into chunks of this size.
constexpr size_t kWriteChunkBytes = 1u << 20;

bool ValidPartName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Negative when row a sorts before row b by the schema's sort key.
int CompareRows(const ColumnBatch& rows, const std::vector<int>& key, uint32_t a, uint32_t b) {
  for (int k : key) {
    const Column& c = rows.columns[k];
    switch (c.index()) {
      case 0: {
        const auto& v = std::get<0>(c);
        if (v[a] != v[b]) return v[a] < v[b] ? -1 : 1;
        break;
      }
      case 1: {
        const auto& v = std::get<1>(c);
        if (v[a] != v[b]) return v[a] < v[b] ? -1 : 1;
        break;
      }
      default: {
        const int r = std::get<2>(c).at(a).compare(std::get<2>(c).at(b));
        if (r != 0) return r;
        break;
      }
    }
  }
  return 0;
}

SortKey KeyOf(const ColumnBatch& rows, const std::vector<int>& key, uint32_t row) {
  SortKey out;
  for (int k : key) {
    const Column& c = rows.columns[k];
    if (c.index() == 0) {
      out.emplace_back(std::get<0>(c)[row]);
    } else {
      out.emplace_back(std::string(std::get<2>(c).at(row)));
    }
  }
  return out;
}

// Gathers rows perm[begin, end) of `from` into `to` (cleared first).
void Gather(const Column& from, const std::vector<uint32_t>& perm, size_t begin, size_t end,
            Column& to) {
  std::visit([](auto& v) { v.clear(); }, to);
  switch (from.index()) {
    case 0: {
      const auto& src = std::get<0>(from);
      auto& dst = std::get<0>(to);
      for (size_t i = begin; i < end; ++i) dst.push_back(src[perm[i]]);
      break;
    }
    case 1: {
      const auto& src = std::get<1>(from);
      auto& dst = std::get<1>(to);
      for (size_t i = begin; i < end; ++i) dst.push_back(src[perm[i]]);
      break;
    }
    default: {
      const auto& src = std::get<2>(from);
      auto& dst = std::get<2>(to);
      for (size_t i = begin; i < end; ++i) dst.push_back(src.at(perm[i]));
      break;
    }
  }
}

// Lengths of the runs of rows perm[begin, end) with equal values in the `prefix` columns (the
// sort key without its time column): one series' samples. kSegmented encodes each on its own.
std::vector<uint32_t> KeyRuns(const ColumnBatch& rows, const std::vector<int>& prefix,
                              const std::vector<uint32_t>& perm, size_t begin, size_t end) {
  std::vector<uint32_t> runs;
  size_t start = begin;
  for (size_t i = begin + 1; i <= end; ++i) {
    if (i == end || CompareRows(rows, prefix, perm[start], perm[i]) != 0) {
      runs.push_back(static_cast<uint32_t>(i - start));
      start = i;
    }
  }
  return runs;
}

// Runs of at least this many values are worth sharing (a reference costs ~4 bytes).
constexpr size_t kMinSharedRun = 8;
// Bound on the values of all shared sequences of one part: they are decoded from the
// manifest, which every open reads whole.
constexpr size_t kMaxSharedValuesPerPart = 4u << 20;

// The time sequences several series of the part share (a scrape target's series share its
// scrape times): each stored once in the manifest, and for every block run of the time
// column, the slice of a shared sequence it equals (or none). Only whole-part series runs
// that occur at least twice are shared, first come first served up to the bound.
std::vector<std::vector<SequenceRef>> ShareTimeSequences(
    const ColumnBatch& rows, const TableSchema& schema, const std::vector<uint32_t>& perm,
    uint32_t block_rows, const std::vector<std::vector<uint32_t>>& block_runs, Manifest* m) {
  const auto& times = std::get<0>(rows.columns[schema.time_column]);
  const std::vector<int> prefix(schema.sort_key.begin(), schema.sort_key.end() - 1);
  const std::vector<uint32_t> series = KeyRuns(rows, prefix, perm, 0, perm.size());
  const auto time_at = [&](size_t i) { return times[perm[i]]; };
  const auto equal = [&](size_t a, size_t b, size_t len) {
    for (size_t i = 0; i < len; ++i) {
      if (time_at(a + i) != time_at(b + i)) return false;
    }
    return true;
  };
  // Representative start row of each distinct sequence, by hash; uses per representative.
  absl::flat_hash_map<uint64_t, std::vector<size_t>> by_hash;
  absl::flat_hash_map<size_t, uint32_t> uses;
  std::vector<size_t> rep_of(series.size(), SIZE_MAX);
  size_t start = 0;
  for (size_t k = 0; k < series.size(); ++k) {
    const size_t len = series[k];
    if (len >= kMinSharedRun && len <= kMaxSharedSequenceValues) {
      uint64_t h = len * 0x9E3779B97F4A7C15ull;
      for (size_t i = 0; i < len; ++i) {
        h = (h ^ static_cast<uint64_t>(time_at(start + i))) * 0x100000001B3ull;
      }
      auto& reps = by_hash[h];
      for (size_t r : reps) {
        if (equal(r, start, len)) {
          rep_of[k] = r;
          break;
        }
      }
      if (rep_of[k] == SIZE_MAX) {
        reps.push_back(start);
        rep_of[k] = start;
      }
      ++uses[rep_of[k]];
    }
    start += len;
  }
  // Entries in order of first use.
  absl::flat_hash_map<size_t, uint32_t> entry_of;
  std::vector<uint32_t> series_entry(series.size(), kNoSequence);
  size_t shared_values = 0;
  start = 0;
  for (size_t k = 0; k < series.size(); ++k) {
    const size_t len = series[k];
    if (rep_of[k] != SIZE_MAX && uses[rep_of[k]] >= 2) {
      auto it = entry_of.find(rep_of[k]);
      if (it != entry_of.end()) {
        series_entry[k] = it->second;
      } else if (shared_values + len <= kMaxSharedValuesPerPart) {
        std::vector<int64_t> values(len);
        for (size_t i = 0; i < len; ++i) values[i] = time_at(start + i);
        const uint32_t entry = static_cast<uint32_t>(m->time_sequences.size());
        m->time_sequences.push_back(MakeSharedSequence(values));
        entry_of[rep_of[k]] = entry;
        series_entry[k] = entry;
        shared_values += len;
      }
    }
    start += len;
  }
  // Block runs lie inside series runs (blocks only cut them).
  std::vector<std::vector<SequenceRef>> refs(block_runs.size());
  size_t k = 0, series_start = 0;
  for (size_t b = 0; b < block_runs.size(); ++b) {
    size_t row = b * block_rows;
    for (uint32_t len : block_runs[b]) {
      while (row >= series_start + series[k]) series_start += series[k++];
      SequenceRef ref;
      if (series_entry[k] != kNoSequence) {
        ref.entry = series_entry[k];
        ref.offset = static_cast<uint32_t>(row - series_start);
      }
      refs[b].push_back(ref);
      row += len;
    }
  }
  return refs;
}

uint64_t PlainBytes(const Column& c) {
  if (c.index() != 2) return RowCount(c) * 8;
  return std::get<2>(c).byte_size();
}

class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~TempDirGuard() {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  void Release() { dir_.clear(); }

 private:
  fs::path dir_;
};

absl::Status WriteColumnFile(const fs::path& path, const Column& all,
                             const std::vector<uint32_t>& perm, const ColumnSpec& spec,
                             uint32_t block_rows, BlockCompressor& comp, bool sync,
                             const std::vector<std::vector<uint32_t>>& block_runs,
                             const std::vector<std::vector<SequenceRef>>& block_refs,
                             std::vector<BlockMeta>& blocks, int column, ColumnMeta& meta) {
  auto fd = fileutil::CreateExclusive(path);
  if (!fd.ok()) return fd.status();
  Column block = MakeColumn(spec.type);
  std::string raw, stored, pending;
  uint64_t offset = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const size_t begin = b * block_rows;
    const size_t end = begin + blocks[b].rows;
    Gather(all, perm, begin, end, block);
    raw.clear();
    BlockColumnRef ref;
    ref.encoding = EncodeColumn(block, 0, RowCount(block), spec.encoding, &raw,
                                b < block_runs.size() ? std::span<const uint32_t>(block_runs[b])
                                                      : std::span<const uint32_t>(),
                                b < block_refs.size() ? std::span<const SequenceRef>(block_refs[b])
                                                      : std::span<const SequenceRef>());
    ref.compression = comp.Compress(raw, &stored);
    ref.raw_len = static_cast<uint32_t>(raw.size());
    ref.stored_len = static_cast<uint32_t>(stored.size());
    ref.offset = offset;
    if (raw.size() > UINT32_MAX || stored.size() > UINT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", b, " of column '", spec.name, "' encodes to more than 4 GiB"));
    }
    // Header: encoding | compression | reserved u16 | rows | raw_len | stored_len | crc,
    // the crc covering the first 16 header bytes and the stored bytes.
    char header[kBlockHeaderBytes] = {};
    header[0] = static_cast<char>(ref.encoding);
    header[1] = static_cast<char>(ref.compression);
    const uint32_t rows = blocks[b].rows;
    std::memcpy(header + 4, &rows, 4);
    std::memcpy(header + 8, &ref.raw_len, 4);
    std::memcpy(header + 12, &ref.stored_len, 4);
    uint32_t crc = wal::crc32c::Value(header, 16);
    crc = wal::crc32c::Extend(crc, stored.data(), stored.size());
    std::memcpy(header + 16, &crc, 4);
    pending.append(header, kBlockHeaderBytes);
    pending.append(stored);
    offset += kBlockHeaderBytes + stored.size();
    blocks[b].columns[column] = ref;
    meta.raw_bytes += raw.size();
    meta.plain_bytes += PlainBytes(block);
    if (pending.size() >= kWriteChunkBytes) {
      if (auto s = fileutil::WriteAll(fd->get(), pending, path); !s.ok()) return s;
      pending.clear();
    }
  }
  if (auto s = fileutil::WriteAll(fd->get(), pending, path); !s.ok()) return s;
  if (sync) {
    if (auto s = fileutil::Fsync(fd->get(), path); !s.ok()) return s;
  }
  meta.file_bytes = offset;
  return absl::OkStatus();
}

absl::Status WriteSmallFile(const fs::path& path, std::string_view data, bool sync) {
  auto fd = fileutil::CreateExclusive(path);
  if (!fd.ok()) return fd.status();
  if (auto s = fileutil::WriteAll(fd->get(), data, path); !s.ok()) return s;
  return sync ? fileutil::Fsync(fd->get(), path) : absl::OkStatus();
}

}  // namespace

std::string DayDirName(int32_t day) {
  const absl::CivilDay d = absl::CivilDay(1970, 1, 1) + day;
  return absl::FormatCivilTime(d);
}

std::string PartName(uint64_t sequence) {
  std::string digits = std::to_string(sequence);
  return absl::StrCat("p-", std::string(20 - std::min<size_t>(20, digits.size()), '0'), digits);
}

fs::path DayDir(const fs::path& root, int64_t tenant_id, Table table, int32_t day) {
  return root / std::to_string(tenant_id) / std::string(TableName(table)) / DayDirName(day);
}

absl::StatusOr<Manifest> WritePart(const fs::path& root, const TableSchema& schema,
                                   const ColumnBatch& rows, const PartWriteOptions& options) {
  if (auto s = schema.CheckBatch(rows); !s.ok()) return s;
  if (!ValidPartName(options.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid part name '", options.name, "'"));
  }
  if (options.tenant_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid tenant id ", options.tenant_id));
  }
  if (options.block_rows == 0) return absl::InvalidArgumentError("block_rows must be positive");
  const size_t n = rows.rows();
  if (n == 0) return absl::InvalidArgumentError("a part needs at least one row");
  if (n > UINT32_MAX) return absl::InvalidArgumentError(absl::StrCat("too many rows: ", n));
  for (int k : schema.sort_key) {
    if (schema.columns[k].type == ColumnType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat("sort key column '", schema.columns[k].name,
                                                     "' is float64; keys are int64 or string"));
    }
  }

  const auto& times = std::get<0>(rows.columns[schema.time_column]);
  for (size_t i = 0; i < n; ++i) {
    if (schema.DayOf(times[i]) != options.day) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, " has time ", times[i],
                                                     " outside day ", DayDirName(options.day)));
    }
  }

  std::vector<uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0u);
  std::stable_sort(perm.begin(), perm.end(), [&](uint32_t a, uint32_t b) {
    return CompareRows(rows, schema.sort_key, a, b) < 0;
  });

  Manifest m;
  m.table = schema.table;
  m.tenant_id = options.tenant_id;
  m.day = options.day;
  m.part_name = options.name;
  m.level = options.level;
  m.created_unix_nanos =
      options.created_unix_nanos != 0 ? options.created_unix_nanos : absl::GetCurrentTimeNanos();
  m.wal_range = options.wal_range;
  m.rows = n;
  m.block_rows = options.block_rows;
  m.sort_key = schema.sort_key;
  m.time_column = schema.time_column;
  m.bloom_column = schema.bloom_column;
  m.min_time = *std::min_element(times.begin(), times.end());
  m.max_time = *std::max_element(times.begin(), times.end());
  for (const auto& c : schema.columns) m.columns.push_back(ColumnMeta{c.name, c.type});
  for (size_t begin = 0; begin < n; begin += options.block_rows) {
    const size_t end = std::min(n, begin + options.block_rows);
    BlockMeta b;
    b.rows = static_cast<uint32_t>(end - begin);
    b.min_time = b.max_time = times[perm[begin]];
    for (size_t i = begin; i < end; ++i) {
      b.min_time = std::min(b.min_time, times[perm[i]]);
      b.max_time = std::max(b.max_time, times[perm[i]]);
    }
    b.first_key = KeyOf(rows, schema.sort_key, perm[begin]);
    b.last_key = KeyOf(rows, schema.sort_key, perm[end - 1]);
    b.columns.resize(schema.columns.size());
    m.blocks.push_back(std::move(b));
  }

  const fs::path day_dir = DayDir(root, options.tenant_id, schema.table, options.day);
  const fs::path final_dir = day_dir / options.name;
  const fs::path tmp_dir = day_dir / (kTempPartPrefix + options.name);
  if (auto s = fileutil::CreateDirs(day_dir, options.fsync); !s.ok()) return s;
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("part ", final_dir.string(), " exists"));
  }
  fs::remove_all(tmp_dir, ec);  // left by an interrupted write of the same name
  if (!fs::create_directory(tmp_dir, ec)) {
    return fileutil::ErrnoStatus(ec ? ec.value() : EEXIST, "mkdir", tmp_dir);
  }
  TempDirGuard guard(tmp_dir);

  // Runs of equal sort key before the time column, per block, for the kSegmented columns.
  std::vector<std::vector<uint32_t>> block_runs;
  const bool segmented =
      std::any_of(schema.columns.begin(), schema.columns.end(),
                  [](const ColumnSpec& c) { return c.encoding == Encoding::kSegmented; });
  if (segmented && schema.sort_key.size() > 1) {
    const std::vector<int> prefix(schema.sort_key.begin(), schema.sort_key.end() - 1);
    for (size_t b = 0; b < m.blocks.size(); ++b) {
      const size_t begin = b * options.block_rows;
      block_runs.push_back(KeyRuns(rows, prefix, perm, begin, begin + m.blocks[b].rows));
    }
  }

  // The time column's runs may refer to time sequences the part stores once.
  std::vector<std::vector<SequenceRef>> time_refs;
  if (!block_runs.empty() && schema.time_column >= 0 &&
      schema.columns[schema.time_column].encoding == Encoding::kSegmented &&
      schema.sort_key.back() == schema.time_column) {
    time_refs = ShareTimeSequences(rows, schema, perm, options.block_rows, block_runs, &m);
  }

  BlockCompressor comp(options.zstd_level);
  const std::vector<std::vector<SequenceRef>> no_refs;
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const auto& spec = schema.columns[c];
    if (auto s = WriteColumnFile(tmp_dir / ColumnFileName(spec.name), rows.columns[c], perm, spec,
                                 options.block_rows, comp, options.fsync, block_runs,
                                 static_cast<int>(c) == schema.time_column ? time_refs : no_refs,
                                 m.blocks, static_cast<int>(c), m.columns[c]);
        !s.ok()) {
      return s;
    }
  }
  if (schema.bloom_column >= 0) {
    // One key per (block, trace id): a look-up then reads only the blocks holding it.
    const auto& keys = std::get<2>(rows.columns[schema.bloom_column]);
    absl::flat_hash_set<uint64_t> distinct;
    for (size_t i = 0; i < perm.size(); ++i) {
      const std::string_view k = keys.at(perm[i]);
      if (k.empty()) continue;  // no trace id: nothing to look up
      distinct.insert(BloomBlockHash(BloomHash(k), static_cast<uint32_t>(i / options.block_rows)));
    }
    // A look-up tests every block of every part of a day, so false positives per test
    // must be rare: 16 bits per pair keeps them near 0.1 %.
    BloomFilter bloom(distinct.size(), /*bits_per_key=*/16);
    for (uint64_t h : distinct) bloom.AddHash(h);
    const std::string bytes = bloom.Serialize();
    m.bloom_bytes = bytes.size();
    if (auto s = WriteSmallFile(tmp_dir / BloomFileName(schema.columns[schema.bloom_column].name),
                                bytes, options.fsync);
        !s.ok()) {
      return s;
    }
  }
  if (auto s = WriteSmallFile(tmp_dir / kManifestFileName, EncodeManifest(m), options.fsync);
      !s.ok()) {
    return s;
  }
  if (options.fsync) {
    if (auto s = fileutil::FsyncDir(tmp_dir); !s.ok()) return s;
  }
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
    return fileutil::ErrnoStatus(errno, "rename into place", tmp_dir);
  }
  guard.Release();
  if (options.fsync) {
    if (auto s = fileutil::FsyncDir(day_dir); !s.ok()) return s;
  }
  return m;
}

absl::Status RemoveTemporaryParts(const fs::path& day_dir) {
  std::error_code ec;
  fs::directory_iterator it(day_dir, ec);
  if (ec) return fileutil::ErrnoStatus(ec.value(), "list", day_dir);
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPartPrefix, 0) == 0) {
      fs::remove_all(entry.path(), ec);
      if (ec) return fileutil::ErrnoStatus(ec.value(), "remove", entry.path());
    }
  }
  return absl::OkStatus();
}

}  // namespace observex::storage
