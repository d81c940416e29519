// Bit- and byte-level building blocks of the column encodings: little-endian fixed-width
// integers, LEB128 varints, zigzag, fixed-width bit packing (LSB first) and an MSB-first bit
// stream for the XOR float encoding. Internal to src/storage. Readers never read outside the
// range they are given and report overruns by returning false; callers turn that into
// DataLoss. Stateless functions; each writer/reader object is used by one thread.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace observex::storage::bits {

static_assert(std::endian::native == std::endian::little,
              "storage encodes integers by copying little-endian host words");

inline void PutFixed32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}
inline void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}
inline uint16_t LoadFixed16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t LoadFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t LoadFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline void PutVarint(std::string* out, uint64_t v) {
  char b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out->append(b, n);
}

// Reads a varint at *p (< end) and advances *p. False on truncation or more than 10 bytes.
inline bool GetVarint(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  const char* q = *p;
  for (int shift = 0; shift <= 63 && q < end; shift += 7) {
    const uint64_t byte = static_cast<uint8_t>(*q++);
    result |= (byte & 0x7F) << shift;
    if (byte < 0x80) {
      *p = q;
      *v = result;
      return true;
    }
  }
  return false;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (0 - (u & 1))); }

// Bits needed for v (0 for 0).
inline int BitWidth(uint64_t v) { return static_cast<int>(std::bit_width(v)); }

inline size_t PackedBytes(size_t n, int width) { return (n * static_cast<size_t>(width) + 7) / 8; }

// Appends the low `width` bits (0..64) of each of n values, LSB first, PackedBytes(n, width)
// bytes in total. Bits above `width` in a value must be zero.
void PackBits(const uint64_t* values, size_t n, int width, std::string* out);
// Inverse of PackBits; `in` must hold at least PackedBytes(n, width) bytes (`in_len`), and
// may hold more (the fast path reads 8-byte words when they lie inside `in_len`).
void UnpackBits(const char* in, size_t in_len, size_t n, int width, uint64_t* out);

// MSB-first bit stream: the first bit written is the top bit of the first byte.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  // Writes the low n bits of v (1 <= n <= 64; higher bits of v must be zero).
  void Write(uint64_t v, int n) {
    const int free = 64 - used_;
    if (n < free) {
      acc_ = (acc_ << n) | v;
      used_ += n;
      return;
    }
    const int rest = n - free;
    const uint64_t top = rest != 0 ? (v >> rest) : v;
    acc_ = free == 64 ? top : ((acc_ << free) | top);
    EmitWord(acc_);
    used_ = rest;
    acc_ = rest != 0 ? (v & ((uint64_t{1} << rest) - 1)) : 0;
  }
  void WriteBit(bool b) { Write(b ? 1 : 0, 1); }
  // Pads the last byte with zero bits and appends it. The writer must not be used after.
  void Finish() {
    if (used_ == 0) return;
    const uint64_t word = acc_ << (64 - used_);
    const int bytes = (used_ + 7) / 8;
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>(word >> (56 - 8 * i)));
    used_ = 0;
    acc_ = 0;
  }

 private:
  void EmitWord(uint64_t w) {
    const uint64_t be = __builtin_bswap64(w);
    char b[8];
    std::memcpy(b, &be, 8);
    out_->append(b, 8);
  }
  std::string* out_;
  uint64_t acc_ = 0;
  int used_ = 0;  // bits held in acc_, right-aligned
};

class BitReader {
 public:
  BitReader(const char* p, const char* end)
      : start_(reinterpret_cast<const uint8_t*>(p)),
        p_(start_),
        end_(reinterpret_cast<const uint8_t*>(end)) {}

  // Whole bytes the bits read so far occupy (the last one possibly partly).
  size_t consumed_bytes() const {
    const size_t bits_read = static_cast<size_t>(p_ - start_) * 8 - static_cast<size_t>(avail_);
    return (bits_read + 7) / 8;
  }

  // Reads n bits (1 <= n <= 56) into *v. False when the stream has fewer bits left.
  bool Read(int n, uint64_t* v) {
    if (avail_ < n) {
      Refill();
      if (avail_ < n) return false;
    }
    *v = buf_ >> (64 - n);
    buf_ <<= n;
    avail_ -= n;
    return true;
  }
  // Reads n bits (1 <= n <= 64).
  bool ReadWide(int n, uint64_t* v) {
    if (n <= 56) return Read(n, v);
    uint64_t hi, lo;
    if (!Read(n - 32, &hi) || !Read(32, &lo)) return false;
    *v = (hi << 32) | lo;
    return true;
  }
  bool ReadBit(bool* b) {
    uint64_t v;
    if (!Read(1, &v)) return false;
    *b = v != 0;
    return true;
  }

 private:
  // Leaves at least 56 bits in buf_ unless the input ends first. The bits of buf_ below
  // avail_ may already hold the next stream bits (the fast path loads whole words); a later
  // refill ORs the same bits again, which changes nothing.
  void Refill() {
    if (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
      w = __builtin_bswap64(w);
      buf_ |= w >> avail_;
      const int take = (63 - avail_) >> 3;
      p_ += take;
      avail_ += take * 8;
      return;
    }
    while (avail_ <= 56 && p_ < end_) {
      buf_ |= static_cast<uint64_t>(*p_++) << (56 - avail_);
      avail_ += 8;
    }
  }

  const uint8_t* start_;
  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t buf_ = 0;  // next bits, left-aligned
  int avail_ = 0;     // valid bits at the top of buf_
};

}  // namespace observex::storage::bits
