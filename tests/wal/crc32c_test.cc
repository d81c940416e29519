#include "wal/crc32c.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace observex::wal::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Vector {
  std::string data;
  uint32_t crc;
};

// "123456789" is the customary check value; the 32-byte ones are from RFC 3720 (iSCSI)
// appendix B.4.
std::vector<Vector> KnownVectors() {
  std::vector<Vector> v;
  v.push_back({"", 0x00000000u});
  v.push_back({"a", 0xC1D04330u});
  v.push_back({"123456789", 0xE3069283u});
  v.push_back({std::string(32, '\0'), 0x8A9136AAu});
  v.push_back({std::string(32, '\xFF'), 0x62A8AB43u});
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  v.push_back({ascending, 0x46DD794Eu});
  v.push_back({descending, 0x113FDB5Cu});
  return v;
}

void ExpectKnownVectors(ExtendFn fn) {
  for (const auto& v : KnownVectors()) {
    EXPECT_EQ(fn(0, v.data.data(), v.data.size()), v.crc)
        << "input of " << v.data.size() << " bytes";
  }
}

TEST(Crc32cTest, SoftwareMatchesKnownVectors) { ExpectKnownVectors(&internal::ExtendSoftware); }

TEST(Crc32cTest, HardwareMatchesKnownVectors) {
  if (!internal::HardwareAvailable()) GTEST_SKIP() << "this CPU has no SSE4.2 crc32 instruction";
  ExpectKnownVectors(&internal::ExtendHardware);
}

TEST(Crc32cTest, DispatchedValueMatchesKnownVectors) {
  for (const auto& v : KnownVectors()) EXPECT_EQ(Value(v.data.data(), v.data.size()), v.crc);
}

TEST(Crc32cTest, ExtendEqualsOneShotAtEverySplit) {
  const std::string s = "The quick brown fox jumps over the lazy dog, twice over.";
  const uint32_t whole = Value(s.data(), s.size());
  for (size_t split = 0; split <= s.size(); ++split) {
    for (ExtendFn fn : {&internal::ExtendSoftware, &internal::ExtendHardware}) {
      uint32_t c = fn(0, s.data(), split);
      c = fn(c, s.data() + split, s.size() - split);
      EXPECT_EQ(c, whole) << "split at " << split;
    }
  }
}

TEST(Crc32cTest, ImplementationsAgreeOnRandomInputsAndAlignments) {
  std::mt19937 rng(1234);
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 500; ++i) {
    const size_t off = rng() % 16;
    const size_t len = rng() % 4096;
    const uint32_t seed = rng();
    EXPECT_EQ(internal::ExtendSoftware(seed, buf.data() + off, len),
              internal::ExtendHardware(seed, buf.data() + off, len))
        << "offset " << off << " length " << len;
  }
}

TEST(Crc32cTest, DetectsSingleBitFlips) {
  std::string s(100, 'x');
  const uint32_t good = Value(s.data(), s.size());
  for (size_t bit = 0; bit < s.size() * 8; ++bit) {
    std::string t = s;
    t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_NE(Value(t.data(), t.size()), good) << "bit " << bit;
  }
}

}  // namespace
}  // namespace observex::wal::crc32c
