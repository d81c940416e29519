#include "storage/bloom.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/bits.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

constexpr uint32_t kBloomMagic = 0x4642584Fu;  // bytes "OXBF"
constexpr uint32_t kBloomVersion = 1;
constexpr size_t kHeaderBytes = 12;        // magic | version | blocks
constexpr uint32_t kMaxBlocks = 1u << 26;  // 4 GiB of filter: far beyond any part

// The splitmix64 finalizer: a bijection that spreads every input bit over the output.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t BloomHash(std::string_view key) {
  uint64_t h = Mix(0x9E3779B97F4A7C15ULL ^ key.size());
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) h = Mix(h ^ bits::LoadFixed64(key.data() + i));
  if (i < key.size()) {
    uint64_t last = 0;
    std::memcpy(&last, key.data() + i, key.size() - i);
    h = Mix(h ^ last);
  }
  return h;
}

BloomFilter::BloomFilter(size_t distinct_keys, size_t bits_per_key) {
  size_t blocks = (distinct_keys * bits_per_key + 511) / 512;
  if (blocks == 0) blocks = 1;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  words_.assign(blocks * kWordsPerBlock, 0);
}

size_t BloomFilter::BlockOf(uint64_t h) const {
  // Multiply-shift maps the high 32 bits onto [0, blocks) without a division.
  return static_cast<size_t>(((h >> 32) * static_cast<uint64_t>(num_blocks())) >> 32);
}

uint64_t BloomBlockHash(uint64_t key_hash, uint32_t block) {
  return Mix(key_hash ^ ((static_cast<uint64_t>(block) + 1) * 0xD6E8FEB86659FD93ULL));
}

void BloomFilter::AddHash(uint64_t h) {
  const uint64_t bitsel = Mix(h);
  uint64_t* block = words_.data() + BlockOf(h) * kWordsPerBlock;
  for (size_t w = 0; w < kWordsPerBlock; ++w) block[w] |= uint64_t{1} << ((bitsel >> (8 * w)) & 63);
}

bool BloomFilter::MayContainHash(uint64_t h) const {
  const uint64_t bitsel = Mix(h);
  const uint64_t* block = words_.data() + BlockOf(h) * kWordsPerBlock;
  for (size_t w = 0; w < kWordsPerBlock; ++w) {
    if ((block[w] & (uint64_t{1} << ((bitsel >> (8 * w)) & 63))) == 0) return false;
  }
  return true;
}

std::string BloomFilter::Serialize() const {
  std::string out;
  out.reserve(kHeaderBytes + words_.size() * 8 + 4);
  bits::PutFixed32(&out, kBloomMagic);
  bits::PutFixed32(&out, kBloomVersion);
  bits::PutFixed32(&out, static_cast<uint32_t>(num_blocks()));
  out.append(reinterpret_cast<const char*>(words_.data()), words_.size() * 8);
  bits::PutFixed32(&out, wal::crc32c::Value(out.data(), out.size()));
  return out;
}

absl::StatusOr<BloomFilter> BloomFilter::Parse(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes + 4) {
    return absl::DataLossError(absl::StrCat("bloom filter has ", bytes.size(), " bytes"));
  }
  const uint32_t crc = bits::LoadFixed32(bytes.data() + bytes.size() - 4);
  if (wal::crc32c::Value(bytes.data(), bytes.size() - 4) != crc) {
    return absl::DataLossError("bloom filter fails its crc32c");
  }
  if (bits::LoadFixed32(bytes.data()) != kBloomMagic ||
      bits::LoadFixed32(bytes.data() + 4) != kBloomVersion) {
    return absl::DataLossError("bloom filter has a bad magic or unknown version");
  }
  const uint32_t blocks = bits::LoadFixed32(bytes.data() + 8);
  if (blocks == 0 || blocks > kMaxBlocks ||
      bytes.size() != kHeaderBytes + size_t{blocks} * kWordsPerBlock * 8 + 4) {
    return absl::DataLossError(
        absl::StrCat("bloom filter claims ", blocks, " blocks in ", bytes.size(), " bytes"));
  }
  BloomFilter f;
  f.words_.resize(size_t{blocks} * kWordsPerBlock);
  std::memcpy(f.words_.data(), bytes.data() + kHeaderBytes, f.words_.size() * 8);
  return f;
}

}  // namespace observex::storage
