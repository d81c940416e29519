#include "storage/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
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

// An int64 block read as runs of equal values gives what grouping its decoded rows gives:
// sorted series ids (long runs: constant groups read without expansion), regular timestamps
// (order 2), arbitrary values, constants, every size, kDelta and kPlain.
TEST(Int64Codec, DecodesRunsOfEqualValues) {
  std::mt19937_64 rng(37);
  auto expect_runs = [](const std::vector<int64_t>& v, const std::string& buf, Encoding e) {
    std::vector<ValueRun> runs;
    ASSERT_TRUE(DecodeValueRuns(buf, e, v.size(), &runs).ok());
    std::vector<int64_t> back;
    uint32_t next = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      ASSERT_EQ(runs[r].begin, next);
      ASSERT_GT(runs[r].length, 0u);
      if (r > 0) {
        ASSERT_NE(runs[r].value, runs[r - 1].value);
      }
      back.insert(back.end(), runs[r].length, runs[r].value);
      next += runs[r].length;
    }
    ASSERT_EQ(back, v);
  };
  for (size_t n : Sizes()) {
    std::vector<std::vector<int64_t>> cases = IntCases(rng, n);
    std::vector<int64_t> ids;
    int64_t id = static_cast<int64_t>(rng() % 1000);
    while (ids.size() < n) {
      const size_t len = std::min<size_t>(n - ids.size(), 1 + rng() % 3000);
      ids.insert(ids.end(), len, id);
      id += 1 + static_cast<int64_t>(rng() % 5);
    }
    cases.push_back(ids);
    cases.push_back(std::vector<int64_t>(n, -7));
    for (const auto& c : cases) {
      for (Encoding e : {Encoding::kDelta, Encoding::kPlain}) {
        std::string buf;
        ASSERT_EQ(EncodeColumn(Col(c), 0, c.size(), e, &buf), e);
        expect_runs(c, buf, e);
      }
    }
  }
  // Malformed blocks are DataLoss, as DecodeColumn reports them.
  std::string buf;
  std::vector<int64_t> ids(1000, 5);
  EncodeColumn(Col(ids), 0, ids.size(), Encoding::kDelta, &buf);
  std::vector<ValueRun> runs;
  EXPECT_EQ(DecodeValueRuns(buf, Encoding::kDelta, 999, &runs).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeValueRuns(buf.substr(0, buf.size() / 2), Encoding::kDelta, 1000, &runs).code(),
            absl::StatusCode::kDataLoss);
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
// kSegmented

// A single row window, as DecodeColumn takes windows.
std::span<const RowWindow> One(const RowWindow& w) { return {&w, 1}; }

// Rows of several series in part order, as the samples table holds them, and the lengths of
// the series' runs.
struct SegmentedBlock {
  std::vector<int64_t> times;
  std::vector<double> values;
  std::vector<uint32_t> runs;
};

// A bell-shaped count around 126 (a sum of four uniform draws), as counters' increments and
// gauges' steps are: what the entropy-coded runs are for.
int64_t Bell(std::mt19937_64& rng) {
  int64_t sum = 0;
  for (int i = 0; i < 4; ++i) sum += static_cast<int64_t>(rng() % 64);
  return sum;
}

// `targets` scrape targets of `per_target` series each, scraped every 15 s for `steps` steps.
// The series of a target share their timestamps (10 % of scrapes 1-2 ms off the grid, about
// 1 % missed); the last series of a target has a single sample. Values cycle through the kinds
// the samples table meets: counters and cumulative histogram buckets (most with bell-shaped
// increments), full-precision sums and ratios, two-decimal gauges, constants, stale markers
// and NaN payloads, signed zeros, huge and tiny magnitudes with denormals, and integers too
// large for the decimal encoding.
SegmentedBlock ScrapedSeries(std::mt19937_64& rng, int targets, int per_target,
                             size_t steps = 200) {
  SegmentedBlock b;
  std::uniform_real_distribution<double> unit(0, 1);
  for (int t = 0; t < targets; ++t) {
    std::vector<int64_t> times;
    int64_t at = 1'700'000'000'000 + static_cast<int64_t>(rng() % 15'000);
    for (size_t i = 0; i < steps; ++i) {
      at += 15'000;
      if (rng() % 100 == 0) at += 15'000;  // a missed scrape
      const int64_t jitter = rng() % 10 == 0 ? static_cast<int64_t>(rng() % 5) - 2 : 0;
      times.push_back(at + jitter);
    }
    std::vector<double> previous;
    for (int s = 0; s < per_target; ++s) {
      const size_t n = s == per_target - 1 ? 1 : steps;
      std::vector<double> v(n);
      double x = static_cast<double>(rng() % 1000);
      for (size_t i = 0; i < n; ++i) {
        switch (s % 10) {
          case 0:  // counter: even increments, or bell-shaped ones (entropy-coded)
            v[i] = x += static_cast<double>(s % 20 == 0 ? rng() % 40 : Bell(rng));
            break;
          case 1:  // the next bucket of a cumulative histogram
            v[i] = (previous.size() == n ? previous[i] : 0) +
                   static_cast<double>(s % 20 == 1 ? rng() % 3 : Bell(rng));
            break;
          case 2:  // a full-precision sum
            v[i] = x += unit(rng) * 0.37;
            break;
          case 3:  // a full-precision ratio
            v[i] = x = std::clamp(unit(rng) * 0.02 + x * 0.99, 0.0, 1.0);
            break;
          case 4:  // two decimals
            v[i] = static_cast<double>(2000 + static_cast<int64_t>(rng() % 300)) / 100;
            break;
          case 5:
            v[i] = 1;
            break;
          case 6:  // stale markers and NaN payloads between counter values
            v[i] = rng() % 7 == 0   ? std::bit_cast<double>(kStaleNaN)
                   : rng() % 7 == 0 ? std::bit_cast<double>(0x7ff8000000000000ULL | (rng() >> 14))
                                    : (x += 1);
            break;
          case 7:
            v[i] = i % 3 == 0 ? -0.0 : (i % 3 == 1 ? 0.0 : -1.5);
            break;
          case 8:  // huge, tiny and denormal
            v[i] = rng() % 3 == 0   ? 1e300 * unit(rng)
                   : rng() % 2 == 0 ? 1e-300 * unit(rng)
                                    : std::numeric_limits<double>::denorm_min() *
                                          static_cast<double>(rng() % 1000);
            break;
          default:  // integers beyond 9e18 (not m / 10^e)
            v[i] = std::ldexp(static_cast<double>(rng() >> 11), 11);
            break;
        }
      }
      previous = v;
      b.times.insert(b.times.end(), times.begin(), times.begin() + static_cast<ptrdiff_t>(n));
      b.values.insert(b.values.end(), v.begin(), v.end());
      b.runs.push_back(static_cast<uint32_t>(n));
    }
  }
  return b;
}

// Encodes rows [0, n) of `in` as kSegmented with `runs`, decodes and returns the bytes.
template <typename T>
std::string SegmentedRoundTrip(const std::vector<T>& in, const std::vector<uint32_t>& runs,
                               std::vector<T>* back) {
  std::string buf;
  const Encoding e = EncodeColumn(Col(in), 0, in.size(), Encoding::kSegmented, &buf, runs);
  EXPECT_EQ(e, Encoding::kSegmented);
  Column out;
  const ColumnType type = std::is_same_v<T, double> ? ColumnType::kFloat64 : ColumnType::kInt64;
  auto s = DecodeColumn(buf, type, e, in.size(), &out);
  EXPECT_TRUE(s.ok()) << s;
  if (s.ok()) *back = std::get<std::vector<T>>(out);
  return buf;
}

TEST(SegmentedCodec, RoundTripsScrapedSeriesOfEveryKindBitExactly) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; ++round) {
    const SegmentedBlock b = ScrapedSeries(rng, 1 + round % 4, 2 + round % 13, 1 + rng() % 300);
    std::vector<int64_t> times;
    std::vector<double> values;
    SegmentedRoundTrip(b.times, b.runs, &times);
    SegmentedRoundTrip(b.values, b.runs, &values);
    ASSERT_EQ(times, b.times) << "round " << round;
    ASSERT_EQ(Bits(values), Bits(b.values)) << "round " << round;
  }
}

TEST(SegmentedCodec, RoundTripsRandomRunsOfEveryCase) {
  std::mt19937_64 rng(12);
  for (size_t n : Sizes()) {
    std::vector<uint32_t> runs;
    for (size_t left = n; left > 0;) {
      const size_t len = std::min<size_t>(left, rng() % 4 == 0 ? 1 : 1 + rng() % 300);
      runs.push_back(static_cast<uint32_t>(len));
      left -= len;
    }
    for (const auto& c : IntCases(rng, n)) {
      std::vector<int64_t> back;
      SegmentedRoundTrip(c, runs, &back);
      ASSERT_EQ(back, c) << "n=" << n;
    }
    for (const auto& c : FloatCases(rng, n)) {
      std::vector<double> back;
      SegmentedRoundTrip(c, runs, &back);
      ASSERT_EQ(Bits(back), Bits(c)) << "n=" << n;
    }
  }
}

TEST(SegmentedCodec, GridRunsRoundTripExtremeTimestamps) {
  // Regular until a value jumps to the ends of the range and back; steps that overflow.
  std::vector<int64_t> t;
  for (int i = 0; i < 300; ++i) t.push_back(1'000 * i);
  t[100] = kMax;
  t[101] = kMin;
  t[200] = t[199];  // a zero difference
  t[250] = -5;      // time going backwards
  std::vector<int64_t> back;
  SegmentedRoundTrip(t, {300}, &back);
  EXPECT_EQ(back, t);
  std::vector<int64_t> wide = {kMin, 0, kMax, kMin, kMax, 0};
  SegmentedRoundTrip(wide, {6}, &back);
  EXPECT_EQ(back, wide);
}

TEST(SegmentedCodec, RunsThatDoNotCoverTheRowsMeanOneRun) {
  std::mt19937_64 rng(13);
  const std::vector<double> v = FloatCases(rng, 50)[0];
  for (const std::vector<uint32_t>& runs :
       {std::vector<uint32_t>{}, {10, 10}, {25, 0, 25}, {60}, {50, 1}}) {
    std::vector<double> back;
    const std::string buf = SegmentedRoundTrip(v, runs, &back);
    EXPECT_EQ(Bits(back), Bits(v));
    // varint n, one run, its length.
    EXPECT_EQ(buf.substr(0, 3), std::string("\x32\x01\x32", 3));
  }
  std::vector<double> none;
  EXPECT_EQ(SegmentedRoundTrip(std::vector<double>{}, {}, &none), std::string("\0\0", 2));
  EXPECT_TRUE(none.empty());
}

TEST(SegmentedCodec, EncodesASubrangeWithItsRuns) {
  const std::vector<double> v = {9, 1, 2, 3, 10, 20, 9};
  std::string buf;
  const std::vector<uint32_t> runs = {3, 2};
  const Encoding e = EncodeColumn(Col(v), 1, 6, Encoding::kSegmented, &buf, runs);
  Column out;
  ASSERT_TRUE(DecodeColumn(buf, ColumnType::kFloat64, e, 5, &out).ok());
  EXPECT_EQ(std::get<1>(out), (std::vector<double>{1, 2, 3, 10, 20}));
}

size_t SegmentedSize(const Column& c, const std::vector<uint32_t>& runs) {
  std::string buf;
  EncodeColumn(c, 0, RowCount(c), Encoding::kSegmented, &buf, runs);
  return buf.size();
}

TEST(SegmentedCodec, OneFullPrecisionSeriesNoLongerCostsTheWholeBlock) {
  // Nine counters and one full-precision sum in one block: per block, the sum makes every value
  // Gorilla; per run, only the sum's.
  std::mt19937_64 rng(14);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> v;
  std::vector<uint32_t> runs;
  for (int s = 0; s < 10; ++s) {
    double x = 0;
    for (int i = 0; i < 800; ++i)
      v.push_back(x += s == 3 ? unit(rng) : static_cast<double>(rng() % 8));
    runs.push_back(800);
  }
  std::string block;
  ASSERT_EQ(EncodeColumn(Col(v), 0, v.size(), Encoding::kDecimal, &block), Encoding::kGorilla);
  EXPECT_LT(SegmentedSize(Col(v), runs) * 2, block.size());
}

TEST(SegmentedCodec, SeriesScrapedTogetherShareTheirTimestamps) {
  std::mt19937_64 rng(15);
  const SegmentedBlock b = ScrapedSeries(rng, 1, 20, 400);
  std::string block;
  EncodeColumn(Col(b.times), 0, b.times.size(), Encoding::kDelta, &block);
  const size_t segmented = SegmentedSize(Col(b.times), b.runs);
  // The runs after the first are copies (a length and a kind byte each), but for the last,
  // a single sample.
  std::vector<int64_t> first(b.times.begin(), b.times.begin() + b.runs[0]);
  EXPECT_LE(segmented, SegmentedSize(Col(first), {b.runs[0]}) + 3 * b.runs.size() + 12);
  EXPECT_LT(segmented * 4, block.size());
}

TEST(SegmentedCodec, ConstantsAndHistogramBucketsCostLittle) {
  std::mt19937_64 rng(16);
  std::vector<double> constant(1000, std::bit_cast<double>(kStaleNaN));
  // varint n (2 bytes), one run, its length (2), kind, 8 bytes.
  EXPECT_EQ(SegmentedSize(Col(constant), {1000}), 14u);
  // Two cumulative buckets: the second adds a few requests to the first's thousands.
  std::vector<double> low, both;
  double x = 0;
  for (int i = 0; i < 1000; ++i) low.push_back(x += static_cast<double>(rng() % 2000));
  both = low;
  int64_t extra = 0;
  for (int i = 0; i < 1000; ++i) both.push_back(low[i] + static_cast<double>(extra += rng() % 2));
  const size_t alone = SegmentedSize(Col(low), {1000});
  EXPECT_LT(SegmentedSize(Col(both), {1000, 1000}) - alone, alone / 4);
}

// The kinds of the runs of a segmented float64 block whose runs are all entropy-coded (kinds
// 7 and 8), read from its bytes.
std::vector<int> EntropyCodedRunKinds(const std::string& buf) {
  const char* p = buf.data();
  const char* end = p + buf.size();
  uint64_t n, runs, v;
  bits::GetVarint(&p, end, &n);
  bits::GetVarint(&p, end, &runs);
  for (uint64_t i = 0; i < runs; ++i) bits::GetVarint(&p, end, &v);
  std::vector<int> kinds;
  while (p < end) {
    kinds.push_back(static_cast<uint8_t>(*p));
    if (kinds.back() != 7 && kinds.back() != 8) break;
    p += 2;  // kind, exponent
    bits::GetVarint(&p, end, &v);
    p += v;
  }
  return kinds;
}

TEST(SegmentedCodec, BellShapedStepsAreEntropyCodedNearTheirEntropy) {
  std::mt19937_64 rng(31);
  constexpr size_t kN = 1440;  // 6 h of 15 s scrapes
  constexpr double kLambda = 300;
  // A CPU-seconds counter: Poisson-many 1/100 s ticks a scrape.
  std::poisson_distribution<int64_t> ticks(kLambda);
  std::vector<int64_t> total(kN);
  int64_t t = 123456789;
  for (auto& x : total) x = t += ticks(rng);
  std::vector<double> counter(kN);
  for (size_t i = 0; i < kN; ++i) counter[i] = static_cast<double>(total[i]) / 100;
  std::vector<double> back;
  std::string buf = SegmentedRoundTrip(counter, {kN}, &back);
  ASSERT_EQ(Bits(back), Bits(counter));
  EXPECT_EQ(EntropyCodedRunKinds(buf), (std::vector<int>{7}));
  // Poisson(300) carries 0.5 log2(2 pi e 300) = 6.16 bits a value; frames of reference of 64
  // values spend about 7.4 on it.
  const double entropy = 0.5 * std::log2(2 * std::numbers::pi * std::numbers::e * kLambda);
  EXPECT_LT(static_cast<double>(buf.size()) * 8 / kN, entropy + 0.4) << buf.size() << " bytes";

  // A restart (the counter falls to zero) and a one-scrape glitch are escapes; the run stays
  // entropy-coded and exact.
  std::vector<double> odd = counter;
  for (size_t i = 700; i < kN; ++i) odd[i] = static_cast<double>(total[i] - total[699]) / 100;
  odd[1000] = static_cast<double>(total[1000] + 100'000'000'000) / 100;
  buf = SegmentedRoundTrip(odd, {kN}, &back);
  ASSERT_EQ(Bits(back), Bits(odd));
  EXPECT_EQ(EntropyCodedRunKinds(buf), (std::vector<int>{7}));
  EXPECT_LT(static_cast<double>(buf.size()) * 8 / kN, entropy + 0.6) << buf.size() << " bytes";

  // A cumulative bucket above another: coded against it (kind 8), also when the first run is
  // itself entropy-coded.
  std::vector<double> buckets = counter;
  int64_t above = 0;
  for (size_t i = 0; i < kN; ++i) {
    buckets.push_back(static_cast<double>(total[i] + (above += ticks(rng))) / 100);
  }
  buf = SegmentedRoundTrip(buckets, {kN, kN}, &back);
  ASSERT_EQ(Bits(back), Bits(buckets));
  EXPECT_EQ(EntropyCodedRunKinds(buf), (std::vector<int>{7, 8}));

  // Windows inside the runs: the last rows of each, and a stretch across the two.
  for (const RowWindow w : {RowWindow{kN - 5, kN}, RowWindow{2 * kN - 3, 2 * kN},
                            RowWindow{kN - 100, kN + 100}, RowWindow{0, 1}}) {
    Column out;
    auto st =
        DecodeColumn(buf, ColumnType::kFloat64, Encoding::kSegmented, 2 * kN, &out, {}, One(w));
    ASSERT_TRUE(st.ok()) << st;
    for (size_t i = w.begin; i < w.end; ++i) {
      ASSERT_EQ(std::bit_cast<uint64_t>(std::get<1>(out)[i]), std::bit_cast<uint64_t>(buckets[i]))
          << "row " << i << " of window [" << w.begin << ", " << w.end << ")";
    }
  }

  // Evenly spread increments gain too little from it: they stay in frames of reference.
  std::vector<double> even(kN);
  double x = 0;
  for (auto& v : even) v = x += static_cast<double>(rng() % 64);
  buf = SegmentedRoundTrip(even, {kN}, &back);
  ASSERT_EQ(Bits(back), Bits(even));
  EXPECT_EQ(EntropyCodedRunKinds(buf), (std::vector<int>{2}));
}

TEST(SegmentedCodec, RunsReferToSharedSequences) {
  std::mt19937_64 rng(17);
  // Two targets' scrape times with jitter and a missed scrape; the block holds a suffix of
  // target 0's sequence, target 1's whole one twice, and a prefix of target 0's.
  std::vector<std::vector<int64_t>> targets(2);
  for (int t = 0; t < 2; ++t) {
    int64_t at = 1700000000000 + 977 * t;
    for (int i = 0; i < 500; ++i) {
      at += i == 123 ? 30000 : 15000;
      targets[t].push_back(at + (rng() % 10 == 0 ? 1 + static_cast<int64_t>(rng() % 2) : 0));
    }
  }
  std::vector<SharedSequence> seqs = {MakeSharedSequence(targets[0]),
                                      MakeSharedSequence(targets[1])};
  std::vector<int64_t> v;
  std::vector<uint32_t> runs;
  std::vector<SequenceRef> refs;
  const auto add = [&](int t, uint32_t from, uint32_t len, bool shared) {
    v.insert(v.end(), targets[t].begin() + from, targets[t].begin() + from + len);
    runs.push_back(len);
    refs.push_back(shared ? SequenceRef{static_cast<uint32_t>(t), from} : SequenceRef{});
  };
  add(0, 200, 300, true);
  add(1, 0, 500, true);
  add(1, 0, 500, true);  // a copy of the run before
  add(0, 0, 77, true);
  add(1, 10, 20, false);  // not shared: encoded inline
  std::string with, without;
  ASSERT_EQ(EncodeColumn(Col(v), 0, v.size(), Encoding::kSegmented, &with, runs, refs),
            Encoding::kSegmented);
  EncodeColumn(Col(v), 0, v.size(), Encoding::kSegmented, &without, runs);
  EXPECT_LT(with.size() * 4, without.size()) << with.size() << " vs " << without.size();
  Column out;
  ASSERT_TRUE(
      DecodeColumn(with, ColumnType::kInt64, Encoding::kSegmented, v.size(), &out, seqs).ok());
  EXPECT_EQ(std::get<0>(out), v);
  // Without the part's sequences, or with ones too short, the references are malformed.
  auto s = DecodeColumn(with, ColumnType::kInt64, Encoding::kSegmented, v.size(), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("shared sequence 0 of 0"), std::string_view::npos) << s;
  std::vector<SharedSequence> short_seqs = {
      MakeSharedSequence(std::span<const int64_t>(targets[0]).first(400)), seqs[1]};
  s = DecodeColumn(with, ColumnType::kInt64, Encoding::kSegmented, v.size(), &out, short_seqs);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  // A damaged shared sequence is reported as such.
  std::vector<SharedSequence> bad = seqs;
  bad[0].encoded.resize(bad[0].encoded.size() - 1);
  s = DecodeColumn(with, ColumnType::kInt64, Encoding::kSegmented, v.size(), &out, bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("shared sequence 0: "), std::string_view::npos) << s;
  // Shared sequences round-trip on their own.
  ASSERT_TRUE(
      DecodeColumn(seqs[1].encoded, ColumnType::kInt64, Encoding::kSegmented, seqs[1].values, &out)
          .ok());
  EXPECT_EQ(std::get<0>(out), targets[1]);
}

// A windowed decode gives the rows of the window exactly as a full decode does, for every run
// kind (copies and histogram buckets that refer to the run before included, shared
// sequences) and any window: inside a run, across runs, empty, past the end.
TEST(SegmentedCodec, WindowedDecodesGiveTheWindowsRows) {
  std::mt19937_64 rng(23);
  for (int round = 0; round < 40; ++round) {
    const SegmentedBlock b = ScrapedSeries(rng, 1 + round % 3, 2 + round % 11, 1 + rng() % 300);
    std::string tbuf, vbuf;
    ASSERT_EQ(EncodeColumn(Col(b.times), 0, b.times.size(), Encoding::kSegmented, &tbuf, b.runs),
              Encoding::kSegmented);
    ASSERT_EQ(EncodeColumn(Col(b.values), 0, b.values.size(), Encoding::kSegmented, &vbuf, b.runs),
              Encoding::kSegmented);
    const size_t n = b.times.size();
    for (int w = 0; w < 30; ++w) {
      size_t lo = rng() % (n + 1), hi = rng() % (n + 2);
      if (w % 5 == 0) {  // one series' run, or its last rows
        size_t at = 0, r = rng() % b.runs.size();
        for (size_t i = 0; i < r; ++i) at += b.runs[i];
        lo = at + (w % 10 == 0 ? 0 : b.runs[r] - std::min<size_t>(b.runs[r], 3));
        hi = at + b.runs[r];
      }
      if (lo > hi) std::swap(lo, hi);
      const RowWindow window{lo, hi};
      Column t, v;
      auto st =
          DecodeColumn(tbuf, ColumnType::kInt64, Encoding::kSegmented, n, &t, {}, One(window));
      ASSERT_TRUE(st.ok()) << st;
      auto sv =
          DecodeColumn(vbuf, ColumnType::kFloat64, Encoding::kSegmented, n, &v, {}, One(window));
      ASSERT_TRUE(sv.ok()) << sv;
      ASSERT_EQ(std::get<0>(t).size(), n);
      ASSERT_EQ(std::get<1>(v).size(), n);
      for (size_t i = lo; i < std::min(hi, n); ++i) {
        ASSERT_EQ(std::get<0>(t)[i], b.times[i]) << "round " << round << " row " << i;
        ASSERT_EQ(std::bit_cast<uint64_t>(std::get<1>(v)[i]), std::bit_cast<uint64_t>(b.values[i]))
            << "round " << round << " row " << i << " window [" << lo << ", " << hi << ")";
      }
    }
  }

  // Several windows in one block (two series' stretches with others between): each window's
  // rows, with the runs between them stepped over.
  for (int round = 0; round < 40; ++round) {
    const SegmentedBlock b = ScrapedSeries(rng, 2, 3 + round % 9, 50 + rng() % 400);
    std::string tbuf, vbuf;
    EncodeColumn(Col(b.times), 0, b.times.size(), Encoding::kSegmented, &tbuf, b.runs);
    EncodeColumn(Col(b.values), 0, b.values.size(), Encoding::kSegmented, &vbuf, b.runs);
    const size_t n = b.times.size();
    std::vector<size_t> cuts;
    for (int c = 0; c < 2 + 2 * (round % 3); ++c) cuts.push_back(rng() % (n + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<RowWindow> windows;
    for (size_t c = 0; c + 1 < cuts.size(); c += 2) {
      if (cuts[c] < cuts[c + 1]) windows.push_back({cuts[c], cuts[c + 1]});
    }
    Column t, v;
    ASSERT_TRUE(
        DecodeColumn(tbuf, ColumnType::kInt64, Encoding::kSegmented, n, &t, {}, windows).ok());
    ASSERT_TRUE(
        DecodeColumn(vbuf, ColumnType::kFloat64, Encoding::kSegmented, n, &v, {}, windows).ok());
    for (const RowWindow& w : windows) {
      for (size_t i = w.begin; i < w.end; ++i) {
        ASSERT_EQ(std::get<0>(t)[i], b.times[i]) << "round " << round << " row " << i;
        ASSERT_EQ(std::bit_cast<uint64_t>(std::get<1>(v)[i]), std::bit_cast<uint64_t>(b.values[i]))
            << "round " << round << " row " << i;
      }
    }
  }

  // Shared sequences: a window inside a shared run copies its rows, and a copy of that run
  // after it still gets every value (the run is decoded whole for it).
  std::vector<int64_t> target;
  for (int i = 0; i < 400; ++i) target.push_back(1'700'000'000'000 + i * 15'000 + (i % 9 == 0));
  std::vector<SharedSequence> seqs = {MakeSharedSequence(target)};
  std::vector<int64_t> v(target.begin() + 100, target.end());
  v.insert(v.end(), target.begin() + 100, target.end());
  const std::vector<uint32_t> runs = {300, 300};
  const std::vector<SequenceRef> refs = {SequenceRef{0, 100}, SequenceRef{0, 100}};
  std::string buf;
  ASSERT_EQ(EncodeColumn(Col(v), 0, v.size(), Encoding::kSegmented, &buf, runs, refs),
            Encoding::kSegmented);
  for (const RowWindow window : {RowWindow{250, 320}, RowWindow{10, 20}, RowWindow{299, 600}}) {
    Column out;
    ASSERT_TRUE(DecodeColumn(buf, ColumnType::kInt64, Encoding::kSegmented, v.size(), &out, seqs,
                             One(window))
                    .ok());
    for (size_t i = window.begin; i < window.end; ++i) {
      ASSERT_EQ(std::get<0>(out)[i], v[i]) << i;
    }
  }
}

// DecodeTimeWindows narrows each series' window to its rows in [mint, maxt] exactly as
// bisecting a full decode does, and decodes those rows, whatever the runs are: slices of a
// shared sequence (kept decoded, or not), copies of such a run, runs encoded inline, windows
// covering a run or part of one, ranges before, inside, across and after the windows.
TEST(SegmentedCodec, TimeWindowsAreNarrowedToTheRangeAsBisectionDoes) {
  std::mt19937_64 rng(29);
  for (int round = 0; round < 60; ++round) {
    // Scrape times of a few targets; each series is a stretch of its target's times.
    std::vector<std::vector<int64_t>> targets(1 + round % 3);
    for (auto& t : targets) {
      int64_t at = 1'700'000'000'000 + static_cast<int64_t>(rng() % 15'000);
      const size_t steps = 20 + rng() % 600;
      for (size_t i = 0; i < steps; ++i) {
        at += rng() % 50 == 0 ? 30'000 : 15'000;
        t.push_back(at + (rng() % 10 == 0 ? 1 : 0));
      }
    }
    std::vector<SharedSequence> seqs;
    for (const auto& t : targets) seqs.push_back(MakeSharedSequence(t));
    if (round % 4 == 3) {
      for (auto& q : seqs) q.decoded = nullptr;  // as when the kept sequences are at their bound
    }
    std::vector<int64_t> times;
    std::vector<uint32_t> runs;
    std::vector<SequenceRef> refs;
    const int series = 2 + static_cast<int>(rng() % 12);
    for (int sr = 0; sr < series; ++sr) {
      uint32_t entry = static_cast<uint32_t>(rng() % targets.size());
      uint32_t from = static_cast<uint32_t>(rng() % targets[entry].size());
      uint32_t len = 1 + static_cast<uint32_t>(rng() % (targets[entry].size() - from));
      if (sr > 0 && rng() % 4 == 0 && refs.back().entry != kNoSequence) {
        // The same stretch as the series before (written as a copy of its run).
        entry = refs.back().entry;
        from = refs.back().offset;
        len = runs.back();
      }
      const auto& src = targets[entry];
      times.insert(times.end(), src.begin() + from, src.begin() + from + len);
      runs.push_back(len);
      refs.push_back(rng() % 5 == 0 ? SequenceRef{} : SequenceRef{entry, from});
    }
    std::string buf;
    ASSERT_EQ(EncodeColumn(Col(times), 0, times.size(), Encoding::kSegmented, &buf, runs, refs),
              Encoding::kSegmented);
    std::string delta;
    const Encoding delta_enc = EncodeColumn(Col(times), 0, times.size(), Encoding::kDelta, &delta);
    const int64_t first = targets[0].front(), last = targets[0].back();
    for (int q = 0; q < 25; ++q) {
      // Some of the series' runs, whole or a stretch of each.
      std::vector<RowWindow> windows;
      size_t at = 0;
      for (uint32_t len : runs) {
        if (rng() % 2 == 0) {
          size_t b = at, e = at + len;
          if (rng() % 3 == 0) {
            b = at + rng() % len;
            e = b + 1 + rng() % (at + len - b);
          }
          windows.push_back({b, e});
        }
        at += len;
      }
      const int64_t span = last - first + 60'000;
      int64_t mint = first - 30'000 + static_cast<int64_t>(rng() % span);
      int64_t maxt =
          q % 5 == 0 ? mint + 300'000 : first - 30'000 + static_cast<int64_t>(rng() % span);
      if (q % 7 == 0) maxt = mint - 1;  // an empty range
      for (const auto& [encoded, enc] :
           {std::pair<const std::string*, Encoding>{&buf, Encoding::kSegmented},
            std::pair<const std::string*, Encoding>{&delta, delta_enc}}) {
        std::vector<RowWindow> got = windows;
        Column out;
        auto st =
            DecodeTimeWindows(*encoded, enc, times.size(), &out, seqs, std::span(got), mint, maxt);
        ASSERT_TRUE(st.ok()) << st;
        ASSERT_EQ(got.size(), windows.size());
        for (size_t w = 0; w < windows.size(); ++w) {
          const int64_t* v = times.data();
          const size_t lo = std::lower_bound(v + windows[w].begin, v + windows[w].end, mint) - v;
          const size_t hi = std::upper_bound(v + lo, v + windows[w].end, maxt) - v;
          const std::string where = absl::StrCat("round ", round, " query ", q, " window ", w,
                                                 " encoding ", static_cast<int>(enc));
          if (lo == hi) {
            EXPECT_EQ(got[w].begin, got[w].end) << where;
            continue;
          }
          ASSERT_EQ(got[w].begin, lo) << where;
          ASSERT_EQ(got[w].end, hi) << where;
          for (size_t i = lo; i < hi; ++i) ASSERT_EQ(std::get<0>(out)[i], times[i]) << where;
        }
      }
    }
  }
}

// Runs outside the window are stepped over, not decoded: damage inside the packed bits of a
// full-precision run before the window changes what a full decode gives, not the window.
TEST(SegmentedCodec, WindowedDecodesStepOverRunsBeforeTheWindow) {
  std::mt19937_64 rng(29);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> v;
  for (int i = 0; i < 500; ++i) v.push_back(unit(rng));  // XOR bits
  for (int i = 0; i < 100; ++i) v.push_back(1000 + i);   // a counter
  std::string buf;
  const std::vector<uint32_t> runs = {500, 100};
  ASSERT_EQ(EncodeColumn(Col(v), 0, v.size(), Encoding::kSegmented, &buf, runs),
            Encoding::kSegmented);
  // Header: n, run count, two lengths; then the first run's kind, byte length and body.
  buf[buf.size() / 3] ^= 0x10;
  Column full, window;
  const auto fs = DecodeColumn(buf, ColumnType::kFloat64, Encoding::kSegmented, v.size(), &full);
  bool differs = !fs.ok();
  for (size_t i = 0; i < 500 && !differs; ++i) {
    differs = std::bit_cast<uint64_t>(std::get<1>(full)[i]) != std::bit_cast<uint64_t>(v[i]);
  }
  EXPECT_TRUE(differs);
  ASSERT_TRUE(DecodeColumn(buf, ColumnType::kFloat64, Encoding::kSegmented, v.size(), &window, {},
                           One(RowWindow{500, 600}))
                  .ok());
  for (size_t i = 500; i < 600; ++i) ASSERT_EQ(std::get<1>(window)[i], v[i]) << i;
}

// XOR runs are written in segments of 256 values that a window starts at: any window of a
// long run (across segment edges, one row, the last rows) gives the full decode's rows.
TEST(SegmentedCodec, LongXorRunsDecodeFromTheSegmentOfTheWindow) {
  std::mt19937_64 rng(41);
  std::vector<double> v;
  const uint64_t a = 0x3fd5555555555555ULL;
  for (int i = 0; i < 3000; ++i) {
    v.push_back(std::bit_cast<double>(a ^ ((rng() & 0xfffff) << 30)));  // 20 bits change
  }
  v.push_back(0.25);  // a second run after it
  std::string buf;
  const std::vector<uint32_t> runs = {3000, 1};
  ASSERT_EQ(EncodeColumn(Col(v), 0, v.size(), Encoding::kSegmented, &buf, runs),
            Encoding::kSegmented);
  ASSERT_EQ(buf[6], 6) << "n (2 bytes), 2 runs, their lengths (2 + 1 bytes), the first's kind";
  Column full;
  ASSERT_TRUE(DecodeColumn(buf, ColumnType::kFloat64, Encoding::kSegmented, v.size(), &full).ok());
  ASSERT_EQ(Bits(std::get<1>(full)), Bits(v));
  for (const RowWindow w :
       {RowWindow{0, 1}, RowWindow{255, 257}, RowWindow{256, 512}, RowWindow{2999, 3001},
        RowWindow{1000, 1001}, RowWindow{2800, 3000}, RowWindow{3000, 3001}}) {
    Column part;
    ASSERT_TRUE(
        DecodeColumn(buf, ColumnType::kFloat64, Encoding::kSegmented, v.size(), &part, {}, One(w))
            .ok());
    for (size_t i = w.begin; i < w.end; ++i) {
      ASSERT_EQ(std::bit_cast<uint64_t>(std::get<1>(part)[i]), std::bit_cast<uint64_t>(v[i]))
          << "row " << i << " of [" << w.begin << ", " << w.end << ")";
    }
  }
  // Segments cost little: under 3 % more than the whole run as one bit stream.
  std::string one;
  ASSERT_EQ(EncodeColumn(Col(v), 0, 3000, Encoding::kGorilla, &one), Encoding::kGorilla);
  EXPECT_LT(buf.size(), one.size() * 103 / 100) << buf.size() << " vs " << one.size();
}

// Version 4 parts hold XOR runs without their length (kind 4): still read, fully or through a
// window after them (which then decodes them to find where they end).
TEST(SegmentedCodec, XorRunsWithoutTheirLengthStillDecode) {
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> xor_values;
  for (int i = 0; i < 300; ++i) xor_values.push_back(unit(rng));
  std::string gorilla;
  ASSERT_EQ(EncodeColumn(Col(xor_values), 0, xor_values.size(), Encoding::kGorilla, &gorilla),
            Encoding::kGorilla);
  const char* p = gorilla.data();
  uint64_t count;
  ASSERT_TRUE(bits::GetVarint(&p, gorilla.data() + gorilla.size(), &count));
  ASSERT_EQ(count, 300u);
  // Two runs: the XOR bits of kind 4, then a constant (kind 1) of 20 rows.
  std::string block;
  bits::PutVarint(&block, 320);
  bits::PutVarint(&block, 2);
  bits::PutVarint(&block, 300);
  bits::PutVarint(&block, 20);
  block.push_back(4);
  block.append(p, static_cast<size_t>(gorilla.data() + gorilla.size() - p));
  block.push_back(1);
  bits::PutFixed64(&block, std::bit_cast<uint64_t>(2.5));
  Column full, tail;
  ASSERT_TRUE(DecodeColumn(block, ColumnType::kFloat64, Encoding::kSegmented, 320, &full).ok());
  for (size_t i = 0; i < 300; ++i) ASSERT_EQ(std::get<1>(full)[i], xor_values[i]) << i;
  for (size_t i = 300; i < 320; ++i) ASSERT_EQ(std::get<1>(full)[i], 2.5) << i;
  ASSERT_TRUE(DecodeColumn(block, ColumnType::kFloat64, Encoding::kSegmented, 320, &tail, {},
                           One(RowWindow{305, 310}))
                  .ok());
  for (size_t i = 305; i < 310; ++i) ASSERT_EQ(std::get<1>(tail)[i], 2.5) << i;
  // This build writes such runs with their length (kind 6) instead (two full-precision
  // values one high bit apart taking turns: XOR bits beat every other kind).
  std::vector<double> alternating;
  const uint64_t a = std::bit_cast<uint64_t>(xor_values[0]);
  for (int i = 0; i < 300; ++i) {
    alternating.push_back(std::bit_cast<double>(i % 2 == 0 ? a : a ^ (uint64_t{1} << 50)));
  }
  std::string written;
  const std::vector<uint32_t> runs = {300};
  ASSERT_EQ(EncodeColumn(Col(alternating), 0, 300, Encoding::kSegmented, &written, runs),
            Encoding::kSegmented);
  ASSERT_GE(written.size(), 6u);
  EXPECT_EQ(written[5], 6) << "n (2 bytes), 1 run, its length (2 bytes), then the run's kind";
}

// A sequence is decoded once and kept with it: later blocks referring to it decode the same
// values from the kept copy, the kept bytes are counted while it lives and released with it,
// a copy starts afresh (so a damaged copy is still reported), and a sequence that does not
// decode is not kept.
TEST(SegmentedCodec, SharedSequencesAreDecodedOnceAndKeptWithinTheBound) {
  std::vector<int64_t> times;
  for (int i = 0; i < 3'000; ++i) times.push_back(1700000000000 + i * 15'000 + (i % 7 == 0));
  const size_t before = DecodedSequenceBytes();
  std::vector<int64_t> want;
  std::string block;
  {
    std::vector<SharedSequence> seqs = {MakeSharedSequence(times)};
    EXPECT_EQ(DecodedSequenceBytes(), before);  // nothing decoded yet
    want.assign(times.begin() + 1'000, times.begin() + 1'800);
    const std::vector<uint32_t> runs = {800};
    const std::vector<SequenceRef> refs = {{0, 1'000}};
    ASSERT_EQ(EncodeColumn(Col(want), 0, want.size(), Encoding::kSegmented, &block, runs, refs),
              Encoding::kSegmented);
    for (int round = 0; round < 3; ++round) {
      Column out;
      ASSERT_TRUE(
          DecodeColumn(block, ColumnType::kInt64, Encoding::kSegmented, 800, &out, seqs).ok());
      EXPECT_EQ(std::get<0>(out), want) << "round " << round;
      EXPECT_EQ(DecodedSequenceBytes(), before + times.size() * sizeof(int64_t));
    }
    // A copy, then damaged: decoded from its own bytes, so the damage is reported.
    std::vector<SharedSequence> bad = seqs;
    bad[0].encoded.resize(bad[0].encoded.size() / 2);
    Column out;
    auto s = DecodeColumn(block, ColumnType::kInt64, Encoding::kSegmented, 800, &out, bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(DecodedSequenceBytes(), before + times.size() * sizeof(int64_t));
  }
  EXPECT_EQ(DecodedSequenceBytes(), before);

  // Past the bound, sequences are decoded each time and not kept; the values are the same.
  std::vector<int64_t> day(kMaxSharedSequenceValues);
  for (size_t i = 0; i < day.size(); ++i) day[i] = static_cast<int64_t>(i) * 15'000;
  const size_t per = day.size() * sizeof(int64_t);
  const size_t fit = (kMaxDecodedSequenceBytes - DecodedSequenceBytes()) / per;
  std::vector<SharedSequence> many(fit + 2, MakeSharedSequence(day));
  std::vector<int64_t> tail(day.end() - 100, day.end());
  const std::vector<uint32_t> one_run = {100};
  for (uint32_t e = 0; e < many.size(); ++e) {
    std::string ref_block;
    const std::vector<SequenceRef> ref = {{e, kMaxSharedSequenceValues - 100}};
    ASSERT_EQ(
        EncodeColumn(Col(tail), 0, tail.size(), Encoding::kSegmented, &ref_block, one_run, ref),
        Encoding::kSegmented);
    for (int round = 0; round < 2; ++round) {
      Column out;
      auto s = DecodeColumn(ref_block, ColumnType::kInt64, Encoding::kSegmented, 100, &out, many);
      ASSERT_TRUE(s.ok()) << "sequence " << e << ": " << s;
      ASSERT_EQ(std::get<0>(out), tail) << "sequence " << e;
    }
    EXPECT_LE(DecodedSequenceBytes(), kMaxDecodedSequenceBytes);
  }
  EXPECT_EQ(DecodedSequenceBytes(), before + fit * per);
  many.clear();
  EXPECT_EQ(DecodedSequenceBytes(), before);
}

// A kSegmented block assembled byte by byte.
class Bytes {
 public:
  Bytes& V(uint64_t v) {
    bits::PutVarint(&s_, v);
    return *this;
  }
  Bytes& B(std::initializer_list<int> bytes) {
    for (int b : bytes) s_.push_back(static_cast<char>(b));
    return *this;
  }
  Bytes& F64(double d) {
    bits::PutFixed64(&s_, std::bit_cast<uint64_t>(d));
    return *this;
  }
  Bytes& F32(uint32_t v) {
    bits::PutFixed32(&s_, v);
    return *this;
  }
  Bytes& S(const std::string& bytes) {
    s_ += bytes;
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

// The body of an entropy-coded stream (after its byte count) of two residuals of order 0 in
// one group: centre 5, shift 0, symbols for q = 0 (and the escape) with the given frequencies,
// escapes, then four rANS states and three word counts (the rest is state 3's words). With
// every state at 2^16 and q = 0 taking the whole scale, it decodes to 5, 5.
struct AnsBody {
  int shift = 0;
  uint64_t symbols = 1;
  std::vector<uint64_t> freqs = {1024, 0};
  std::string escapes;
  uint32_t state0 = 1u << 16;
  uint64_t words0 = 0;
  std::string words;
  std::string str() const {
    Bytes b;
    b.B({0}).V(bits::ZigZag(5)).B({shift}).V(0).V(symbols);
    for (uint64_t f : freqs) b.V(f);
    b.V(escapes.size()).S(escapes).F32(state0).F32(1u << 16).F32(1u << 16).F32(1u << 16);
    b.V(words0).V(0).V(0).S(words);
    return b.str();
  }
};

// A float64 block of two rows in one kind-7 run holding `body`, whose byte count is off by
// `extra`.
std::string AnsBlock(const AnsBody& body, int extra = 0) {
  const std::string b = body.str();
  return Bytes().V(2).V(1).V(2).B({7, 0}).V(b.size() + extra).S(b).str();
}

TEST(SegmentedCodec, MalformedBlocksAreDataLoss) {
  constexpr auto kF = ColumnType::kFloat64;
  constexpr auto kI = ColumnType::kInt64;
  // One float run of value 0 as decimal mantissas: kind 2, e 0, order 0, base 0, width 0.
  const std::initializer_list<int> kDecimalZero = {2, 0, 0, 0, 0};
  struct Case {
    const char* what;
    ColumnType type;
    size_t rows;
    std::string bytes;
  } cases[] = {
      {"more runs than rows", kF, 2, Bytes().V(2).V(3).V(1).V(1).V(0).str()},
      {"run past the rows", kF, 2, Bytes().V(2).V(1).V(3).B(kDecimalZero).str()},
      {"empty run", kF, 2, Bytes().V(2).V(2).V(2).V(0).B(kDecimalZero).str()},
      {"runs short of the rows", kF, 2, Bytes().V(2).V(1).V(1).B(kDecimalZero).str()},
      {"runs without rows", kF, 0, Bytes().V(0).V(1).V(1).str()},
      {"no runs for rows", kF, 1, Bytes().V(1).V(0).str()},
      {"unknown float kind", kF, 1, Bytes().V(1).V(1).V(1).B({9}).str()},
      {"truncated constant", kF, 1, Bytes().V(1).V(1).V(1).B({1, 0, 0, 0}).str()},
      {"previous run without mantissas", kF, 1, Bytes().V(1).V(1).V(1).B({3, 0, 0, 0, 0}).str()},
      {"previous run a constant", kF, 2,
       Bytes().V(2).V(2).V(1).V(1).B({1}).F64(1).B({3, 0, 0, 0, 0}).str()},
      {"previous run of another length", kF, 3,
       Bytes().V(3).V(2).V(1).V(2).B(kDecimalZero).B({3, 0, 0, 0, 0}).str()},
      {"exponent 16", kF, 1, Bytes().V(1).V(1).V(1).B({2, 16, 0, 0, 0}).str()},
      {"order 3", kF, 4, Bytes().V(4).V(1).V(4).B({2, 0, 3, 0, 0, 0, 0, 0}).str()},
      {"order past the run", kF, 1, Bytes().V(1).V(1).V(1).B({5, 1, 0, 0, 0}).str()},
      {"bit width 65", kF, 1, Bytes().V(1).V(1).V(1).B({5, 0, 0, 65}).str()},
      {"truncated xor run", kF, 2, Bytes().V(2).V(1).V(2).B({4, 0x3f, 0xf0}).str()},
      {"unknown int kind", kI, 1, Bytes().V(1).V(1).V(1).B({7}).str()},
      {"grid of one value", kI, 1, Bytes().V(1).V(1).V(1).B({2, 0, 2, 0, 0}).str()},
      {"copy as the first run", kI, 1, Bytes().V(1).V(1).V(1).B({3}).str()},
      {"copy of another length", kI, 3, Bytes().V(3).V(2).V(1).V(2).B({1, 0, 0, 3}).str()},
      {"bitmap past the group", kI, 3, Bytes().V(3).V(1).V(3).B({2, 0, 2, 1, 0b100, 1, 0}).str()},
      {"truncated sparse values", kI, 3, Bytes().V(3).V(1).V(3).B({2, 0, 2, 9, 0b11}).str()},
      {"truncated dense values", kI, 3, Bytes().V(3).V(1).V(3).B({2, 0, 2, 0x80 | 9, 1}).str()},
      {"dense width 65", kI, 3, Bytes().V(3).V(1).V(3).B({2, 0, 2, 0x80 | 65, 0}).str()},
      {"delta order 3", kI, 4, Bytes().V(4).V(1).V(4).B({1, 3, 0}).str()},
      {"entropy-coded run past its block", kF, 2, AnsBlock({}, 1)},
      {"no symbols", kF, 2, AnsBlock({.symbols = 0, .freqs = {1024}})},
      {"256 symbols", kF, 2, AnsBlock({.symbols = 256})},
      {"frequencies short of the scale", kF, 2, AnsBlock({.freqs = {1023, 0}})},
      {"frequencies past the scale", kF, 2, AnsBlock({.freqs = {1024, 1}})},
      {"shift 64", kF, 2, AnsBlock({.shift = 64})},
      {"state below its range", kF, 2, AnsBlock({.state0 = 0xffff})},
      {"escape without its value", kF, 2, AnsBlock({.freqs = {0, 1024}})},
      {"escape left over", kF, 2, AnsBlock({.escapes = std::string(1, '\0')})},
      {"word left over", kF, 2, AnsBlock({.words0 = 1, .words = std::string(2, '\0')})},
      {"word counts past the stream", kF, 2, AnsBlock({.words0 = 1})},
  };
  for (const auto& c : cases) {
    Column out;
    auto s = DecodeColumn(c.bytes, c.type, Encoding::kSegmented, c.rows, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.what << ": " << s;
    EXPECT_EQ(s.message().find("malformed "), 0u) << c.what << ": " << s;
  }
  // The well-formed neighbours of the cases above decode.
  Column out;
  EXPECT_TRUE(DecodeColumn(AnsBlock({}), kF, Encoding::kSegmented, 2, &out).ok());
  EXPECT_EQ(std::get<1>(out), (std::vector<double>{5, 5}));
  // Both values escaped: the centre 5 plus -1 and plus 7.
  EXPECT_TRUE(DecodeColumn(AnsBlock({.freqs = {0, 1024}, .escapes = Bytes().V(1).V(14).str()}), kF,
                           Encoding::kSegmented, 2, &out)
                  .ok());
  EXPECT_EQ(std::get<1>(out), (std::vector<double>{4, 12}));
  EXPECT_TRUE(DecodeColumn(Bytes().V(2).V(2).V(1).V(1).B(kDecimalZero).B({3, 0, 0, 0, 0}).str(), kF,
                           Encoding::kSegmented, 2, &out)
                  .ok());
  EXPECT_EQ(std::get<1>(out), (std::vector<double>{0, 0}));
  EXPECT_TRUE(DecodeColumn(Bytes().V(2).V(2).V(1).V(1).B({1, 0, 3, 5}).B({3}).str(), kI,
                           Encoding::kSegmented, 2, &out)
                  .ok());
  EXPECT_EQ(std::get<0>(out), (std::vector<int64_t>{-3, -3}));
  // A grid of three values, step 10: no skips (width 0), jitters +1 and -1 stored dense.
  EXPECT_TRUE(DecodeColumn(Bytes().V(3).V(1).V(3).B({2, 0, 20, 0, 0x80 | 2, 0b0110}).str(), kI,
                           Encoding::kSegmented, 3, &out)
                  .ok());
  EXPECT_EQ(std::get<0>(out), (std::vector<int64_t>{0, 11, 19}));
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

struct EncodedSample {
  Column column;
  Encoding preferred;
  std::vector<uint32_t> runs;  // for kSegmented
};

std::vector<EncodedSample> EncodedSamples() {
  std::mt19937_64 rng(6);
  std::vector<EncodedSample> out;
  for (const auto& c : IntCases(rng, 300)) {
    out.push_back({Col(c), Encoding::kDelta, {}});
    out.push_back({Col(c), Encoding::kPlain, {}});
    out.push_back({Col(c), Encoding::kSegmented, {100, 1, 99, 100}});
  }
  for (const auto& c : FloatCases(rng, 300)) {
    out.push_back({Col(c), Encoding::kDecimal, {}});
    out.push_back({Col(c), Encoding::kGorilla, {}});
    out.push_back({Col(c), Encoding::kSegmented, {100, 1, 99, 100}});
  }
  // Every run kind of kSegmented, in one block each.
  const SegmentedBlock series = ScrapedSeries(rng, 6, 40);
  out.push_back({Col(series.times), Encoding::kSegmented, series.runs});
  out.push_back({Col(series.values), Encoding::kSegmented, series.runs});
  std::vector<std::string> s;
  for (int i = 0; i < 300; ++i) s.push_back(std::to_string(i % 7));
  out.push_back({Column(Strings(s)), Encoding::kDictionary, {}});
  out.push_back({Column(Strings(s)), Encoding::kPlain, {}});
  return out;
}

TEST(CodecErrors, WrongRowCountIsDataLoss) {
  for (const auto& [col, pref, runs] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf, runs);
    Column out;
    auto s = DecodeColumn(buf, TypeOf(col), e, RowCount(col) + 1, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  }
}

TEST(CodecErrors, EveryTruncationIsDataLoss) {
  for (const auto& [col, pref, runs] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf, runs);
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
  for (const auto& [col, pref, runs] : EncodedSamples()) {
    std::string buf;
    const Encoding e = EncodeColumn(col, 0, RowCount(col), pref, &buf, runs);
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
  s = DecodeColumn("", ColumnType::kString, Encoding::kSegmented, 0, &out);
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
