// Gunzip/Gzip: round trips, both header formats, concatenated members, bombs against a limit,
// and corrupt or truncated streams.
#include <zlib.h>

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp/otlp.h"

namespace observex::otlp {
namespace {

using ::testing::HasSubstr;

std::string Pseudorandom(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  // Letters from a small alphabet: compressible, but not trivially.
  for (char& c : s) c = static_cast<char>('a' + rng() % 16);
  return s;
}

TEST(Gzip, RoundTrip) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{3} << 20}) {
    const std::string data = Pseudorandom(n, static_cast<uint32_t>(n));
    const std::string gz = Gzip(data);
    ASSERT_GE(gz.size(), 18u);  // gzip header + trailer
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    absl::StatusOr<std::string> out = Gunzip(gz, 4 << 20);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, data);
  }
}

TEST(Gunzip, AcceptsZlibFormatToo) {
  const std::string data = Pseudorandom(5000, 7);
  uLongf len = compressBound(data.size());
  std::string z(len, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &len,
                      reinterpret_cast<const Bytef*>(data.data()), data.size(), 6),
            Z_OK);
  z.resize(len);
  absl::StatusOr<std::string> out = Gunzip(z, 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, data);
}

TEST(Gunzip, ConcatenatedMembersAreOneBody) {
  const std::string gz = Gzip("hello, ") + Gzip("world");
  absl::StatusOr<std::string> out = Gunzip(gz, 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello, world");
}

TEST(Gunzip, OutputExactlyAtTheLimitIsAccepted) {
  const std::string data = Pseudorandom(100000, 3);
  const std::string gz = Gzip(data);
  absl::StatusOr<std::string> at = Gunzip(gz, data.size());
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, data);
  absl::StatusOr<std::string> below = Gunzip(gz, data.size() - 1);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(below.status().message(), "decompressed body exceeds the limit of 99999 bytes");
}

TEST(Gunzip, BombIsStoppedAtTheLimit) {
  const std::string zeros(50 << 20, '\0');
  const std::string bomb = Gzip(zeros);
  ASSERT_LT(bomb.size(), 100u << 10);  // 50 MiB of zeros squeeze to ~50 KiB
  absl::StatusOr<std::string> out = Gunzip(bomb, 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.status().message(), "decompressed body exceeds the limit of 1048576 bytes");
}

TEST(Gunzip, CorruptStreamIsInvalidArgument) {
  std::string gz = Gzip(Pseudorandom(10000, 9));
  gz[gz.size() / 2] ^= 0x55;
  gz[gz.size() / 2 + 1] ^= 0x55;
  absl::StatusOr<std::string> out = Gunzip(gz, 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("invalid gzip body: "));
}

TEST(Gunzip, NotGzipAtAll) {
  absl::StatusOr<std::string> out = Gunzip("{\"resourceSpans\":[]}", 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("invalid gzip body: incorrect header check"));
}

TEST(Gunzip, TruncatedAndEmptyStreams) {
  std::string gz = Gzip(Pseudorandom(10000, 11));
  gz.resize(gz.size() - 12);
  for (const std::string& body : {gz, std::string()}) {
    absl::StatusOr<std::string> out = Gunzip(body, 1 << 20);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(), HasSubstr("invalid gzip body: unexpected end of data"));
  }
}

TEST(Gunzip, TrailingGarbageIsRejected) {
  absl::StatusOr<std::string> out = Gunzip(Gzip("payload") + "garbage!", 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace observex::otlp
