// UTF-8 decoding shared by every module that checks or cuts user text (OTLP strings,
// label names and values). Strict: overlong forms, surrogates, code points past U+10FFFF and
// truncated sequences are invalid. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace observex {

// Length (1-4) of the valid UTF-8 sequence starting at s[i], storing its code point in
// `*code_point`; 0 when the bytes there are not a valid sequence. Requires i < s.size().
int DecodeUtf8(std::string_view s, size_t i, uint32_t* code_point);

// True when all of `s` is valid UTF-8 (ASCII is skipped eight bytes at a time).
bool IsValidUtf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a
// multi-byte sequence.
size_t Utf8SafePrefix(std::string_view s, size_t max_bytes);

}  // namespace observex
