#include "storage/rans.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "storage/bits.h"

namespace observex::storage::rans {

std::vector<uint32_t> NormalizeFrequencies(std::span<const uint32_t> counts) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  std::vector<uint32_t> freqs(counts.size(), 0);
  if (total == 0) return freqs;
  int64_t sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    freqs[i] = std::max<uint32_t>(1, static_cast<uint32_t>(counts[i] * uint64_t{kScale} / total));
    sum += freqs[i];
  }
  // Rounding leaves the sum off by at most one per symbol; the largest frequencies absorb it,
  // where a step costs the least relative precision.
  while (sum != kScale) {
    size_t largest = 0;
    for (size_t i = 1; i < freqs.size(); ++i) {
      if (freqs[i] > freqs[largest]) largest = i;
    }
    if (sum < kScale) {
      const uint32_t add = static_cast<uint32_t>(kScale - sum);
      freqs[largest] += add;
      sum += add;
    } else {
      const uint32_t take =
          static_cast<uint32_t>(std::min<int64_t>(sum - kScale, freqs[largest] - 1));
      freqs[largest] -= take;
      sum -= take;
    }
  }
  return freqs;
}

double CodedBits(std::span<const uint32_t> counts, std::span<const uint32_t> freqs) {
  double bits_total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) {
      bits_total += counts[i] * (kScaleBits - std::log2(static_cast<double>(freqs[i])));
    }
  }
  return bits_total;
}

void Encode(std::span<const uint8_t> symbols, std::span<const uint32_t> freqs, std::string* out) {
  uint32_t start[kMaxSymbols];
  uint32_t at = 0;
  for (size_t i = 0; i < freqs.size(); ++i) {
    start[i] = at;
    at += freqs[i];
  }
  std::vector<uint16_t> reversed[kStates];
  uint32_t x[kStates];
  std::fill(x, x + kStates, kLow);
  for (size_t i = symbols.size(); i-- > 0;) {
    const uint32_t s = symbols[i];
    const uint32_t f = freqs[s];
    uint32_t& st = x[i % kStates];
    if (st >= (uint64_t{kLow >> kScaleBits} << 16) * f) {
      reversed[i % kStates].push_back(static_cast<uint16_t>(st & 0xffff));
      st >>= 16;
    }
    st = ((st / f) << kScaleBits) + (st % f) + start[s];
  }
  for (uint32_t state : x) bits::PutFixed32(out, state);
  for (size_t k = 0; k + 1 < kStates; ++k) bits::PutVarint(out, reversed[k].size());
  for (const auto& words : reversed) {
    for (size_t i = words.size(); i-- > 0;) {
      out->push_back(static_cast<char>(words[i] & 0xff));
      out->push_back(static_cast<char>(words[i] >> 8));
    }
  }
}

absl::Status Decoder::Init(std::span<const uint32_t> freqs) {
  if (freqs.empty() || freqs.size() > kMaxSymbols) {
    return absl::DataLossError(absl::StrCat("rANS alphabet of ", freqs.size(), " symbols"));
  }
  uint32_t at = 0;
  for (size_t s = 0; s < freqs.size(); ++s) {
    if (freqs[s] > kScale - at) {
      return absl::DataLossError("rANS frequencies sum to more than the scale");
    }
    for (uint32_t i = 0; i < freqs[s]; ++i) {
      slot_[at + i] = static_cast<uint32_t>(s) | (freqs[s] << 8) | (i << 19);
    }
    at += freqs[s];
  }
  if (at != kScale) {
    return absl::DataLossError(absl::StrCat("rANS frequencies sum to ", at, ", not ", kScale));
  }
  return absl::OkStatus();
}

absl::Status Decoder::Start(const char* p, const char* end) {
  if (static_cast<size_t>(end - p) < 4 * kStates) {
    return absl::DataLossError("rANS stream without its states");
  }
  for (size_t k = 0; k < kStates; ++k) {
    state_[k] = bits::LoadFixed32(p + 4 * k);
    if (state_[k] < kLow) {
      return absl::DataLossError(absl::StrCat("rANS state ", state_[k], " out of range"));
    }
  }
  p += 4 * kStates;
  uint64_t words[kStates - 1];
  for (uint64_t& w : words) {
    if (!bits::GetVarint(&p, end, &w)) return absl::DataLossError("truncated rANS word counts");
  }
  for (size_t k = 0; k < kStates; ++k) {
    p_[k] = p;
    if (k + 1 < kStates) {
      if (words[k] > static_cast<uint64_t>(end - p) / 2) {
        return absl::DataLossError("rANS stream shorter than its word counts");
      }
      p += 2 * words[k];
    } else {
      p = end;
    }
    end_[k] = p;
  }
  next_ = 0;
  overrun_ = false;
  return absl::OkStatus();
}

namespace {

// One decoding step of state x, reading the next word at *p when x falls below kLow (the
// caller has made sure a word is there to read, real or a zero past the lane's end).
// Arithmetic instead of a branch: whether a word is read is as good as random.
inline uint32_t Step(const uint32_t* slots, uint32_t* x, const char** p) {
  const uint32_t e = slots[*x & (kScale - 1)];
  *x = ((e >> 8) & 0x7ff) * (*x >> kScaleBits) + (e >> 19);
  const uint32_t read = *x < kLow ? 1 : 0;
  const uint32_t word = bits::LoadFixed16(*p);
  *x = (*x << (read << 4)) | (word & (0u - read));
  *p += read << 1;
  return e & 0xff;
}

}  // namespace

void Decoder::Decode(uint8_t* out, size_t n) {
  static_assert(kStates == 4);
  // Symbols per round of unchecked steps: each reads at most one word of its lane, so a round
  // reads at most kChunk / kStates words of each.
  constexpr size_t kChunk = 256;
  constexpr size_t kMaxLaneBytes = 2 * (kChunk / kStates);
  for (size_t done = 0; done < n;) {
    const size_t count = std::min(n - done, kChunk);
    const size_t rounds = (count + kStates - 1) / kStates;
    // Lane k (rotated so that lane 0 holds the next symbol) reads from its own words, or,
    // when fewer than a round could need are left, from a copy of them followed by zeros:
    // then no read needs a check, whether a lane's words run out or not.
    alignas(16) char spare[kStates][kMaxLaneBytes];
    uint32_t x[kStates];
    const char* at[kStates];
    const char* from[kStates];
    size_t left[kStates];
    for (size_t k = 0; k < kStates; ++k) {
      const size_t lane = (next_ + k) % kStates;
      x[k] = state_[lane];
      left[k] = static_cast<size_t>(end_[lane] - p_[lane]);
      if (left[k] >= 2 * rounds) {
        at[k] = p_[lane];
      } else {
        std::memcpy(spare[k], p_[lane], left[k]);
        std::memset(spare[k] + left[k], 0, kMaxLaneBytes - left[k]);
        at[k] = spare[k];
      }
      from[k] = at[k];
    }
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    const char *p0 = at[0], *p1 = at[1], *p2 = at[2], *p3 = at[3];
    uint8_t* o = out + done;
    size_t i = 0;
    for (; i + kStates <= count; i += kStates) {
      o[i] = static_cast<uint8_t>(Step(slot_, &x0, &p0));
      o[i + 1] = static_cast<uint8_t>(Step(slot_, &x1, &p1));
      o[i + 2] = static_cast<uint8_t>(Step(slot_, &x2, &p2));
      o[i + 3] = static_cast<uint8_t>(Step(slot_, &x3, &p3));
    }
    x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
    at[0] = p0, at[1] = p1, at[2] = p2, at[3] = p3;
    for (size_t k = 0; i < count; ++i, ++k) o[i] = static_cast<uint8_t>(Step(slot_, &x[k], &at[k]));
    for (size_t k = 0; k < kStates; ++k) {
      const size_t lane = (next_ + k) % kStates;
      const size_t read = static_cast<size_t>(at[k] - from[k]);
      state_[lane] = x[k];
      if (read > left[k]) {
        overrun_ = true;
        p_[lane] = end_[lane];
      } else {
        p_[lane] += read;
      }
    }
    next_ += count;
    done += count;
  }
}

absl::Status Decoder::Finish() const {
  if (overrun_) return absl::DataLossError("rANS stream ends before its symbols");
  for (size_t k = 0; k < kStates; ++k) {
    if (p_[k] != end_[k]) {
      return absl::DataLossError("rANS stream holds words its symbols do not use");
    }
    if (state_[k] != kLow) return absl::DataLossError("rANS stream does not decode to its start");
  }
  return absl::OkStatus();
}

}  // namespace observex::storage::rans
