// The manifest of an immutable part: what the part holds (tenant, table, day, rows, time
// range, the WAL LSN range it was built from), its columns with their byte counts, and the
// sparse index: for every block of rows its row count, min/max time, first and last sort key,
// and where each column's block lies in the column file with its encoding; and the time
// sequences the part's series share. Encoded as one checksummed, zstd-compressed record
// (docs/part-format.md). Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/codec.h"
#include "storage/column.h"
#include "storage/schema.h"

namespace observex::storage {

// 2: Bloom keys per (block, trace id); spans/logs gained the *_extra columns.
// 3: samples' time and value columns in the segmented encoding (one sub-encoding per series).
// 4: the manifest body is zstd-compressed and holds the part's shared time sequences, which
//    segmented time runs refer to.
// 5: segmented float runs of XOR bits carry their byte length (run kind 6), so a reader can
//    step over them. Version 4 parts differ only in lacking it and are still read.
// 6: segmented float runs of decimal mantissas may be entropy-coded (run kinds 7 and 8).
//    Versions 4 and 5 differ only in lacking them and are still read.
inline constexpr uint32_t kPartFormatVersion = 6;
inline constexpr uint32_t kOldestReadablePartFormatVersion = 4;
inline constexpr char kManifestFileName[] = "MANIFEST";
// Largest manifest a reader accepts, so a corrupt size can never make it allocate more.
inline constexpr uint64_t kMaxManifestBytes = 64ull << 20;
// Bytes in front of every column block in a column file.
inline constexpr size_t kBlockHeaderBytes = 20;

using SortKeyValue = std::variant<int64_t, std::string>;
using SortKey = std::vector<SortKeyValue>;

// One column's block inside its column file.
struct BlockColumnRef {
  uint64_t offset = 0;      // of the block header
  uint32_t stored_len = 0;  // bytes after the header
  uint32_t raw_len = 0;     // encoded bytes before compression
  Encoding encoding = Encoding::kPlain;
  Compression compression = Compression::kNone;
  friend bool operator==(const BlockColumnRef&, const BlockColumnRef&) = default;
};

struct BlockMeta {
  uint32_t rows = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  SortKey first_key;                    // sort key of the block's first row
  SortKey last_key;                     // and of its last row
  std::vector<BlockColumnRef> columns;  // in manifest column order
  friend bool operator==(const BlockMeta&, const BlockMeta&) = default;
};

struct ColumnMeta {
  std::string name;
  ColumnType type = ColumnType::kInt64;
  uint64_t file_bytes = 0;   // size of the column file (headers included)
  uint64_t raw_bytes = 0;    // encoded bytes before compression
  uint64_t plain_bytes = 0;  // 8 per number, the length of each string: the uncompressed size
  friend bool operator==(const ColumnMeta&, const ColumnMeta&) = default;
};

struct WalRange {
  uint64_t first = 0;  // LSN of the first WAL entry whose rows are in the part
  uint64_t last = 0;   // and of the last one (inclusive)
  friend bool operator==(const WalRange&, const WalRange&) = default;
};

struct Manifest {
  uint32_t version = kPartFormatVersion;
  Table table = Table::kSpans;
  int64_t tenant_id = 0;
  int32_t day = 0;  // days since 1970-01-01 UTC
  std::string part_name;
  uint32_t level = 0;  // 0 = sealed from the head; merges add one
  int64_t created_unix_nanos = 0;
  std::optional<WalRange> wal_range;
  uint64_t rows = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint32_t block_rows = 0;  // rows per block (the last block may hold fewer)
  std::vector<ColumnMeta> columns;
  std::vector<int> sort_key;  // column indices, most significant first
  int time_column = -1;
  int bloom_column = -1;  // column indexed by the Bloom filter file, or -1
  uint64_t bloom_bytes = 0;
  std::vector<BlockMeta> blocks;
  // Time sequences several series of the part share, stored once; kSegmented blocks of the
  // time column refer to them (codec.h SharedSequence). Empty for most tables.
  std::vector<SharedSequence> time_sequences;

  int ColumnIndex(std::string_view name) const;
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// magic | version | body length | compression | raw length | body | crc32c.
std::string EncodeManifest(const Manifest& manifest);
// DataLoss when the bytes fail the checksum or do not parse; the message names the field.
absl::StatusOr<Manifest> DecodeManifest(std::string_view bytes);

// File names inside a part directory.
std::string ColumnFileName(std::string_view column);  // "<column>.col"
std::string BloomFileName(std::string_view column);   // "<column>.bloom"

}  // namespace observex::storage
