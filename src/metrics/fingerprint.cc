#include "metrics/fingerprint.h"

#include <bit>

namespace observex::metrics {
namespace {

constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kMulB = 0xc2b2ae3d27d4eb4fULL;
constexpr uint64_t kSeed = 0x165667b19e3779f9ULL;

uint64_t LoadLittleEndian(const char* p, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return w;
}

uint64_t Absorb(uint64_t h, uint64_t w) {
  h ^= w * kMulB;
  h = std::rotl(h, 31);
  return h * kMulA;
}

// Spreads every input bit over the whole word, so fingerprints can be bucketed by any bits.
uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

uint64_t Hash64(std::string_view bytes) {
  uint64_t h = kSeed ^ (uint64_t{bytes.size()} * kMulA);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) h = Absorb(h, LoadLittleEndian(bytes.data() + i, 8));
  size_t tail = bytes.size() - i;
  if (tail > 0) h = Absorb(h, LoadLittleEndian(bytes.data() + i, tail) ^ (uint64_t{tail} << 56));
  return Avalanche(h);
}

void AppendLabelsKey(const query::Labels& labels, std::string* out) {
  for (const query::Label& l : labels.items()) {
    out->append(l.name);
    out->push_back('\xff');
    out->append(l.value);
    out->push_back('\xff');
  }
}

uint64_t Fingerprint(const query::Labels& labels) {
  std::string key;
  AppendLabelsKey(labels, &key);
  return Hash64(key);
}

}  // namespace observex::metrics
