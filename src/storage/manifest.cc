#include "storage/manifest.h"

#include <zstd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/bits.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

constexpr uint32_t kManifestMagic = 0x4D50584Fu;  // bytes "OXPM"
// magic | version | body length | compression | raw length
constexpr size_t kPrefixBytes = 17;
constexpr uint32_t kMaxColumns = 4096;
// zstd level of manifest bodies: written once per part, read at every open, so a slower
// level pays; larger manifests (long merged parts) get a faster one.
constexpr int kManifestZstdLevel = 15;
constexpr int kLargeManifestZstdLevel = 9;
constexpr size_t kLargeManifestBytes = 4u << 20;

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { bits::PutFixed32(&out_, v); }
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void U64(uint64_t v) { bits::PutFixed64(&out_, v); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// Reads fields in order; the first read past the end makes every later read fail and
// remembers which field it was.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool Take(size_t n, const char* field) {
    if (!failed_.empty()) return false;
    if (static_cast<size_t>(end_ - p_) < n) {
      failed_ = field;
      return false;
    }
    return true;
  }
  uint8_t U8(const char* field) {
    if (!Take(1, field)) return 0;
    return static_cast<uint8_t>(*p_++);
  }
  uint32_t U32(const char* field) {
    if (!Take(4, field)) return 0;
    const uint32_t v = bits::LoadFixed32(p_);
    p_ += 4;
    return v;
  }
  int32_t I32(const char* field) { return static_cast<int32_t>(U32(field)); }
  uint64_t U64(const char* field) {
    if (!Take(8, field)) return 0;
    const uint64_t v = bits::LoadFixed64(p_);
    p_ += 8;
    return v;
  }
  int64_t I64(const char* field) { return static_cast<int64_t>(U64(field)); }
  std::string Str(const char* field) {
    const uint32_t n = U32(field);
    if (!Take(n, field)) return {};
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  // A count of items that each take at least `min_item_bytes`.
  uint32_t Count(const char* field, size_t min_item_bytes) {
    const uint32_t n = U32(field);
    if (failed_.empty() &&
        static_cast<uint64_t>(n) * min_item_bytes > static_cast<uint64_t>(end_ - p_)) {
      failed_ = field;
      return 0;
    }
    return n;
  }
  void Fail(std::string what) {
    if (failed_.empty()) failed_ = std::move(what);
  }
  const std::string& failed() const { return failed_; }
  bool at_end() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
  std::string failed_;
};

void PutKey(Writer& w, const SortKey& key) {
  w.U32(static_cast<uint32_t>(key.size()));
  for (const auto& v : key) {
    if (std::holds_alternative<int64_t>(v)) {
      w.U8(static_cast<uint8_t>(ColumnType::kInt64));
      w.I64(std::get<int64_t>(v));
    } else {
      w.U8(static_cast<uint8_t>(ColumnType::kString));
      w.Str(std::get<std::string>(v));
    }
  }
}

SortKey GetKey(Reader& r) {
  SortKey key;
  const uint32_t n = r.Count("sort key length", 1);
  for (uint32_t i = 0; i < n && r.failed().empty(); ++i) {
    const uint8_t type = r.U8("sort key type");
    if (type == static_cast<uint8_t>(ColumnType::kInt64)) {
      key.emplace_back(r.I64("sort key value"));
    } else if (type == static_cast<uint8_t>(ColumnType::kString)) {
      key.emplace_back(r.Str("sort key value"));
    } else {
      r.Fail(absl::StrCat("sort key type ", type));
    }
  }
  return key;
}

// Every id codec.h names (it never renumbers them).
bool ValidEncoding(uint8_t e) { return EncodingName(static_cast<Encoding>(e)) != "unknown"; }
bool ValidCompression(uint8_t c) { return c <= 1; }
bool ValidType(uint8_t t) { return t >= 1 && t <= 3; }

}  // namespace

int Manifest::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string ColumnFileName(std::string_view column) {
  return absl::StrCat(std::string(column), ".col");
}
std::string BloomFileName(std::string_view column) {
  return absl::StrCat(std::string(column), ".bloom");
}

std::string EncodeManifest(const Manifest& m) {
  Writer w;
  w.U8(static_cast<uint8_t>(m.table));
  w.I64(m.tenant_id);
  w.I32(m.day);
  w.Str(m.part_name);
  w.U32(m.level);
  w.I64(m.created_unix_nanos);
  w.U8(m.wal_range ? 1 : 0);
  w.U64(m.wal_range ? m.wal_range->first : 0);
  w.U64(m.wal_range ? m.wal_range->last : 0);
  w.U64(m.rows);
  w.I64(m.min_time);
  w.I64(m.max_time);
  w.U32(m.block_rows);
  w.U32(static_cast<uint32_t>(m.columns.size()));
  for (const auto& c : m.columns) {
    w.Str(c.name);
    w.U8(static_cast<uint8_t>(c.type));
    w.U64(c.file_bytes);
    w.U64(c.raw_bytes);
    w.U64(c.plain_bytes);
  }
  w.U32(static_cast<uint32_t>(m.sort_key.size()));
  for (int k : m.sort_key) w.I32(k);
  w.I32(m.time_column);
  w.I32(m.bloom_column);
  w.U64(m.bloom_bytes);
  w.U32(static_cast<uint32_t>(m.blocks.size()));
  for (const auto& b : m.blocks) {
    w.U32(b.rows);
    w.I64(b.min_time);
    w.I64(b.max_time);
    PutKey(w, b.first_key);
    PutKey(w, b.last_key);
    // Offsets are not stored: each column's blocks tile its file in order.
    for (const auto& c : b.columns) {
      w.U32(c.stored_len);
      w.U32(c.raw_len);
      w.U8(static_cast<uint8_t>(c.encoding));
      w.U8(static_cast<uint8_t>(c.compression));
    }
  }
  w.U32(static_cast<uint32_t>(m.time_sequences.size()));
  for (const auto& seq : m.time_sequences) {
    w.U32(seq.values);
    w.Str(seq.encoded);
  }
  const std::string& raw = w.out();
  std::string out;
  bits::PutFixed32(&out, kManifestMagic);
  bits::PutFixed32(&out, m.version);
  bits::PutFixed32(&out, 0);  // body length, patched below
  out.push_back(static_cast<char>(Compression::kZstd));
  bits::PutFixed32(&out, static_cast<uint32_t>(raw.size()));
  out.resize(kPrefixBytes + ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(
      out.data() + kPrefixBytes, out.size() - kPrefixBytes, raw.data(), raw.size(),
      raw.size() > kLargeManifestBytes ? kLargeManifestZstdLevel : kManifestZstdLevel);
  if (ZSTD_isError(n)) {
    // Only allocation can fail here: store the body as it is.
    out.resize(kPrefixBytes);
    out[12] = static_cast<char>(Compression::kNone);
    out.append(raw);
  } else {
    out.resize(kPrefixBytes + n);
  }
  const uint32_t body_len = static_cast<uint32_t>(out.size() - kPrefixBytes);
  std::memcpy(out.data() + 8, &body_len, 4);
  bits::PutFixed32(&out, wal::crc32c::Value(out.data(), out.size()));
  return out;
}

absl::StatusOr<Manifest> DecodeManifest(std::string_view bytes) {
  // Magic, version and checksum sit where every version put them, so an old part is named
  // by its version rather than reported as damaged.
  if (bytes.size() < 16) {
    return absl::DataLossError(absl::StrCat("manifest has only ", bytes.size(), " bytes"));
  }
  const uint32_t crc = bits::LoadFixed32(bytes.data() + bytes.size() - 4);
  if (wal::crc32c::Value(bytes.data(), bytes.size() - 4) != crc) {
    return absl::DataLossError("manifest fails its crc32c");
  }
  if (bits::LoadFixed32(bytes.data()) != kManifestMagic) {
    return absl::DataLossError("manifest has a bad magic");
  }
  Manifest m;
  m.version = bits::LoadFixed32(bytes.data() + 4);
  if (m.version < kOldestReadablePartFormatVersion || m.version > kPartFormatVersion) {
    return absl::DataLossError(
        absl::StrCat("manifest has format version ", m.version, "; this build reads versions ",
                     kOldestReadablePartFormatVersion, " to ", kPartFormatVersion));
  }
  if (bytes.size() < kPrefixBytes + 4) {
    return absl::DataLossError(absl::StrCat("manifest has only ", bytes.size(), " bytes"));
  }
  const uint32_t body_len = bits::LoadFixed32(bytes.data() + 8);
  if (body_len != bytes.size() - kPrefixBytes - 4) {
    return absl::DataLossError(
        absl::StrCat("manifest claims a ", body_len, "-byte body in ", bytes.size(), " bytes"));
  }
  const uint8_t compression = static_cast<uint8_t>(bytes[12]);
  const uint32_t raw_len = bits::LoadFixed32(bytes.data() + 13);
  const std::string_view stored = bytes.substr(kPrefixBytes, body_len);
  std::string decompressed;
  std::string_view body;
  if (compression == static_cast<uint8_t>(Compression::kNone)) {
    if (raw_len != body_len) {
      return absl::DataLossError(
          absl::StrCat("manifest body of ", body_len, " bytes claims ", raw_len, " uncompressed"));
    }
    body = stored;
  } else if (compression == static_cast<uint8_t>(Compression::kZstd)) {
    if (raw_len > kMaxManifestBytes) {
      return absl::DataLossError(absl::StrCat("manifest claims ", raw_len, " bytes uncompressed"));
    }
    decompressed.resize(raw_len);
    const size_t n =
        ZSTD_decompress(decompressed.data(), decompressed.size(), stored.data(), stored.size());
    if (ZSTD_isError(n) || n != raw_len) {
      return absl::DataLossError(
          absl::StrCat("manifest body does not decompress to ", raw_len, " bytes"));
    }
    body = decompressed;
  } else {
    return absl::DataLossError(absl::StrCat("manifest has compression ", compression));
  }
  Reader r(body);
  const uint8_t table = r.U8("table");
  if (table < 1 || table > static_cast<uint32_t>(std::size(kAllTables))) {
    r.Fail(absl::StrCat("table id ", table));
  }
  m.table = static_cast<Table>(table);
  m.tenant_id = r.I64("tenant id");
  m.day = r.I32("day");
  m.part_name = r.Str("part name");
  m.level = r.U32("level");
  m.created_unix_nanos = r.I64("created");
  const uint8_t has_wal = r.U8("wal range flag");
  const uint64_t wal_first = r.U64("wal range first");
  const uint64_t wal_last = r.U64("wal range last");
  if (has_wal > 1) r.Fail(absl::StrCat("wal range flag ", has_wal));
  if (has_wal == 1) m.wal_range = WalRange{wal_first, wal_last};
  m.rows = r.U64("rows");
  m.min_time = r.I64("min time");
  m.max_time = r.I64("max time");
  m.block_rows = r.U32("block rows");
  const uint32_t ncols = r.Count("column count", 29);
  if (ncols > kMaxColumns) r.Fail(absl::StrCat("column count ", ncols));
  for (uint32_t i = 0; i < ncols && r.failed().empty(); ++i) {
    ColumnMeta c;
    c.name = r.Str("column name");
    const uint8_t type = r.U8("column type");
    if (!ValidType(type)) r.Fail(absl::StrCat("column type ", type));
    c.type = static_cast<ColumnType>(type);
    c.file_bytes = r.U64("column file bytes");
    c.raw_bytes = r.U64("column raw bytes");
    c.plain_bytes = r.U64("column plain bytes");
    m.columns.push_back(std::move(c));
  }
  const uint32_t nkey = r.Count("sort key column count", 4);
  for (uint32_t i = 0; i < nkey && r.failed().empty(); ++i) {
    const int32_t k = r.I32("sort key column");
    if (k < 0 || static_cast<uint32_t>(k) >= ncols) r.Fail(absl::StrCat("sort key column ", k));
    m.sort_key.push_back(k);
  }
  m.time_column = r.I32("time column");
  if (r.failed().empty() && (m.time_column < 0 || static_cast<uint32_t>(m.time_column) >= ncols ||
                             m.columns[m.time_column].type != ColumnType::kInt64)) {
    r.Fail(absl::StrCat("time column ", m.time_column));
  }
  m.bloom_column = r.I32("bloom column");
  if (m.bloom_column < -1 || m.bloom_column >= static_cast<int32_t>(ncols)) {
    r.Fail(absl::StrCat("bloom column ", m.bloom_column));
  }
  m.bloom_bytes = r.U64("bloom bytes");
  const uint32_t nblocks = r.Count("block count", 28 + 10 * static_cast<size_t>(ncols));
  uint64_t total_rows = 0;
  std::vector<uint64_t> offsets(ncols, 0);
  for (uint32_t i = 0; i < nblocks && r.failed().empty(); ++i) {
    BlockMeta b;
    b.rows = r.U32("block rows");
    b.min_time = r.I64("block min time");
    b.max_time = r.I64("block max time");
    b.first_key = GetKey(r);
    b.last_key = GetKey(r);
    if (r.failed().empty() &&
        (b.first_key.size() != nkey || b.last_key.size() != nkey || b.rows == 0)) {
      r.Fail(absl::StrCat("block ", i, " has a malformed sparse index entry"));
    }
    total_rows += b.rows;
    for (uint32_t c = 0; c < ncols && r.failed().empty(); ++c) {
      BlockColumnRef ref;
      ref.offset = offsets[c];
      ref.stored_len = r.U32("block stored length");
      offsets[c] += kBlockHeaderBytes + ref.stored_len;
      ref.raw_len = r.U32("block raw length");
      const uint8_t enc = r.U8("block encoding");
      const uint8_t comp = r.U8("block compression");
      if (!ValidEncoding(enc) || !ValidCompression(comp)) {
        r.Fail(absl::StrCat("block ", i, " column ", c, " has encoding ", enc, " and compression ",
                            comp));
      }
      ref.encoding = static_cast<Encoding>(enc);
      ref.compression = static_cast<Compression>(comp);
      b.columns.push_back(ref);
    }
    m.blocks.push_back(std::move(b));
  }
  const uint32_t nseq = r.Count("shared sequence count", 8);
  for (uint32_t i = 0; i < nseq && r.failed().empty(); ++i) {
    SharedSequence seq;
    seq.values = r.U32("shared sequence length");
    seq.encoded = r.Str("shared sequence");
    if (seq.values == 0 || seq.values > kMaxSharedSequenceValues) {
      r.Fail(absl::StrCat("shared sequence ", i, " of ", seq.values, " values"));
    }
    m.time_sequences.push_back(std::move(seq));
  }
  if (r.failed().empty() && !r.at_end()) r.Fail("bytes after the shared sequences");
  if (r.failed().empty() && total_rows != m.rows) {
    r.Fail(absl::StrCat("blocks hold ", total_rows, " rows, manifest says ", m.rows));
  }
  if (!r.failed().empty()) {
    return absl::DataLossError(absl::StrCat("manifest is malformed at: ", r.failed()));
  }
  return m;
}

}  // namespace observex::storage
