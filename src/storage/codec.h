// Column encodings of the storage engine: how one block of one column becomes bytes and back.
// Every value round-trips bit-exactly (floats by their bit pattern: NaN payloads, -0.0 and
// Prometheus's stale marker included). An encoded block starts with its row count; decoders
// check every length and index against the input they are given and report malformed input
// as DataLoss, never by reading out of bounds. docs/part-format.md specifies the byte layouts.
//
// Encodings are applied first; a block compressor (zstd) then runs over the encoded bytes.
// kSegmented is the one encoding that looks past the column it encodes: the writer passes the
// lengths of the block's runs (rows with equal sort key before its time column, such as one
// series' samples) and each run gets its own sub-encoding, so one series of arbitrary floats
// no longer decides the encoding of every other series sharing its block.
//
// Thread-safety: the free functions are thread-safe. BlockCompressor/BlockDecompressor own a
// zstd context each and must be used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "storage/column.h"

namespace observex::storage {

// On-disk ids: never renumber.
enum class Encoding : uint8_t {
  // int64: zigzag varints. float64: 8-byte little-endian words. string: varint lengths, then
  // the bytes.
  kPlain = 1,
  // int64: k-th order differences (k = 0, 1 or 2, whichever packs smallest for the block;
  // k = 2 is delta-of-delta, what regular timestamps get), zigzagged and bit-packed in
  // groups of 128 with one width per group.
  kDelta = 2,
  // float64: XOR with the previous value, Gorilla-style variable-length bit stream.
  kGorilla = 3,
  // float64: every value is m / 10^e for one e in [0, 15] and int64 m; m stored as kDelta.
  // Counters and most gauges qualify; the writer falls back to kGorilla otherwise.
  kDecimal = 4,
  // string: the distinct values once, then bit-packed indices.
  kDictionary = 5,
  // int64 / float64: the block cut into runs (one series each in the samples table), every
  // run encoded on its own with the sub-encoding that packs it smallest. int64 runs:
  // delta (as kDelta), a regular grid (a step, then sparse jitter and skipped steps: scrape
  // timestamps), or a copy of the previous run (series scraped together). float64 runs: one
  // constant, decimal mantissas (frame-of-reference packed differences), decimal mantissas
  // minus the previous run's (cumulative histogram buckets), Gorilla XOR, or differences of
  // the IEEE-754 bit patterns (full-precision sums that grow). Decoding needs no other column.
  kSegmented = 6,
};

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

std::string_view EncodingName(Encoding encoding);
std::string_view CompressionName(Compression compression);
// Whether `encoding` can hold a column of `type` (what decoders accept).
bool EncodingFits(Encoding encoding, ColumnType type);

// A sequence of int64 values stored once per part (the manifest's shared time sequences) that
// runs of kSegmented int64 blocks may refer to: the series of one scrape target share their
// scrape times, so the part stores those times once and each block run names a slice.
// `encoded` is a kSegmented int64 block of the `values` values in one run.
// Decoders keep a sequence's decoded values with it (`decoded`, filled by the first decode
// that refers to it), so that the blocks of a part do not decode the same sequence again and
// again: a 5-minute read of one series otherwise decodes its target's whole day of times.
// Decoded values are kept only while the process holds at most kMaxDecodedSequenceBytes of
// them, and freed with the sequence. A copy starts without them (it may be changed); a
// sequence's `encoded` must not change once it has been decoded.
class DecodedSequence;
struct SharedSequence {
  uint32_t values = 0;
  std::string encoded;
  std::shared_ptr<DecodedSequence> decoded = MakeDecodedSequence();  // not shared by copies

  SharedSequence() = default;
  ~SharedSequence();
  SharedSequence(const SharedSequence& o) : values(o.values), encoded(o.encoded) {}
  SharedSequence& operator=(const SharedSequence& o);
  SharedSequence(SharedSequence&&) noexcept;
  SharedSequence& operator=(SharedSequence&&) noexcept;
  friend bool operator==(const SharedSequence& a, const SharedSequence& b) {
    return a.values == b.values && a.encoded == b.encoded;
  }
  static std::shared_ptr<DecodedSequence> MakeDecodedSequence();
};
// Bound on the decoded shared sequences kept by the whole process (values x 8 bytes).
inline constexpr size_t kMaxDecodedSequenceBytes = size_t{64} << 20;
// What they hold now (for tests and metrics).
size_t DecodedSequenceBytes();
inline constexpr uint32_t kNoSequence = UINT32_MAX;
// Longest shared sequence (decoders allocate this many values for one).
inline constexpr uint32_t kMaxSharedSequenceValues = 1u << 20;
// Where one run's values lie among the shared sequences: values [offset, offset + run length)
// of sequence `entry`; kNoSequence when they are not shared.
struct SequenceRef {
  uint32_t entry = kNoSequence;
  uint32_t offset = 0;
};
// Encodes values as a SharedSequence.
SharedSequence MakeSharedSequence(std::span<const int64_t> values);

// Appends the encoding of rows [begin, end) of `column` to *out and returns the encoding
// used. `preferred` is a hint: kDecimal falls back to kGorilla when a value is not a short
// decimal, kDictionary falls back to kPlain when more than half the values are distinct;
// an encoding that does not fit the column's type is replaced by the type's default
// (int64 kDelta, float64 kDecimal, string kDictionary). `runs` matters to kSegmented only:
// the lengths of consecutive runs covering [begin, end) in order; empty, or lengths that do
// not add up to end - begin, mean one run. `refs` (kSegmented int64 only, one per run, else
// ignored) says which runs equal a slice of a shared sequence; such runs refer to it.
Encoding EncodeColumn(const Column& column, size_t begin, size_t end, Encoding preferred,
                      std::string* out, std::span<const uint32_t> runs = {},
                      std::span<const SequenceRef> refs = {});

// The rows of a block a reader needs: [begin, end).
struct RowWindow {
  size_t begin = 0;
  size_t end = SIZE_MAX;
};

// Decodes a block of exactly `rows` values into *out, replacing its content and type.
// DataLoss when the bytes are malformed or hold another row count; InvalidArgument when
// `encoding` does not fit `type`. `sequences` are the part's shared sequences, which runs of
// kSegmented int64 blocks may refer to (a reference to a missing one is malformed).
// With windows (sorted, disjoint), *out still holds `rows` values but only those in the
// windows are decoded (the others are unspecified): kSegmented blocks step over the runs
// outside them (and stop reading after the last), so a read of one series' last minutes
// decodes that series' run up to them, from the XOR segment or packed group holding them,
// instead of the whole block. Other encodings decode every row. No windows: every row.
absl::Status DecodeColumn(std::string_view in, ColumnType type, Encoding encoding, size_t rows,
                          Column* out, std::span<const SharedSequence> sequences = {},
                          std::span<const RowWindow> windows = {});

// Decodes the timestamps of an int64 time block for `windows` (sorted, disjoint; each the
// rows of one series, so in time order) and narrows each window to its rows with times in
// [mint, maxt] (empty, begin == end, when none). Only the rows of the narrowed windows are
// certain to be decoded. A run that is a slice of a shared sequence is bisected where the
// sequence is kept, so a long run costs its few rows in the range, not a copy of the run.
// Errors as DecodeColumn.
absl::Status DecodeTimeWindows(std::string_view in, Encoding encoding, size_t rows, Column* out,
                               std::span<const SharedSequence> sequences,
                               std::span<RowWindow> windows, int64_t mint, int64_t maxt);

// A stretch of equal values in an int64 block: rows [begin, begin + length).
struct ValueRun {
  int64_t value;
  uint32_t begin, length;
};
// Decodes an int64 block of `rows` values as its runs of equal values, in row order (adjacent
// runs differ). A kDelta block of sorted series ids is read without expanding its constant
// groups; other encodings are decoded and then grouped. Errors as DecodeColumn.
absl::Status DecodeValueRuns(std::string_view in, Encoding encoding, size_t rows,
                             std::vector<ValueRun>* out);

// Compresses encoded blocks with a reused zstd context.
class BlockCompressor {
 public:
  explicit BlockCompressor(int zstd_level = 3);
  ~BlockCompressor();
  BlockCompressor(const BlockCompressor&) = delete;
  BlockCompressor& operator=(const BlockCompressor&) = delete;

  // Replaces *out with the stored form of `raw` and returns how it is stored: kNone when
  // compressing would not save at least 1/32 of the bytes (small or incompressible blocks),
  // which also saves the decompression on every read.
  Compression Compress(std::string_view raw, std::string* out);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  int level_;
};

class BlockDecompressor {
 public:
  BlockDecompressor();
  ~BlockDecompressor();
  BlockDecompressor(const BlockDecompressor&) = delete;
  BlockDecompressor& operator=(const BlockDecompressor&) = delete;

  // Returns the raw bytes of a stored block: `stored` itself for kNone, else the
  // decompressed bytes in a buffer owned by this object (valid until the next call).
  // DataLoss when the block does not decompress to exactly `raw_len` bytes.
  absl::Status Decompress(std::string_view stored, Compression compression, size_t raw_len,
                          std::string_view* raw);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::string buffer_;
};

}  // namespace observex::storage
