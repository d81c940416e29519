// Static-model rANS (range asymmetric numeral system) entropy coder over small alphabets, for
// the entropy-coded value runs of the segmented encoding. A run's symbol frequencies are
// written with it, scaled to sum to kScale; the coded stream holds kStates interleaved states,
// each with its own renormalisation words, read forward. Internal to src/storage. The decoder never
// reads outside the range it is given: an overrun, a state out of range or a stream that does not
// end where it started is reported by Finish(), so damaged data is found, never trusted.
// Stateless functions; a Decoder is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace observex::storage::rans {

inline constexpr int kScaleBits = 10;
inline constexpr uint32_t kScale = 1u << kScaleBits;
// Largest alphabet, so a symbol fits a byte.
inline constexpr size_t kMaxSymbols = 256;
// Interleaved states: symbol i goes through state i % kStates, so a decoder's steps for
// consecutive symbols do not wait on each other.
inline constexpr size_t kStates = 4;
// Each state stays in [kLow, 2^32) between symbols; its words are read 16 bits at a time, at
// most once per symbol.
inline constexpr uint32_t kLow = 1u << 16;

// Scales `counts` (at most kMaxSymbols, some positive) to frequencies summing to kScale;
// every positive count keeps a positive frequency, zero counts get zero.
std::vector<uint32_t> NormalizeFrequencies(std::span<const uint32_t> counts);

// Bits the symbols counted in `counts` take under `freqs` (which sum to kScale).
double CodedBits(std::span<const uint32_t> counts, std::span<const uint32_t> freqs);

// Appends the coded `symbols` (each with a positive frequency in `freqs`, which sum to
// kScale): the kStates final states (4 bytes each, little-endian), the counts of 16-bit words
// of every state but the last (`varint` each), then each state's words in the order the
// decoder reads them.
void Encode(std::span<const uint8_t> symbols, std::span<const uint32_t> freqs, std::string* out);

class Decoder {
 public:
  // `freqs` must sum to kScale with at most kMaxSymbols entries.
  absl::Status Init(std::span<const uint32_t> freqs);
  // The coded stream is [p, end).
  absl::Status Start(const char* p, const char* end);

  // Decodes the next `n` symbols into out. Past the end of the stream it reads zeros and
  // remembers the overrun for Finish().
  void Decode(uint8_t* out, size_t n);

  // OK when every byte of the stream was read, none beyond, and both states are where the
  // encoder started.
  absl::Status Finish() const;

 private:
  // Per slot of the scale: symbol (bits 0-7), its frequency (8-18) and the slot's distance
  // from the symbol's first slot (19-28), so a step is one load, a multiply and an add.
  uint32_t slot_[kScale];
  uint32_t state_[kStates] = {};
  size_t next_ = 0;              // symbols decoded so far (which state the next one uses)
  const char* p_[kStates] = {};  // each state's words
  const char* end_[kStates] = {};
  bool overrun_ = false;
};

}  // namespace observex::storage::rans
