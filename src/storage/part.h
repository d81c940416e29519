// Immutable parts: the unit of on-disk storage. A part holds one tenant's rows of one table
// for one UTC day, sorted by the table's sort key, in a directory
//   <root>/<tenant id>/<table>/<YYYY-MM-DD>/<part name>/
// with one file per column (blocks of up to 8,192 rows, each encoded, compressed and
// checksummed), a Bloom filter file for the table's trace id column, and a checksummed
// MANIFEST holding the sparse index. Directory names use the numeric tenant id only.
// docs/part-format.md is the normative description.
//
// WritePart is atomic: the part is built in a sibling temporary directory, every file and
// the directory are fsynced, then it is renamed into place and the parent fsynced; a crash
// leaves either the whole part or a temporary directory that RemoveTemporaryParts deletes.
//
// PartReader verifies the manifest when it opens a part, and each block's checksum when it
// reads it; a mismatch is DataLoss with a message naming the file. A PartReader is
// immutable after Open and safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/block_cache.h"
#include "storage/bloom.h"
#include "storage/codec.h"
#include "storage/column.h"
#include "storage/file_util.h"
#include "storage/manifest.h"
#include "storage/schema.h"

namespace observex::storage {

inline constexpr uint32_t kDefaultBlockRows = 8192;
// Prefix of a part directory being written; never a valid part name.
inline constexpr char kTempPartPrefix[] = ".tmp-";

// "2024-05-17" for a day number; the day directory's name.
std::string DayDirName(int32_t day);
// "p-00000000000000000042": the name the storage engine gives its n-th part of a directory.
std::string PartName(uint64_t sequence);
// <root>/<tenant id>/<table>/<day>.
std::filesystem::path DayDir(const std::filesystem::path& root, int64_t tenant_id, Table table,
                             int32_t day);

struct PartWriteOptions {
  int64_t tenant_id = 0;
  int32_t day = 0;   // every row's time must fall in this UTC day
  std::string name;  // part directory name: [A-Za-z0-9_.-]+, not starting with '.'
  std::optional<WalRange> wal_range;
  uint32_t level = 0;
  uint32_t block_rows = kDefaultBlockRows;  // tests use small blocks
  int zstd_level = 3;
  bool fsync = true;               // false only in tests and benchmarks
  int64_t created_unix_nanos = 0;  // 0 = now
  // Threads that encode and write the column files (the caller's included; at least 1).
  // The files are the same whatever the count.
  uint32_t threads = 1;
};

// Writes `rows` (every column of `schema`, in schema order, any row order) as a new part in
// DayDir(root, tenant, table, day). Rows are sorted by the schema's sort key (stable, so rows
// with equal keys keep their input order). Returns the manifest written.
// InvalidArgument for a malformed batch, an empty batch, a bad name or a row outside the day;
// AlreadyExists when the part exists; Unavailable/ResourceExhausted on I/O errors (the
// temporary directory is removed).
absl::StatusOr<Manifest> WritePart(const std::filesystem::path& root, const TableSchema& schema,
                                   const ColumnBatch& rows, const PartWriteOptions& options);
// The same for rows given as chunks (each with every column of `schema`), taken in chunk
// order as if concatenated: a seal writes a head's chunks where they lie, without first
// copying them into one batch.
absl::StatusOr<Manifest> WritePart(const std::filesystem::path& root, const TableSchema& schema,
                                   std::span<const ColumnBatch* const> chunks,
                                   const PartWriteOptions& options);

// Deletes temporary part directories left in `day_dir` by interrupted writes.
absl::Status RemoveTemporaryParts(const std::filesystem::path& day_dir);

// Buffers for reading blocks, reused across reads by one thread.
struct BlockReadContext {
  BlockDecompressor decompressor;
  std::string stored;
  // When set, blocks are looked up in and added to it; the last block read from it is
  // pinned here while the caller decodes it.
  BlockCache* cache = nullptr;
  std::shared_ptr<const std::string> pinned;
};

class PartReader {
 public:
  // Opens the part in `dir`: reads and verifies MANIFEST and checks it belongs to
  // `tenant_id` and `schema`'s table and has the schema's columns. DataLoss (naming the
  // file) for a corrupt manifest or one that belongs elsewhere; NotFound when absent.
  static absl::StatusOr<std::shared_ptr<const PartReader>> Open(const std::filesystem::path& dir,
                                                                const TableSchema& schema,
                                                                int64_t tenant_id);

  const Manifest& manifest() const { return manifest_; }
  const std::filesystem::path& dir() const { return dir_; }
  const TableSchema& schema() const { return *schema_; }
  size_t num_blocks() const { return manifest_.blocks.size(); }

  // Reads block `block` of column `column` (a manifest/schema column index), verifies its
  // checksum and header against the manifest, decompresses and decodes it into *out.
  // DataLoss naming the column file on any mismatch. `ctx` belongs to the calling thread.
  // With windows only those rows are decoded (see DecodeColumn; the others are unspecified).
  absl::Status ReadBlock(int column, size_t block, BlockReadContext& ctx, Column* out,
                         std::span<const RowWindow> windows = {}) const;
  // Reads the time column's block for `windows` (each one series' rows) and narrows each
  // window to the rows with times in [mint, maxt] (DecodeTimeWindows). Same checks and
  // errors as ReadBlock.
  absl::Status ReadTimeWindows(int column, size_t block, BlockReadContext& ctx, Column* out,
                               std::span<RowWindow> windows, int64_t mint, int64_t maxt) const;
  // Reads an int64 column's block as its runs of equal values (DecodeValueRuns): the series
  // ids of a samples block without expanding them. Same checks and errors as ReadBlock.
  absl::Status ReadBlockRuns(int column, size_t block, BlockReadContext& ctx,
                             std::vector<ValueRun>* out) const;

  // The blocks whose rows may have `value` in the bloom-indexed column: every block that
  // does is listed (the filter is read and verified on first use). FailedPrecondition when
  // the table has no such column.
  absl::StatusOr<std::vector<uint32_t>> BlocksMayContain(std::string_view value) const;
  // False only when no row's bloom-indexed column equals `value`.
  absl::StatusOr<bool> MayContain(std::string_view value) const;

  // Only Open can make the key; the constructor is public for std::make_shared.
  class Passkey {
    friend class PartReader;
    Passkey() = default;
  };
  PartReader(Passkey, std::filesystem::path dir, const TableSchema* schema, Manifest manifest);

 private:
  // Reads, verifies and decompresses block `block` of `column` into ctx (*raw points there),
  // or finds it in ctx.cache.
  absl::Status LoadBlock(int column, size_t block, BlockReadContext& ctx,
                         std::string_view* raw) const;
  // LoadBlock of an int64 column; InvalidArgument for a column of another type.
  absl::Status LoadInt64Block(int column, size_t block, BlockReadContext& ctx,
                              std::string_view* raw) const;
  absl::StatusOr<int> ColumnFd(int column) const;
  // DataLoss naming the column's file and the block, for a block that does not decode.
  absl::Status BlockCorrupt(int column, size_t block, const absl::Status& why) const;

  const std::filesystem::path dir_;
  const TableSchema* const schema_;
  const Manifest manifest_;
  const uint64_t cache_id_;  // unique in the process: the part's key in a BlockCache

  mutable absl::Mutex mu_;
  mutable std::vector<fileutil::Fd> fds_ ABSL_GUARDED_BY(mu_);  // opened on first read
  mutable std::optional<BloomFilter> bloom_ ABSL_GUARDED_BY(mu_);
};

}  // namespace observex::storage
