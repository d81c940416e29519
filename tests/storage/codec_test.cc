#include "storage/codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "storage/bits.h"

namespace observex::storage {
namespace {

constexpr uint64_t kStaleNaN = 0x7ff0000000000002ULL;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// ---------------------------------------------------------------------------------------
// bits

TEST(Bits, VarintAndZigZagRoundTripExtremes) {
  const std::vector<int64_t> values = {0, 1, -1, 63, -64, 64, kMin, kMax, kMin + 1, kMax - 1};
  std::string buf;
  for (int64_t v : values) bits::PutVarint(&buf, bits::ZigZag(v));
  const char* p = buf.data();
  for (int64_t v : values) {
    uint64_t z;
    ASSERT_TRUE(bits::GetVarint(&p, buf.data() + buf.size(), &z));
    EXPECT_EQ(bits::UnZigZag(z), v);
  }
  EXPECT_EQ(p, buf.data() + buf.size());
  uint64_t z;
  EXPECT_FALSE(bits::GetVarint(&p, buf.data() + buf.size(), &z)) << "read past the end";
  const std::string eleven(11, '\x80');
  p = eleven.data();
  EXPECT_FALSE(bits::GetVarint(&p, eleven.data() + eleven.size(), &z)) << "over-long varint";
}

TEST(Bits, PackUnpackEveryWidth) {
  std::mt19937_64 rng(1);
  for (int width = 0; width <= 64; ++width) {
    for (size_t n :
         {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{127}, size_t{128}, size_t{300}}) {
      std::vector<uint64_t> in(n);
      const uint64_t mask = width == 64 ? ~0ULL : ((1ULL << width) - 1);
      for (auto& v : in) v = rng() & mask;
      std::string packed;
      bits::PackBits(in.data(), n, width, &packed);
      ASSERT_EQ(packed.size(), bits::PackedBytes(n, width));
      std::vector<uint64_t> out(n, 12345);
      bits::UnpackBits(packed.data(), packed.size(), n, width, out.data());
      ASSERT_EQ(out, in) << "width " << width << " n " << n;
    }
  }
}

TEST(Bits, BitStreamRoundTripAndOverrun) {
  std::mt19937_64 rng(2);
  std::vector<std::pair<uint64_t, int>> written;
  std::string buf;
  bits::BitWriter w(&buf);
  for (int i = 0; i < 2000; ++i) {
    const int n = 1 + static_cast<int>(rng() % 64);
    const uint64_t v = n == 64 ? rng() : (rng() & ((1ULL << n) - 1));
    w.Write(v, n);
    written.emplace_back(v, n);
  }
  w.Finish();
  bits::BitReader r(buf.data(), buf.data() + buf.size());
  for (auto [v, n] : written) {
    uint64_t got;
    ASSERT_TRUE(r.ReadWide(n, &got));
    ASSERT_EQ(got, v) << n;
  }
  EXPECT_EQ(r.consumed_bytes(), buf.size());
  uint64_t got;
  EXPECT_FALSE(r.Read(8, &got)) << "8 bits past the end";
}

// ---------------------------------------------------------------------------------------
// helpers

std::vector<size_t> Sizes() { return {0, 1, 2, 3, 127, 128, 129, 130, 1000, 8192}; }

template <typename T>
Column Col(std::vector<T> v) {
  return Column(std::move(v));
}

Column RoundTrip(const Column& in, Encoding preferred, Encoding* used = nullptr) {
  std::string buf;
  const Encoding e = EncodeColumn(in, 0, RowCount(in), preferred, &buf);
  if (used != nullptr) *used = e;
  Column out = MakeColumn(TypeOf(in));
  auto s = DecodeColumn(buf, TypeOf(in), e, RowCount(in), &out);
  EXPECT_TRUE(s.ok()) << s << " encoding " << EncodingName(e);
  return out;
}

std::vector<uint64_t> Bits(const std::vector<double>& v) {
  std::vector<uint64_t> out;
  for (double d : v) out.push_back(std::bit_cast<uint64_t>(d));
  return out;
}

// ---------------------------------------------------------------------------------------
// int64

std::vector<std::vector<int64_t>> IntCases(std::mt19937_64& rng, size_t n) {
  std::vector<std::vector<int64_t>> cases;
  std::vector<int64_t> v(n);
  // Regular 15 s timestamps in ms.
  for (size_t i = 0; i < n; ++i) v[i] = 1'700'000'000'000 + 15'000 * static_cast<int64_t>(i);
  cases.push_back(v);
  // Jittered nanosecond timestamps.
  int64_t t = 1'700'000'000'000'000'000;
  for (size_t i = 0; i < n; ++i) v[i] = t += 1'000'000'000 + static_cast<int64_t>(rng() % 5000);
  cases.push_back(v);
  // Full-range random.
  for (auto& x : v) x = static_cast<int64_t>(rng());
  cases.push_back(v);
  // Extreme deltas: alternating min and max.
  for (size_t i = 0; i < n; ++i) v[i] = i % 2 ? kMin : kMax;
  cases.push_back(v);
  // Small non-negative values (kinds, severities).
  for (auto& x : v) x = static_cast<int64_t>(rng() % 25);
  cases.push_back(v);
  // Constant.
  for (auto& x : v) x = -42;
  cases.push_back(v);
  // Runs of random values with sudden jumps (series ids after sorting).
  uint64_t s = 0;
  for (auto& x : v) {
    if (rng() % 50 == 0) s += rng() >> 20;
    x = static_cast<int64_t>(s);
  }
  cases.push_back(v);
  return cases;
}

TEST(Int64Codec, RoundTripsEveryCaseAndSize) {
  std::mt19937_64 rng(3);
  for (size_t n : Sizes()) {
    for (const auto& c : IntCases(rng, n)) {
      for (Encoding e : {Encoding::kDelta, Encoding::kPlain}) {
        Encoding used;
        Column out = RoundTrip(Col(c), e, &used);
        EXPECT_EQ(used, e);
        ASSERT_EQ(std::get<0>(out), c) << "n=" << n << " " << EncodingName(e);
      }
    }
  }
}

TEST(Int64Codec, RegularTimestampsCostAlmostNothing) {
  std::vector<int64_t> ts(8192);
  for (size_t i = 0; i < ts.size(); ++i) ts[i] = 1'700'000'000'000 + 15'000 * int64_t(i);
  std::string buf;
  EncodeColumn(Col(ts), 0, ts.size(), Encoding::kDelta, &buf);
  // Delta-of-delta is all zeros: one width byte per 128 values plus the two seeds.
  EXPECT_LT(buf.size(), 100u);
}

TEST(Int64Codec, EncodesASubrange) {
  std::vector<int64_t> v = {5, 6, 7, 8, 9, 10};
  std::string buf;
  const Encoding e = EncodeColumn(Col(v), 2, 5, Encoding::kDelta, &buf);
  Column out;
  ASSERT_TRUE(DecodeColumn(buf, ColumnType::kInt64, e, 3, &out).ok());
  EXPECT_EQ(std::get<0>(out), (std::vector<int64_t>{7, 8, 9}));
}

// ---------------------------------------------------------------------------------------
// float64

std::vector<std::vector<double>> FloatCases(std::mt19937_64& rng, size_t n) {
  std::vector<std::vector<double>> cases;
  std::vector<double> v(n);
  // Counter.
  double c = 1000;
  for (auto& x : v) x = c += static_cast<double>(rng() % 100);
  cases.push_back(v);
  // Gauge with two decimals.
  for (auto& x : v) x = static_cast<double>(static_cast<int64_t>(rng() % 100000) - 50000) / 100;
  cases.push_back(v);
  // Arbitrary bit patterns: NaN payloads, infinities, denormals, -0.0.
  for (auto& x : v) x = std::bit_cast<double>(rng());
  cases.push_back(v);
  // Ratios with full precision.
  std::uniform_real_distribution<double> unit(0, 1);
  for (auto& x : v) x = unit(rng);
  cases.push_back(v);
  // Counter with stale markers and special values sprinkled in.
  const double specials[] = {std::bit_cast<double>(kStaleNaN),
                             -0.0,
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::denorm_min(),
                             std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::lowest(),
                             0.1 + 0.2};
  c = 0;
  for (size_t i = 0; i < n; ++i) {
    v[i] = rng() % 10 == 0 ? specials[rng() % std::size(specials)] : (c += 1);
  }
  cases.push_back(v);
  // Constant.
  for (auto& x : v) x = 3.5;
  cases.push_back(v);
  return cases;
}

TEST(Float64Codec, RoundTripsBitExactly) {
  std::mt19937_64 rng(4);
  for (size_t n : Sizes()) {
    for (const auto& c : FloatCases(rng, n)) {
      for (Encoding e : {Encoding::kDecimal, Encoding::kGorilla, Encoding::kPlain}) {
        Column out = RoundTrip(Col(c), e);
        ASSERT_EQ(Bits(std::get<1>(out)), Bits(c)) << "n=" << n << " " << EncodingName(e);
      }
    }
  }
}

TEST(Float64Codec, StaleMarkerAloneRoundTrips) {
  const std::vector<double> v = {std::bit_cast<double>(kStaleNaN)};
  for (Encoding e : {Encoding::kDecimal, Encoding::kGorilla, Encoding::kPlain}) {
    Column out = RoundTrip(Col(v), e);
    EXPECT_EQ(std::bit_cast<uint64_t>(std::get<1>(out)[0]), kStaleNaN) << EncodingName(e);
  }
}

TEST(Float64Codec, DecimalChosenForCountersAndRefusedForOthers) {
  Encoding used;
  RoundTrip(Col(std::vector<double>{1, 2, 3.25, 4.5}), Encoding::kDecimal, &used);
  EXPECT_EQ(used, Encoding::kDecimal);
  RoundTrip(Col(std::vector<double>{1, 2, -0.0}), Encoding::kDecimal, &used);
  EXPECT_EQ(used, Encoding::kGorilla) << "-0.0 is not m / 10^e";
  RoundTrip(Col(std::vector<double>{1, std::bit_cast<double>(kStaleNaN)}), Encoding::kDecimal,
            &used);
  EXPECT_EQ(used, Encoding::kGorilla);
  RoundTrip(Col(std::vector<double>{1e300}), Encoding::kDecimal, &used);
  EXPECT_EQ(used, Encoding::kGorilla);
}

// ---------------------------------------------------------------------------------------
// strings

StringColumn Strings(const std::vector<std::string>& v) {
  StringColumn c;
  for (const auto& s : v) c.push_back(s);
  return c;
}

TEST(StringCodec, RoundTripsLowAndHighCardinality) {
  std::mt19937_64 rng(5);
  for (size_t n : Sizes()) {
    std::vector<std::string> low, high, binary;
    const std::string services[] = {"", "checkout", "cart", "frontend-ü", std::string(300, 'x')};
    for (size_t i = 0; i < n; ++i) {
      low.push_back(services[rng() % std::size(services)]);
      high.push_back("trace-" + std::to_string(rng()));
      std::string b(rng() % 20, '\0');
      for (auto& ch : b) ch = static_cast<char>(rng());
      binary.push_back(b);
    }
    for (const auto* v : {&low, &high, &binary}) {
      for (Encoding e : {Encoding::kDictionary, Encoding::kPlain}) {
        Column out = RoundTrip(Column(Strings(*v)), e);
        ASSERT_TRUE(std::get<2>(out) == Strings(*v)) << "n=" << n << " " << EncodingName(e);
      }
    }
  }
}

TEST(StringCodec, DictionaryOnlyWhenValuesRepeat) {
  Encoding used;
  RoundTrip(Column(Strings({"a", "b", "a", "b"})), Encoding::kDictionary, &used);
  EXPECT_EQ(used, Encoding::kDictionary);
  RoundTrip(Column(Strings({"a", "b", "c", "a"})), Encoding::kDictionary, &used);
  EXPECT_EQ(used, Encoding::kPlain);
}

// ---------------------------------------------------------------------------------------
// malformed input

std::vector<std::pair<Column, Encoding>> EncodedSamples() {
  std::mt19937_64 rng(6);
  std::vector<std::pair<Column, Encoding>> out;
  for (const auto& c : IntCases(rng, 300)) {
    out.emplace_back(Col(c), Encoding::kDelta);
    out.emplace_back(Col(c), Encoding::kPlain);
  }
  for (const auto& c : FloatCases(rng, 300)) {
    out.emplace_back(Col(c), Encoding::kDecimal);
    out.emplace_back(Col(c), Encoding::kGorilla);
  }
  std::vector<std::string> s;
  for (int i = 0; i < 300; ++i) s.push_back(std::to_string(i % 7));
  out.emplace_back(Column(Strings(s)), Encoding::kDictionary);
  out.emplace_back(Column(Strings(s)), Encoding::kPlain);
  return out;
}

TEST(CodecErrors, WrongRowCountIsDataLoss) {
  for (const auto& [col, pref] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf);
    Column out;
    auto s = DecodeColumn(buf, TypeOf(col), e, RowCount(col) + 1, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  }
}

TEST(CodecErrors, EveryTruncationIsDataLoss) {
  for (const auto& [col, pref] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf);
    for (size_t cut = 0; cut < buf.size(); ++cut) {
      // A copy of exactly `cut` bytes, so reading past it is caught by ASan.
      const std::string prefix = buf.substr(0, cut);
      Column out;
      auto s = DecodeColumn(prefix, TypeOf(col), e, RowCount(col), &out);
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << EncodingName(e) << " cut at " << cut << " of " << buf.size();
    }
    Column out;
    auto s = DecodeColumn(buf + "x", TypeOf(col), e, RowCount(col), &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "trailing byte, " << EncodingName(e);
  }
}

TEST(CodecErrors, RandomByteFlipsNeverCrash) {
  std::mt19937_64 rng(7);
  int detected = 0, total = 0;
  for (const auto& [col, pref] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf);
    for (int i = 0; i < 40; ++i) {
      std::string bad = buf;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      Column out;
      auto s = DecodeColumn(bad, TypeOf(col), e, RowCount(col), &out);
      // Some flips decode to other values (the block checksum catches those); none may
      // crash or return rows of the wrong count.
      if (s.ok()) {
        EXPECT_EQ(RowCount(out), RowCount(col));
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
        ++detected;
      }
      ++total;
    }
  }
  EXPECT_GT(detected, 0) << "of " << total;
}

TEST(CodecErrors, EncodingThatDoesNotFitTheTypeIsInvalidArgument) {
  Column out;
  auto s = DecodeColumn("", ColumnType::kString, Encoding::kGorilla, 0, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = DecodeColumn("", ColumnType::kInt64, static_cast<Encoding>(99), 0, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------
// compression

TEST(BlockCompression, RoundTripsAndStoresIncompressibleBlocksRaw) {
  BlockCompressor comp;
  BlockDecompressor decomp;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "service=checkout ";
  std::string stored;
  ASSERT_EQ(comp.Compress(text, &stored), Compression::kZstd);
  EXPECT_LT(stored.size(), text.size() / 10);
  std::string_view raw;
  ASSERT_TRUE(decomp.Decompress(stored, Compression::kZstd, text.size(), &raw).ok());
  EXPECT_EQ(raw, text);

  std::mt19937_64 rng(8);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  EXPECT_EQ(comp.Compress(noise, &stored), Compression::kNone);
  EXPECT_EQ(stored, noise);
  EXPECT_EQ(comp.Compress("tiny", &stored), Compression::kNone);
}

TEST(BlockCompression, CorruptOrMisSizedBlocksAreDataLoss) {
  BlockCompressor comp;
  BlockDecompressor decomp;
  std::string text(5000, 'a');
  std::string stored;
  ASSERT_EQ(comp.Compress(text, &stored), Compression::kZstd);
  std::string_view raw;
  EXPECT_EQ(decomp.Decompress(stored, Compression::kZstd, text.size() + 1, &raw).code(),
            absl::StatusCode::kDataLoss);
  std::string bad = stored;
  bad[bad.size() / 2] ^= 0x5a;
  bad.resize(bad.size() - 1);
  EXPECT_EQ(decomp.Decompress(bad, Compression::kZstd, text.size(), &raw).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(decomp.Decompress("abc", Compression::kNone, 4, &raw).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(decomp.Decompress("abc", static_cast<Compression>(7), 3, &raw).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace observex::storage
