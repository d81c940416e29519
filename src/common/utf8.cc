#include "common/utf8.h"

#include <cstring>

namespace observex {

int DecodeUtf8(std::string_view s, size_t i, uint32_t* code_point) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) {
    *code_point = c;
    return 1;
  }
  int len;
  uint32_t r;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    r = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    r = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    r = c & 0x07;
  } else {
    return 0;  // a continuation byte, or F8..FF
  }
  if (i + static_cast<size_t>(len) > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    const unsigned char cc = byte(i + static_cast<size_t>(k));
    if ((cc & 0xc0) != 0x80) return 0;
    r = (r << 6) | (cc & 0x3f);
  }
  // Overlong forms, out-of-range code points and UTF-16 surrogates.
  if ((len == 2 && r < 0x80) || (len == 3 && r < 0x800) || (len == 4 && r < 0x10000) ||
      r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) {
    return 0;
  }
  *code_point = r;
  return len;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII dominates real telemetry; skip it eight bytes at a time.
    while (s.size() - i >= 8) {
      uint64_t chunk;
      std::memcpy(&chunk, s.data() + i, 8);
      if (chunk & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    uint32_t cp;
    const int n = DecodeUtf8(s, i, &cp);
    if (n == 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

size_t Utf8SafePrefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace observex
