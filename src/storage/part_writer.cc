#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <span>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
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

// A row of the input: its chunk and its row in that chunk. The part writer reads its input
// where it lies (a seal passes the head's chunks), so no row is copied before it is gathered
// into the block it is encoded in.
struct RowRef {
  uint32_t chunk;
  uint32_t row;
};

// The chunks a part is written from, in input order.
class Input {
 public:
  explicit Input(std::span<const ColumnBatch* const> chunks) : chunks_(chunks) {}

  size_t num_chunks() const { return chunks_.size(); }
  const ColumnBatch& chunk(size_t i) const { return *chunks_[i]; }
  const Column& column(RowRef r, int c) const { return chunks_[r.chunk]->columns[c]; }
  int64_t Int(int c, RowRef r) const { return std::get<0>(column(r, c))[r.row]; }
  std::string_view Str(int c, RowRef r) const { return std::get<2>(column(r, c)).at(r.row); }

  // Column c of every chunk, typed, for loops over many rows.
  template <typename Col>
  std::vector<const Col*> Typed(int c) const {
    std::vector<const Col*> out;
    out.reserve(chunks_.size());
    for (const ColumnBatch* b : chunks_) out.push_back(&std::get<Col>(b->columns[c]));
    return out;
  }

 private:
  std::span<const ColumnBatch* const> chunks_;
};

// Negative when row a sorts before row b by the columns `key`.
int CompareRows(const Input& in, const std::vector<int>& key, RowRef a, RowRef b) {
  for (int k : key) {
    const Column& ca = in.column(a, k);
    const Column& cb = in.column(b, k);
    switch (ca.index()) {
      case 0: {
        const int64_t x = std::get<0>(ca)[a.row], y = std::get<0>(cb)[b.row];
        if (x != y) return x < y ? -1 : 1;
        break;
      }
      case 1: {
        const double x = std::get<1>(ca)[a.row], y = std::get<1>(cb)[b.row];
        if (x != y) return x < y ? -1 : 1;
        break;
      }
      default: {
        const int r = std::get<2>(ca).at(a.row).compare(std::get<2>(cb).at(b.row));
        if (r != 0) return r;
        break;
      }
    }
  }
  return 0;
}

SortKey KeyOf(const Input& in, const std::vector<int>& key, RowRef row) {
  SortKey out;
  for (int k : key) {
    if (in.column(row, k).index() == 0) {
      out.emplace_back(in.Int(k, row));
    } else {
      out.emplace_back(std::string(in.Str(k, row)));
    }
  }
  return out;
}

// The rows in part order, and for each position the ordinal of its sort key without the time
// column (the series of a samples part, the (service, name) of a spans part): ordinals
// compare as the key values do, and are equal exactly when the values are.
struct SortedRows {
  std::vector<RowRef> order;
  std::vector<uint64_t> prefix;
};

// Sorts by (key prefix, time, input position): the stable sort by the schema's sort key. The
// prefix is reduced to one integer per row first (string values are hashed once per row and
// their distinct combinations ranked), so the sort itself compares integers, not strings.
SortedRows SortRows(const Input& in, const TableSchema& schema, size_t n) {
  const std::vector<int> prefix(schema.sort_key.begin(), schema.sort_key.end() - 1);
  const int time_col = schema.sort_key.back();
  std::vector<RowRef> refs;
  refs.reserve(n);
  for (size_t c = 0; c < in.num_chunks(); ++c) {
    const size_t rows = in.chunk(c).rows();
    for (size_t r = 0; r < rows; ++r) {
      refs.push_back(RowRef{static_cast<uint32_t>(c), static_cast<uint32_t>(r)});
    }
  }
  std::vector<uint64_t> ordinal(n, 0);
  if (prefix.size() == 1 && in.num_chunks() > 0 &&
      schema.columns[prefix[0]].type == ColumnType::kInt64) {
    // Flipping the sign bit orders int64 values as unsigned integers.
    for (size_t i = 0; i < n; ++i) {
      ordinal[i] = static_cast<uint64_t>(in.Int(prefix[0], refs[i])) ^ (1ull << 63);
    }
  } else if (!prefix.empty()) {
    struct Hash {
      const Input* in;
      const std::vector<int>* cols;
      size_t operator()(RowRef r) const {
        uint64_t h = 0;
        for (int c : *cols) {
          const Column& col = in->column(r, c);
          uint64_t v;
          if (col.index() == 2) {
            v = absl::Hash<std::string_view>()(std::get<2>(col).at(r.row));
          } else if (col.index() == 0) {
            v = absl::Hash<int64_t>()(std::get<0>(col)[r.row]);
          } else {
            v = absl::Hash<double>()(std::get<1>(col)[r.row]);
          }
          h = (h ^ v) * 0x9E3779B97F4A7C15ull;
        }
        return h;
      }
    };
    struct Eq {
      const Input* in;
      const std::vector<int>* cols;
      bool operator()(RowRef a, RowRef b) const { return CompareRows(*in, *cols, a, b) == 0; }
    };
    absl::flat_hash_map<RowRef, uint32_t, Hash, Eq> groups(0, Hash{&in, &prefix}, Eq{&in, &prefix});
    std::vector<RowRef> first_row;  // of each group, by group id
    std::vector<uint32_t> group(n);
    for (size_t i = 0; i < n; ++i) {
      auto [it, inserted] = groups.try_emplace(refs[i], static_cast<uint32_t>(first_row.size()));
      if (inserted) first_row.push_back(refs[i]);
      group[i] = it->second;
    }
    std::vector<uint32_t> by_key(first_row.size());
    std::iota(by_key.begin(), by_key.end(), 0u);
    std::sort(by_key.begin(), by_key.end(), [&](uint32_t a, uint32_t b) {
      return CompareRows(in, prefix, first_row[a], first_row[b]) < 0;
    });
    std::vector<uint64_t> rank(first_row.size());
    for (size_t r = 0; r < by_key.size(); ++r) rank[by_key[r]] = r;
    for (size_t i = 0; i < n; ++i) ordinal[i] = rank[group[i]];
  }
  struct Entry {
    uint64_t prefix;
    int64_t time;
    uint32_t pos;
  };
  std::vector<Entry> entries(n);
  {
    const auto times = in.Typed<std::vector<int64_t>>(time_col);
    for (size_t i = 0; i < n; ++i) {
      entries[i] =
          Entry{ordinal[i], (*times[refs[i].chunk])[refs[i].row], static_cast<uint32_t>(i)};
    }
  }
  std::vector<uint64_t>().swap(ordinal);
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (a.time != b.time) return a.time < b.time;
    return a.pos < b.pos;
  });
  SortedRows out;
  out.order.resize(n);
  out.prefix.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.order[i] = refs[entries[i].pos];
    out.prefix[i] = entries[i].prefix;
  }
  return out;
}

// The values of one column in every input chunk, typed.
struct ChunkColumn {
  explicit ChunkColumn(const Input& in, int c, ColumnType type) : type(type) {
    switch (type) {
      case ColumnType::kInt64:
        ints = in.Typed<std::vector<int64_t>>(c);
        break;
      case ColumnType::kFloat64:
        floats = in.Typed<std::vector<double>>(c);
        break;
      case ColumnType::kString:
        strings = in.Typed<StringColumn>(c);
        break;
    }
  }
  ColumnType type;
  std::vector<const std::vector<int64_t>*> ints;
  std::vector<const std::vector<double>*> floats;
  std::vector<const StringColumn*> strings;
};

// Gathers rows order[begin, end) of `from` into `to` (cleared first).
void Gather(const ChunkColumn& from, const std::vector<RowRef>& order, size_t begin, size_t end,
            Column& to) {
  const size_t len = end - begin;
  switch (from.type) {
    case ColumnType::kInt64: {
      auto& dst = std::get<0>(to);
      dst.resize(len);
      for (size_t i = 0; i < len; ++i) {
        const RowRef r = order[begin + i];
        dst[i] = (*from.ints[r.chunk])[r.row];
      }
      break;
    }
    case ColumnType::kFloat64: {
      auto& dst = std::get<1>(to);
      dst.resize(len);
      for (size_t i = 0; i < len; ++i) {
        const RowRef r = order[begin + i];
        dst[i] = (*from.floats[r.chunk])[r.row];
      }
      break;
    }
    case ColumnType::kString: {
      auto& dst = std::get<2>(to);
      size_t bytes = 0;
      for (size_t i = begin; i < end; ++i) {
        const RowRef r = order[i];
        const auto& off = from.strings[r.chunk]->offsets();
        bytes += off[r.row + 1] - off[r.row];
      }
      dst.clear();
      dst.reserve(len, bytes);
      for (size_t i = begin; i < end; ++i) {
        const RowRef r = order[i];
        dst.push_back(from.strings[r.chunk]->at(r.row));
      }
      break;
    }
  }
}

// Lengths of the runs of positions [begin, end) with equal key prefix ordinals: one series'
// samples. kSegmented encodes each on its own.
std::vector<uint32_t> KeyRuns(const std::vector<uint64_t>& prefix, size_t begin, size_t end) {
  std::vector<uint32_t> runs;
  size_t start = begin;
  for (size_t i = begin + 1; i <= end; ++i) {
    if (i == end || prefix[start] != prefix[i]) {
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
    const Input& in, const TableSchema& schema, const SortedRows& sorted, uint32_t block_rows,
    const std::vector<std::vector<uint32_t>>& block_runs, Manifest* m) {
  const auto times = in.Typed<std::vector<int64_t>>(schema.time_column);
  const std::vector<RowRef>& order = sorted.order;
  const std::vector<uint32_t> series = KeyRuns(sorted.prefix, 0, order.size());
  const auto time_at = [&](size_t i) { return (*times[order[i].chunk])[order[i].row]; };
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

absl::Status WriteColumnFile(const fs::path& path, const ChunkColumn& all,
                             const std::vector<RowRef>& order, const ColumnSpec& spec,
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
    Gather(all, order, begin, end, block);
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
  const ColumnBatch* one[] = {&rows};
  return WritePart(root, schema, std::span<const ColumnBatch* const>(one), options);
}

absl::StatusOr<Manifest> WritePart(const fs::path& root, const TableSchema& schema,
                                   std::span<const ColumnBatch* const> chunks,
                                   const PartWriteOptions& options) {
  size_t n = 0;
  for (const ColumnBatch* chunk : chunks) {
    if (auto s = schema.CheckBatch(*chunk); !s.ok()) return s;
    n += chunk->rows();
  }
  if (!ValidPartName(options.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid part name '", options.name, "'"));
  }
  if (options.tenant_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid tenant id ", options.tenant_id));
  }
  if (options.block_rows == 0) return absl::InvalidArgumentError("block_rows must be positive");
  if (n == 0) return absl::InvalidArgumentError("a part needs at least one row");
  if (n > UINT32_MAX) return absl::InvalidArgumentError(absl::StrCat("too many rows: ", n));
  for (int k : schema.sort_key) {
    if (schema.columns[k].type == ColumnType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat("sort key column '", schema.columns[k].name,
                                                     "' is float64; keys are int64 or string"));
    }
  }
  if (schema.sort_key.empty() || schema.sort_key.back() != schema.time_column) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", std::string(TableName(schema.table)),
                     "'s sort key does not end with its time column"));
  }

  const Input in(chunks);
  int64_t min_time = INT64_MAX, max_time = INT64_MIN;
  size_t row_number = 0;
  for (const ColumnBatch* chunk : chunks) {
    for (int64_t t : std::get<0>(chunk->columns[schema.time_column])) {
      if (schema.DayOf(t) != options.day) {
        return absl::InvalidArgumentError(absl::StrCat("row ", row_number, " has time ", t,
                                                       " outside day ", DayDirName(options.day)));
      }
      min_time = std::min(min_time, t);
      max_time = std::max(max_time, t);
      ++row_number;
    }
  }

  const SortedRows sorted = SortRows(in, schema, n);
  const std::vector<RowRef>& order = sorted.order;
  const auto times = in.Typed<std::vector<int64_t>>(schema.time_column);
  const auto time_of = [&](RowRef r) { return (*times[r.chunk])[r.row]; };

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
  m.min_time = min_time;
  m.max_time = max_time;
  for (const auto& c : schema.columns) m.columns.push_back(ColumnMeta{c.name, c.type});
  for (size_t begin = 0; begin < n; begin += options.block_rows) {
    const size_t end = std::min(n, begin + options.block_rows);
    BlockMeta b;
    b.rows = static_cast<uint32_t>(end - begin);
    b.min_time = b.max_time = time_of(order[begin]);
    for (size_t i = begin; i < end; ++i) {
      b.min_time = std::min(b.min_time, time_of(order[i]));
      b.max_time = std::max(b.max_time, time_of(order[i]));
    }
    b.first_key = KeyOf(in, schema.sort_key, order[begin]);
    b.last_key = KeyOf(in, schema.sort_key, order[end - 1]);
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
    for (size_t b = 0; b < m.blocks.size(); ++b) {
      const size_t begin = b * options.block_rows;
      block_runs.push_back(KeyRuns(sorted.prefix, begin, begin + m.blocks[b].rows));
    }
  }

  // The time column's runs may refer to time sequences the part stores once.
  std::vector<std::vector<SequenceRef>> time_refs;
  if (!block_runs.empty() && schema.time_column >= 0 &&
      schema.columns[schema.time_column].encoding == Encoding::kSegmented &&
      schema.sort_key.back() == schema.time_column) {
    time_refs = ShareTimeSequences(in, schema, sorted, options.block_rows, block_runs, &m);
  }

  // The column files (and the Bloom filter) are independent: up to options.threads threads
  // write them, each taking the next file not yet started, with its own compressor.
  const std::vector<std::vector<SequenceRef>> no_refs;
  const size_t num_columns = schema.columns.size();
  const size_t tasks = num_columns + (schema.bloom_column >= 0 ? 1 : 0);
  std::vector<absl::Status> results(tasks);
  std::atomic<size_t> next_task{0};
  const auto run_task = [&](size_t t, BlockCompressor& comp) -> absl::Status {
    if (t < num_columns) {
      const auto& spec = schema.columns[t];
      const int c = static_cast<int>(t);
      return WriteColumnFile(tmp_dir / ColumnFileName(spec.name), ChunkColumn(in, c, spec.type),
                             order, spec, options.block_rows, comp, options.fsync, block_runs,
                             c == schema.time_column ? time_refs : no_refs, m.blocks, c,
                             m.columns[t]);
    }
    // One key per (block, trace id): a look-up then reads only the blocks holding it.
    const auto keys = in.Typed<StringColumn>(schema.bloom_column);
    absl::flat_hash_set<uint64_t> distinct;
    for (size_t i = 0; i < order.size(); ++i) {
      const std::string_view k = keys[order[i].chunk]->at(order[i].row);
      if (k.empty()) continue;  // no trace id: nothing to look up
      distinct.insert(BloomBlockHash(BloomHash(k), static_cast<uint32_t>(i / options.block_rows)));
    }
    // A look-up tests every block of every part of a day, so false positives per test
    // must be rare: 16 bits per pair keeps them near 0.1 %.
    BloomFilter bloom(distinct.size(), /*bits_per_key=*/16);
    for (uint64_t h : distinct) bloom.AddHash(h);
    const std::string bytes = bloom.Serialize();
    m.bloom_bytes = bytes.size();
    return WriteSmallFile(tmp_dir / BloomFileName(schema.columns[schema.bloom_column].name), bytes,
                          options.fsync);
  };
  const auto work = [&] {
    BlockCompressor comp(options.zstd_level);
    for (size_t t; (t = next_task.fetch_add(1)) < tasks;) {
      results[t] = run_task(t, comp);
      // After an error the other files are not needed: stop taking tasks.
      if (!results[t].ok()) next_task.store(tasks);
    }
  };
  {
    std::vector<std::thread> helpers;
    const size_t threads = std::clamp<size_t>(options.threads, 1, tasks);
    for (size_t i = 1; i < threads; ++i) helpers.emplace_back(work);
    work();
    for (std::thread& h : helpers) h.join();
  }
  for (const absl::Status& r : results) {
    if (!r.ok()) return r;
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
