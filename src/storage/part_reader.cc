#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/bits.h"
#include "storage/part.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;

absl::Status Corrupt(const fs::path& file, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("storage: ", file.string(), ": ", what));
}

// The manifest's internal consistency and its fit to the schema; `file` names MANIFEST.
absl::Status CheckManifest(const Manifest& m, const TableSchema& schema, int64_t tenant_id,
                           const fs::path& file) {
  if (m.tenant_id != tenant_id) {
    return Corrupt(file, absl::StrCat("part belongs to tenant ", m.tenant_id, ", not ", tenant_id));
  }
  if (m.table != schema.table) {
    return Corrupt(file, absl::StrCat("part belongs to table ", std::string(TableName(m.table)),
                                      ", not ", std::string(TableName(schema.table))));
  }
  if (m.columns.size() != schema.columns.size()) {
    return Corrupt(file, absl::StrCat("part has ", m.columns.size(), " columns, table has ",
                                      schema.columns.size()));
  }
  for (size_t i = 0; i < m.columns.size(); ++i) {
    if (m.columns[i].name != schema.columns[i].name ||
        m.columns[i].type != schema.columns[i].type) {
      return Corrupt(file, absl::StrCat("column ", i, " is '", m.columns[i].name,
                                        "', table expects '", schema.columns[i].name, "'"));
    }
  }
  if (m.sort_key != schema.sort_key || m.time_column != schema.time_column ||
      m.bloom_column != schema.bloom_column) {
    return Corrupt(file, "sort key, time or bloom column differs from the table's");
  }
  if (m.block_rows == 0 || m.blocks.empty()) return Corrupt(file, "part has no blocks");
  std::vector<uint64_t> next_offset(m.columns.size(), 0);
  for (size_t b = 0; b < m.blocks.size(); ++b) {
    const BlockMeta& blk = m.blocks[b];
    if (blk.rows > m.block_rows || blk.min_time > blk.max_time || blk.min_time < m.min_time ||
        blk.max_time > m.max_time) {
      return Corrupt(file, absl::StrCat("sparse index entry of block ", b, " is inconsistent"));
    }
    for (size_t c = 0; c < m.columns.size(); ++c) {
      const BlockColumnRef& ref = blk.columns[c];
      if (ref.offset != next_offset[c] || !EncodingFits(ref.encoding, m.columns[c].type)) {
        return Corrupt(file, absl::StrCat("block ", b, " of column '", m.columns[c].name,
                                          "' is misplaced or has a foreign encoding"));
      }
      next_offset[c] += kBlockHeaderBytes + ref.stored_len;
    }
  }
  for (size_t c = 0; c < m.columns.size(); ++c) {
    if (next_offset[c] != m.columns[c].file_bytes) {
      return Corrupt(
          file, absl::StrCat("blocks of column '", m.columns[c].name, "' span ", next_offset[c],
                             " bytes, the file has ", m.columns[c].file_bytes));
    }
  }
  return absl::OkStatus();
}

std::atomic<uint64_t> next_cache_id{1};

}  // namespace

PartReader::PartReader(Passkey, fs::path dir, const TableSchema* schema, Manifest manifest)
    : dir_(std::move(dir)),
      schema_(schema),
      manifest_(std::move(manifest)),
      cache_id_(next_cache_id.fetch_add(1, std::memory_order_relaxed)) {
  fds_.resize(manifest_.columns.size());
}

absl::StatusOr<std::shared_ptr<const PartReader>> PartReader::Open(const fs::path& dir,
                                                                   const TableSchema& schema,
                                                                   int64_t tenant_id) {
  const fs::path file = dir / kManifestFileName;
  auto bytes = fileutil::ReadFile(file, kMaxManifestBytes);
  if (!bytes.ok()) {
    if (absl::IsDataLoss(bytes.status())) return Corrupt(file, bytes.status().message());
    return bytes.status();
  }
  auto m = DecodeManifest(*bytes);
  if (!m.ok()) return Corrupt(file, m.status().message());
  if (auto s = CheckManifest(*m, schema, tenant_id, file); !s.ok()) return s;
  return std::make_shared<const PartReader>(Passkey(), dir, &schema, *std::move(m));
}

absl::StatusOr<int> PartReader::ColumnFd(int column) const {
  absl::MutexLock lock(&mu_);
  fileutil::Fd& fd = fds_[column];
  if (!fd.valid()) {
    auto opened = fileutil::OpenForRead(dir_ / ColumnFileName(manifest_.columns[column].name));
    if (!opened.ok()) return opened.status();
    fd = *std::move(opened);
  }
  return fd.get();
}

absl::Status PartReader::LoadBlock(int column, size_t block, BlockReadContext& ctx,
                                   std::string_view* raw) const {
  if (column < 0 || static_cast<size_t>(column) >= manifest_.columns.size() ||
      block >= manifest_.blocks.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no block ", block, " of column ", column, " in part ", dir_.string()));
  }
  const BlockCache::Key key{cache_id_, static_cast<uint32_t>(column), static_cast<uint32_t>(block)};
  if (ctx.cache != nullptr) {
    if ((ctx.pinned = ctx.cache->Lookup(key)) != nullptr) {
      *raw = *ctx.pinned;
      return absl::OkStatus();
    }
  }
  const ColumnMeta& meta = manifest_.columns[column];
  const BlockMeta& blk = manifest_.blocks[block];
  const BlockColumnRef& ref = blk.columns[column];
  const fs::path file = dir_ / ColumnFileName(meta.name);
  auto fd = ColumnFd(column);
  if (!fd.ok()) return fd.status();
  const size_t total = kBlockHeaderBytes + ref.stored_len;
  ctx.stored.resize(total);
  if (auto s = fileutil::PreadExact(*fd, ctx.stored.data(), total, ref.offset, file); !s.ok()) {
    return s;
  }
  const char* h = ctx.stored.data();
  const uint32_t crc =
      wal::crc32c::Extend(wal::crc32c::Value(h, 16), h + kBlockHeaderBytes, ref.stored_len);
  if (crc != bits::LoadFixed32(h + 16)) {
    return Corrupt(file, absl::StrCat("block ", block, " fails its crc32c"));
  }
  if (static_cast<uint8_t>(h[0]) != static_cast<uint8_t>(ref.encoding) ||
      static_cast<uint8_t>(h[1]) != static_cast<uint8_t>(ref.compression) ||
      bits::LoadFixed32(h + 4) != blk.rows || bits::LoadFixed32(h + 8) != ref.raw_len ||
      bits::LoadFixed32(h + 12) != ref.stored_len) {
    return Corrupt(file, absl::StrCat("block ", block, " header disagrees with the manifest"));
  }
  const std::string_view stored(h + kBlockHeaderBytes, ref.stored_len);
  if (auto s = ctx.decompressor.Decompress(stored, ref.compression, ref.raw_len, raw); !s.ok()) {
    return Corrupt(file, absl::StrCat("block ", block, ": ", s.message()));
  }
  if (ctx.cache != nullptr) {
    ctx.pinned = std::make_shared<const std::string>(*raw);
    ctx.cache->Insert(key, ctx.pinned);
    *raw = *ctx.pinned;
  }
  return absl::OkStatus();
}

absl::Status PartReader::ReadBlock(int column, size_t block, BlockReadContext& ctx, Column* out,
                                   std::span<const RowWindow> windows) const {
  std::string_view raw;
  if (auto s = LoadBlock(column, block, ctx, &raw); !s.ok()) return s;
  const ColumnMeta& meta = manifest_.columns[column];
  const BlockMeta& blk = manifest_.blocks[block];
  const BlockColumnRef& ref = blk.columns[column];
  if (auto s = DecodeColumn(raw, meta.type, ref.encoding, blk.rows, out, manifest_.time_sequences,
                            windows);
      !s.ok()) {
    return BlockCorrupt(column, block, s);
  }
  return absl::OkStatus();
}

absl::Status PartReader::ReadTimeWindows(int column, size_t block, BlockReadContext& ctx,
                                         Column* out, std::span<RowWindow> windows, int64_t mint,
                                         int64_t maxt) const {
  std::string_view raw;
  if (auto s = LoadInt64Block(column, block, ctx, &raw); !s.ok()) return s;
  const BlockMeta& blk = manifest_.blocks[block];
  if (auto s = DecodeTimeWindows(raw, blk.columns[column].encoding, blk.rows, out,
                                 manifest_.time_sequences, windows, mint, maxt);
      !s.ok()) {
    return BlockCorrupt(column, block, s);
  }
  return absl::OkStatus();
}

absl::Status PartReader::BlockCorrupt(int column, size_t block, const absl::Status& why) const {
  return Corrupt(dir_ / ColumnFileName(manifest_.columns[column].name),
                 absl::StrCat("block ", block, ": ", why.message()));
}

absl::Status PartReader::LoadInt64Block(int column, size_t block, BlockReadContext& ctx,
                                        std::string_view* raw) const {
  if (column >= 0 && static_cast<size_t>(column) < manifest_.columns.size() &&
      manifest_.columns[column].type != ColumnType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat("column ", manifest_.columns[column].name,
                                                   " of part ", dir_.string(), " is not int64"));
  }
  return LoadBlock(column, block, ctx, raw);
}

absl::Status PartReader::ReadBlockRuns(int column, size_t block, BlockReadContext& ctx,
                                       std::vector<ValueRun>* out) const {
  std::string_view raw;
  if (auto s = LoadInt64Block(column, block, ctx, &raw); !s.ok()) return s;
  const BlockMeta& blk = manifest_.blocks[block];
  if (auto s = DecodeValueRuns(raw, blk.columns[column].encoding, blk.rows, out); !s.ok()) {
    return BlockCorrupt(column, block, s);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PartReader::MayContain(std::string_view value) const {
  auto blocks = BlocksMayContain(value);
  if (!blocks.ok()) return blocks.status();
  return !blocks->empty();
}

absl::StatusOr<std::vector<uint32_t>> PartReader::BlocksMayContain(std::string_view value) const {
  if (manifest_.bloom_column < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table ", std::string(TableName(manifest_.table)), " has no bloom-indexed column"));
  }
  absl::MutexLock lock(&mu_);
  if (!bloom_) {
    const fs::path file = dir_ / BloomFileName(manifest_.columns[manifest_.bloom_column].name);
    auto bytes = fileutil::ReadFile(file, manifest_.bloom_bytes);
    if (!bytes.ok()) {
      if (absl::IsDataLoss(bytes.status())) return Corrupt(file, bytes.status().message());
      return bytes.status();
    }
    if (bytes->size() != manifest_.bloom_bytes) {
      return Corrupt(file, absl::StrCat("has ", bytes->size(), " bytes, the manifest says ",
                                        manifest_.bloom_bytes));
    }
    auto f = BloomFilter::Parse(*bytes);
    if (!f.ok()) return Corrupt(file, f.status().message());
    bloom_ = *std::move(f);
  }
  std::vector<uint32_t> blocks;
  if (value.empty()) {
    // Rows without a trace id are not in the filter: any block may hold them.
    for (uint32_t b = 0; b < manifest_.blocks.size(); ++b) blocks.push_back(b);
    return blocks;
  }
  const uint64_t h = BloomHash(value);
  for (uint32_t b = 0; b < manifest_.blocks.size(); ++b) {
    if (bloom_->MayContainHash(BloomBlockHash(h, b))) blocks.push_back(b);
  }
  return blocks;
}

}  // namespace observex::storage
