#include "storage/bits.h"

#include <array>
#include <utility>

namespace observex::storage::bits {

void PackBits(const uint64_t* values, size_t n, int width, std::string* out) {
  if (width == 0 || n == 0) return;
  const size_t start = out->size();
  out->resize(start + PackedBytes(n, width));
  char* dst = out->data() + start;
  uint64_t acc = 0;
  int used = 0;  // bits in acc
  for (size_t i = 0; i < n; ++i) {
    const uint64_t x = values[i];
    acc |= x << used;
    used += width;
    if (used >= 64) {
      std::memcpy(dst, &acc, 8);
      dst += 8;
      used -= 64;
      acc = used != 0 ? (x >> (width - used)) : 0;
    }
  }
  const int tail = (used + 7) / 8;
  std::memcpy(dst, &acc, tail);
}

namespace {

// Reads `width` bits at bit offset `pos` without touching bytes at or past `len`.
inline uint64_t ReadBitsSlow(const uint8_t* in, size_t len, size_t pos, int width) {
  const size_t byte = pos >> 3;
  const int shift = static_cast<int>(pos & 7);
  const int need = (shift + width + 7) / 8;  // up to 9 bytes
  unsigned __int128 w = 0;
  for (int i = 0; i < need && byte + i < len; ++i) {
    w |= static_cast<unsigned __int128>(in[byte + i]) << (8 * i);
  }
  const uint64_t v = static_cast<uint64_t>(w >> shift);
  return width == 64 ? v : (v & ((uint64_t{1} << width) - 1));
}

template <int W>
void UnpackFixed(const char* in, size_t n, uint64_t* out) {
  constexpr uint64_t kMask = (uint64_t{1} << W) - 1;
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = i * W;
    uint64_t w;
    std::memcpy(&w, in + (pos >> 3), 8);
    out[i] = (w >> (pos & 7)) & kMask;
  }
}

using UnpackFn = void (*)(const char*, size_t, uint64_t*);

template <int... W>
constexpr auto MakeTable(std::integer_sequence<int, W...>) {
  return std::array<UnpackFn, sizeof...(W)>{&UnpackFixed<W + 1>...};
}
// Widths 1..56: a value and its shift always fit in one 8-byte load.
constexpr auto kUnpackTable = MakeTable(std::make_integer_sequence<int, 56>{});

}  // namespace

void UnpackBits(const char* in, size_t in_len, size_t n, int width, uint64_t* out) {
  if (n == 0) return;
  if (width == 0) {
    std::memset(out, 0, n * sizeof(uint64_t));
    return;
  }
  size_t fast = 0;
  if (width <= 56) {
    // Values whose 8-byte load stays inside the input.
    if (in_len >= 8) {
      fast = ((in_len - 8) * 8) / static_cast<size_t>(width) + 1;
      if (fast > n) fast = n;
    }
    kUnpackTable[width - 1](in, fast, out);
  }
  const auto* u = reinterpret_cast<const uint8_t*>(in);
  for (size_t i = fast; i < n; ++i) {
    out[i] = ReadBitsSlow(u, in_len, i * static_cast<size_t>(width), width);
  }
}

}  // namespace observex::storage::bits
