// Fuzzes the storage engine's block layer: column decoders, the zstd block wrapper and the part
// MANIFEST parser. The first input byte picks a mode:
//   0  decode: bytes 1-2 are a row count (little-endian), the rest one encoded block, decoded as
//      every (column type, encoding) pair, fitting or not, with two shared sequences to refer to,
//      in full and through four sets of row windows, and int64 ones also as time windows
//      narrowed to a range (DecodeTimeWindows);
//   1  round trip: byte 1 a column type, byte 2 the preferred encoding (and, for kSegmented,
//      how the rows are cut into runs), byte 3 the first row; the rest describes values (see
//      ReadValues), which are encoded, compressed, decompressed and decoded again;
//   2  manifest: the rest is a MANIFEST; when byte 1 is odd its length field and crc32c are
//      recomputed first (and with bit 1 set, the body marked uncompressed), so the body parser
//      is reached;
//   3  zstd: bytes 1-3 are the raw length, byte 4 a column type and encoding, bytes 5-6 a row
//      count, the rest a stored block decompressed and then decoded.
// Invariants: no crash or sanitizer report; decoders fail with DataLoss (InvalidArgument only
// for an encoding that cannot hold the type, which they must reject); a decoded column has the
// requested rows and consistent string offsets; re-encoding decoded values and decoding again
// gives them back bit-exactly (floats by bit pattern), and so does a fresh round trip; an
// accepted manifest re-encodes to one that decodes to the same value.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "storage/bits.h"
#include "storage/codec.h"
#include "storage/column.h"
#include "storage/manifest.h"
#include "wal/crc32c.h"

namespace {

namespace storage = observex::storage;
using storage::Column;
using storage::ColumnType;
using storage::Compression;
using storage::Encoding;

// Consumes the input front to back; reads past the end yield zeros.
class Input {
 public:
  explicit Input(std::string_view data) : data_(data) {}
  bool empty() const { return data_.empty(); }
  uint8_t U8() {
    if (data_.empty()) return 0;
    const auto v = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return v;
  }
  uint64_t Bytes(size_t n) {  // little-endian, n <= 8
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(U8()) << (8 * i);
    return v;
  }
  std::string_view Take(size_t n) {
    n = std::min(n, data_.size());
    std::string_view s = data_.substr(0, n);
    data_.remove_prefix(n);
    return s;
  }
  std::string_view Rest() { return Take(data_.size()); }

 private:
  std::string_view data_;
};

bool SameColumn(const Column& a, const Column& b) {
  if (a.index() != b.index()) return false;
  switch (a.index()) {
    case 0:
      return std::get<0>(a) == std::get<0>(b);
    case 1: {
      const auto& x = std::get<1>(a);
      const auto& y = std::get<1>(b);
      // Bit patterns, so NaN payloads and -0.0 count.
      return x.size() == y.size() &&
             (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
    }
    default:
      return std::get<2>(a) == std::get<2>(b);
  }
}

void CheckShape(const Column& c, ColumnType type, size_t rows) {
  if (storage::TypeOf(c) != type || storage::RowCount(c) != rows) abort();
  if (type != ColumnType::kString) return;
  const auto& s = std::get<2>(c);
  const auto& off = s.offsets();
  if (off.size() != rows + 1 || off.front() != 0 || off.back() != s.bytes().size()) abort();
  for (size_t i = 1; i < off.size(); ++i) {
    if (off[i] < off[i - 1]) abort();
  }
}

// Encodes `column` preferring `preferred` (with `runs` for kSegmented), stores the block (zstd
// when it pays) and reads it back; the result must equal the column.
void RoundTrip(const Column& column, size_t begin, Encoding preferred,
               const std::vector<uint32_t>& runs = {}) {
  const ColumnType type = storage::TypeOf(column);
  const size_t end = storage::RowCount(column);
  std::string encoded;
  const Encoding used = storage::EncodeColumn(column, begin, end, preferred, &encoded, runs);
  if (!storage::EncodingFits(used, type)) abort();
  storage::BlockCompressor compressor;
  std::string stored;
  const Compression compression = compressor.Compress(encoded, &stored);
  storage::BlockDecompressor decompressor;
  std::string_view raw;
  if (!decompressor.Decompress(stored, compression, encoded.size(), &raw).ok()) abort();
  if (raw != encoded) abort();
  Column decoded = storage::MakeColumn(type);
  if (!storage::DecodeColumn(raw, type, used, end - begin, &decoded).ok()) abort();
  CheckShape(decoded, type, end - begin);
  Column want = storage::MakeColumn(type);
  for (size_t i = begin; i < end; ++i) storage::AppendRow(column, i, want);
  if (!SameColumn(decoded, want)) abort();
}

// The shared sequences decode mode offers, so int64 runs that refer to one (kind 4, an entry
// and an offset) are reached: a regular grid and a short irregular one.
const std::vector<storage::SharedSequence>& FuzzSequences() {
  static const std::vector<storage::SharedSequence> seqs = [] {
    std::vector<int64_t> grid, odd = {5, -3, 1000000007, 42};
    for (int i = 0; i < 300; ++i) grid.push_back(1700000000000 + 15000 * i + (i % 7 == 0));
    return std::vector<storage::SharedSequence>{storage::MakeSharedSequence(grid),
                                                storage::MakeSharedSequence(odd)};
  }();
  return seqs;
}

// DecodeTimeWindows over `windows` of an int64 block whose full decode gave `full` (status
// `s`, values `out`), with a time range cut from the decoded values: it fails only with
// DataLoss, never where the full decode succeeded, and when every window is in time order,
// it narrows each exactly as bisecting the full decode does and decodes those rows.
void TimeWindowsOne(std::string_view block, Encoding encoding, size_t rows, const absl::Status& s,
                    const Column& out, const std::vector<storage::RowWindow>& windows) {
  const auto& v = std::get<0>(out);
  int64_t mint = 0, maxt = -1;
  if (s.ok() && rows > 0) {
    mint = v[rows / 3];
    maxt = v[rows / 2];
  }
  std::vector<storage::RowWindow> got = windows;
  Column t = storage::MakeColumn(ColumnType::kInt64);
  const absl::Status ts =
      storage::DecodeTimeWindows(block, encoding, rows, &t, FuzzSequences(), got, mint, maxt);
  if (!ts.ok() && !absl::IsDataLoss(ts) && !absl::IsInvalidArgument(ts)) abort();
  if (!s.ok()) return;
  if (!ts.ok()) abort();
  for (size_t w = 0; w < windows.size(); ++w) {
    const size_t e = std::min(windows[w].end, rows), b = std::min(windows[w].begin, e);
    if (!std::is_sorted(v.begin() + b, v.begin() + e)) continue;
    const size_t lo = std::lower_bound(v.begin() + b, v.begin() + e, mint) - v.begin();
    const size_t hi = std::upper_bound(v.begin() + lo, v.begin() + e, maxt) - v.begin();
    if (lo == hi) {
      if (got[w].begin != got[w].end) abort();
      continue;
    }
    if (got[w].begin != lo || got[w].end != hi) abort();
    for (size_t i = lo; i < hi; ++i) {
      if (std::get<0>(t)[i] != v[i]) abort();
    }
  }
}

// Decodes `block` as `type`/`encoding`; checks the status contract and, on success, that the
// values survive a re-encode.
void DecodeOne(std::string_view block, ColumnType type, Encoding encoding, size_t rows) {
  Column out = storage::MakeColumn(ColumnType::kInt64);
  const absl::Status s = storage::DecodeColumn(block, type, encoding, rows, &out, FuzzSequences());
  const bool fits = storage::EncodingFits(encoding, type);
  if (!fits) {
    if (!absl::IsInvalidArgument(s)) abort();
    return;
  }
  // Windows: the middle third; the last row; one past the end; the first and last quarters.
  // A windowed decode reads less of the block, so it may accept what a full one refuses, but
  // never the other way round, and its rows are the full decode's.
  using storage::RowWindow;
  const std::vector<std::vector<RowWindow>> window_sets = {
      {{rows / 3, 2 * rows / 3}},
      {{rows ? rows - 1 : 0, rows}},
      {{rows / 2, rows + 5}},
      {{0, rows / 4}, {rows - rows / 4, rows}}};
  for (const auto& windows : window_sets) {
    Column part = storage::MakeColumn(type);
    const absl::Status ws =
        storage::DecodeColumn(block, type, encoding, rows, &part, FuzzSequences(), windows);
    if (!ws.ok() && !absl::IsDataLoss(ws)) abort();
    if (!s.ok()) continue;
    if (!ws.ok()) abort();
    CheckShape(part, type, rows);
    for (const RowWindow& w : windows) {
      for (size_t i = w.begin; i < std::min(w.end, rows); ++i) {
        Column a = storage::MakeColumn(type), b = storage::MakeColumn(type);
        storage::AppendRow(out, i, a);
        storage::AppendRow(part, i, b);
        if (!SameColumn(a, b)) abort();
      }
    }
  }
  if (type == ColumnType::kInt64) {
    for (const auto& windows : window_sets) TimeWindowsOne(block, encoding, rows, s, out, windows);
  }
  if (!s.ok()) {
    if (!absl::IsDataLoss(s)) abort();
    return;
  }
  CheckShape(out, type, rows);
  RoundTrip(out, 0, encoding);
}

void DecodeEveryWay(std::string_view block, size_t rows) {
  for (ColumnType type : {ColumnType::kInt64, ColumnType::kFloat64, ColumnType::kString}) {
    for (int e = 0; e <= 7; ++e) DecodeOne(block, type, static_cast<Encoding>(e), rows);
  }
}

// Builds a column from the input: byte 0 the type, then one tag byte per value choosing how it
// is made, so that regular timestamps, short decimals, special floats and repeated strings
// (what the specialised encodings are for) are easy to reach.
Column ReadValues(Input& in, ColumnType type) {
  Column column = storage::MakeColumn(type);
  constexpr size_t kMaxRows = 4096;
  switch (type) {
    case ColumnType::kInt64: {
      auto& v = std::get<0>(column);
      while (!in.empty() && v.size() < kMaxRows) {
        const uint8_t tag = in.U8();
        const auto small = static_cast<int64_t>(static_cast<int8_t>(in.U8()));
        const uint64_t prev = v.empty() ? 0 : static_cast<uint64_t>(v.back());
        const uint64_t prev2 = v.size() < 2 ? 0 : static_cast<uint64_t>(v[v.size() - 2]);
        switch (tag & 3) {
          case 0:
            v.push_back(static_cast<int64_t>(in.Bytes(8)));
            break;
          case 1:
            v.push_back(static_cast<int64_t>(prev + static_cast<uint64_t>(small)));
            break;
          case 2:
            v.push_back(static_cast<int64_t>(prev + (prev - prev2) + static_cast<uint64_t>(small)));
            break;
          default:
            v.push_back(small);
        }
      }
      break;
    }
    case ColumnType::kFloat64: {
      static constexpr uint64_t kSpecial[] = {
          0x8000000000000000ull,  // -0.0
          0x7ff0000000000002ull,  // Prometheus stale marker
          0x7ff8000000000001ull,  // quiet NaN with a payload
          0xfff0000000000000ull,  // -Inf
          0x7ff0000000000000ull,  // +Inf
          0x0000000000000001ull,  // smallest denormal
          0x7fefffffffffffffull,  // largest finite
          0x3ff0000000000000ull,  // 1.0
      };
      auto& v = std::get<1>(column);
      while (!in.empty() && v.size() < kMaxRows) {
        const uint8_t tag = in.U8();
        switch (tag & 3) {
          case 0: {
            const uint64_t b = in.Bytes(8);
            double d;
            std::memcpy(&d, &b, sizeof d);
            v.push_back(d);
            break;
          }
          case 1: {
            static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
            const auto m = static_cast<int32_t>(static_cast<int32_t>(in.Bytes(4)));
            v.push_back(static_cast<double>(m) / kPow10[(tag >> 2) & 15]);
            break;
          }
          case 2: {
            double d;
            std::memcpy(&d, &kSpecial[(tag >> 2) & 7], sizeof d);
            v.push_back(d);
            break;
          }
          default: {
            // A counter: increments from the tag, or bell-shaped ones (the bits set in four
            // bytes), which the writer entropy-codes.
            const double step = (tag & 4) != 0 ? std::popcount(in.Bytes(4)) : (tag >> 3);
            v.push_back(v.empty() ? 0.0 : v.back() + step);
          }
        }
      }
      break;
    }
    case ColumnType::kString: {
      auto& v = std::get<2>(column);
      while (!in.empty() && v.size() < kMaxRows) {
        const uint8_t tag = in.U8();
        if ((tag & 0x80) != 0 && !v.empty()) {
          const std::string copy(v.at(in.U8() % v.size()));
          v.push_back(copy);
        } else {
          v.push_back(in.Take(tag & 0x3f));
        }
      }
      break;
    }
  }
  return column;
}

ColumnType TypeFrom(uint8_t b) { return static_cast<ColumnType>(1 + b % 3); }

// Run lengths covering `rows` rows for kSegmented, drawn from `seed`: 0 gives none (one run),
// otherwise lengths from 1 to 4 * seed, with single rows common. A last length that
// overshoots is kept now and then, so the encoder's one-run fallback is exercised too.
std::vector<uint32_t> RunsFrom(uint8_t seed, size_t rows) {
  std::vector<uint32_t> runs;
  if (seed == 0) return runs;
  uint32_t x = 0x9E3779B9u * seed;
  for (size_t left = rows; left > 0;) {
    x = x * 1664525u + 1013904223u;
    const size_t len = (x >> 28) < 4 ? 1 : 1 + (x >> 8) % (4u * seed);
    if (len > left) {
      runs.push_back(static_cast<uint32_t>((x & 0x100) != 0 ? len : left));
      break;
    }
    runs.push_back(static_cast<uint32_t>(len));
    left -= len;
  }
  return runs;
}

void ManifestMode(Input& in) {
  const uint8_t flags = in.U8();
  std::string bytes(in.Rest());
  // magic | version | body length | compression | raw length
  constexpr size_t kPrefix = 17;
  if ((flags & 1) != 0 && bytes.size() >= kPrefix + 4) {
    const auto body_len = static_cast<uint32_t>(bytes.size() - kPrefix - 4);
    std::memcpy(bytes.data() + 8, &body_len, 4);
    if ((flags & 2) != 0) {  // an uncompressed body: the parser sees the fuzzer's bytes
      bytes[12] = 0;
      std::memcpy(bytes.data() + 13, &body_len, 4);
    }
    bytes.resize(bytes.size() - 4);
    storage::bits::PutFixed32(&bytes, observex::wal::crc32c::Value(bytes.data(), bytes.size()));
  }
  absl::StatusOr<storage::Manifest> m = storage::DecodeManifest(bytes);
  if (!m.ok()) {
    if (!absl::IsDataLoss(m.status())) abort();
    return;
  }
  const std::string again = storage::EncodeManifest(*m);
  absl::StatusOr<storage::Manifest> m2 = storage::DecodeManifest(again);
  if (!m2.ok() || !(*m2 == *m)) abort();
  if (storage::EncodeManifest(*m2) != again) abort();
}

void ZstdMode(Input& in) {
  const size_t raw_len = in.Bytes(3) % ((1u << 20) + 1);
  const uint8_t shape = in.U8();
  const size_t rows = in.Bytes(2);
  const std::string_view stored = in.Rest();
  storage::BlockDecompressor decompressor;
  std::string_view raw;
  // A stored length that disagrees with raw_len, and unknown compression ids, must be refused.
  const absl::Status none = decompressor.Decompress(stored, Compression::kNone, raw_len, &raw);
  if (none.ok() != (stored.size() == raw_len)) abort();
  if (!none.ok() && !absl::IsDataLoss(none)) abort();
  if (!absl::IsDataLoss(decompressor.Decompress(stored, static_cast<Compression>(2 + shape % 8),
                                                raw_len, &raw))) {
    abort();
  }
  const absl::Status s = decompressor.Decompress(stored, Compression::kZstd, raw_len, &raw);
  if (!s.ok()) {
    if (!absl::IsDataLoss(s)) abort();
    return;
  }
  if (raw.size() != raw_len) abort();
  const std::string copy(raw);  // `raw` lives in the decompressor, which runs again below
  storage::BlockCompressor compressor;
  std::string restored;
  const Compression c = compressor.Compress(copy, &restored);
  std::string_view back;
  if (!decompressor.Decompress(restored, c, copy.size(), &back).ok() || back != copy) abort();
  DecodeOne(copy, TypeFrom(shape), static_cast<Encoding>((shape >> 2) % 8), rows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(std::string_view(reinterpret_cast<const char*>(data), size));
  switch (in.U8() % 4) {
    case 0: {
      const size_t rows = in.Bytes(2);
      DecodeEveryWay(in.Rest(), rows);
      break;
    }
    case 1: {
      const ColumnType type = TypeFrom(in.U8());
      const uint8_t choice = in.U8();
      const auto preferred = static_cast<Encoding>(1 + choice % 6);
      const uint8_t begin = in.U8() % 4;
      const Column column = ReadValues(in, type);
      const size_t first = std::min<size_t>(begin, storage::RowCount(column));
      RoundTrip(column, first, preferred,
                RunsFrom(static_cast<uint8_t>(choice / 6), storage::RowCount(column) - first));
      break;
    }
    case 2:
      ManifestMode(in);
      break;
    default:
      ZstdMode(in);
      break;
  }
  return 0;
}
