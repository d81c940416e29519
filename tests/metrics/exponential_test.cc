// Exponential bucket boundaries, downscaling and the classic-bucket conversion.
#include "metrics/exponential.h"

#include <cmath>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace observex::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ExponentialUpperBound, PowersOfTheBase) {
  EXPECT_EQ(ExponentialUpperBound(0, -1), 1.0);
  EXPECT_EQ(ExponentialUpperBound(0, 0), 2.0);
  EXPECT_EQ(ExponentialUpperBound(0, 1), 4.0);
  EXPECT_EQ(ExponentialUpperBound(0, -3), 0.25);
  EXPECT_EQ(ExponentialUpperBound(1, 0), std::sqrt(2.0));
  EXPECT_EQ(ExponentialUpperBound(1, 1), 2.0);
  EXPECT_EQ(ExponentialUpperBound(1, -2), std::sqrt(2.0) / 2);
  EXPECT_EQ(ExponentialUpperBound(-1, 0), 4.0);
  EXPECT_EQ(ExponentialUpperBound(-1, 1), 16.0);
  EXPECT_EQ(ExponentialUpperBound(3, 7), 2.0);
  EXPECT_EQ(ExponentialUpperBound(20, (1 << 20) - 1), 2.0);
  EXPECT_EQ(ExponentialUpperBound(20, -(1 << 20) - 1), 0.5);
  EXPECT_EQ(ExponentialUpperBound(-10, -1), 1.0);
  EXPECT_EQ(ExponentialUpperBound(-10, 0), kInf);  // 2^1024
  EXPECT_EQ(ExponentialUpperBound(-10, -2), std::ldexp(1.0, -1024));
  EXPECT_EQ(ExponentialUpperBound(-10, -3), 0.0);
  EXPECT_EQ(ExponentialUpperBound(0, int64_t{1} << 50), kInf);
  EXPECT_EQ(ExponentialUpperBound(0, -(int64_t{1} << 50)), 0.0);
  for (int scale = 1; scale <= 8; ++scale) {
    for (int64_t index = -300; index <= 300; ++index) {
      double want = std::pow(2.0, static_cast<double>(index + 1) / std::ldexp(1.0, scale));
      EXPECT_NEAR(ExponentialUpperBound(scale, index), want, want * 1e-15)
          << "scale " << scale << " index " << index;
      EXPECT_LT(ExponentialUpperBound(scale, index), ExponentialUpperBound(scale, index + 1));
    }
  }
}

TEST(DownscaleBuckets, MergesNeighbours) {
  EXPECT_EQ(DownscaleBuckets({1, {0, 2}}, 1), (ExponentialBuckets{0, {0, 2}}));
  // Indices -3..0 -> -2, -1, -1, 0.
  EXPECT_EQ(DownscaleBuckets({-3, {1, 2, 3, 4}}, 1), (ExponentialBuckets{-2, {1, 5, 4}}));
  EXPECT_EQ(DownscaleBuckets({-3, {1, 2, 3, 4}}, 2), (ExponentialBuckets{-1, {6, 4}}));
  EXPECT_EQ(DownscaleBuckets({5, {1, 1}}, 0), (ExponentialBuckets{5, {1, 1}}));
  EXPECT_EQ(DownscaleBuckets({5, {}}, 3), (ExponentialBuckets{5, {}}));
  EXPECT_EQ(DownscaleBuckets({7, {1, 2, 3}}, 40), (ExponentialBuckets{0, {6}}));
}

ExponentialHistogramPoint Point(int32_t scale, uint64_t zero_count, double zero_threshold,
                                ExponentialBuckets positive, ExponentialBuckets negative = {}) {
  ExponentialHistogramPoint p;
  p.scale = scale;
  p.zero_count = zero_count;
  p.zero_threshold = zero_threshold;
  p.count = zero_count;
  for (uint64_t c : positive.counts) p.count += c;
  for (uint64_t c : negative.counts) p.count += c;
  p.positive = std::move(positive);
  p.negative = std::move(negative);
  return p;
}

using Buckets = std::vector<ClassicBucket>;

TEST(ToClassicBuckets, PositiveAndZeroBuckets) {
  // The official OTLP example: scale 0, one zero, two values in (4, 8].
  EXPECT_EQ(ToClassicBuckets(Point(0, 1, 0, {1, {0, 2}}), 3),
            (Buckets{{0, 1}, {4, 1}, {8, 3}, {kInf, 3}}));
  // No zero bucket when it is empty.
  EXPECT_EQ(ToClassicBuckets(Point(0, 0, 0, {0, {5}}), 3), (Buckets{{2, 5}, {kInf, 5}}));
  // Only a count.
  EXPECT_EQ(ToClassicBuckets(Point(0, 0, 0, {}), 3), (Buckets{{kInf, 0}}));
}

TEST(ToClassicBuckets, NegativeBucketsComeFirst) {
  // negative index 1 = [-4, -2), index 0 = [-2, -1); zero bucket [-0.5, 0.5]; positive (1, 2].
  EXPECT_EQ(ToClassicBuckets(Point(0, 1, 0.5, {0, {3}}, {0, {1, 2}}), 3),
            (Buckets{{-2, 2}, {-1, 3}, {0.5, 4}, {2, 7}, {kInf, 7}}));
}

TEST(ToClassicBuckets, BucketsInsideTheZeroThresholdFold) {
  // Positive bounds 2 and 4; the zero threshold 3 swallows the first.
  EXPECT_EQ(ToClassicBuckets(Point(0, 1, 3, {0, {1, 1}}), 3), (Buckets{{3, 2}, {4, 3}, {kInf, 3}}));
}

TEST(ToClassicBuckets, DownscalesToMaxScale) {
  // Scale 1 bounds sqrt2, 2, 2sqrt2, 4 become scale 0 bounds 2, 4.
  EXPECT_EQ(ToClassicBuckets(Point(1, 0, 0, {0, {1, 2, 3, 4}}), 0),
            (Buckets{{2, 3}, {4, 10}, {kInf, 10}}));
  // A scale below the maximum is kept.
  EXPECT_EQ(ToClassicBuckets(Point(-1, 0, 0, {0, {1}}), 3), (Buckets{{4, 1}, {kInf, 1}}));
}

TEST(ToClassicBuckets, BoundsBeyondDoubleRange) {
  // 2^1024 overflows: that bucket is only in +Inf.
  EXPECT_EQ(ToClassicBuckets(Point(-10, 0, 0, {-1, {1, 1}}), 3),
            (Buckets{{std::ldexp(1.0, 0), 1}, {kInf, 2}}));
  // Negative buckets beyond the range fold into the next finite bound.
  EXPECT_EQ(ToClassicBuckets(Point(-10, 0, 0, {}, {0, {1, 1}}), 3), (Buckets{{-1, 2}, {kInf, 2}}));
}

TEST(ToClassicBuckets, RandomPointsGiveIncreasingBoundsAndCounts) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    std::uniform_int_distribution<int> scale_d(kMinExponentialScale, kMaxExponentialScale);
    std::uniform_int_distribution<int> offset_d(-2000, 2000);
    std::uniform_int_distribution<int> len_d(0, 40);
    std::uniform_int_distribution<uint64_t> count_d(0, 5);
    auto buckets = [&] {
      ExponentialBuckets b{offset_d(rng), {}};
      for (int n = len_d(rng); n > 0; --n) b.counts.push_back(count_d(rng));
      return b;
    };
    const double thresholds[] = {0, 1e-9, 0.5, 3, 1e6};
    ExponentialHistogramPoint p =
        Point(scale_d(rng), count_d(rng), thresholds[rng() % 5], buckets(), buckets());
    const int32_t max_scale = scale_d(rng);
    Buckets out = ToClassicBuckets(p, max_scale);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().upper_bound, kInf);
    EXPECT_EQ(out.back().cumulative_count, p.count);
    for (size_t i = 1; i < out.size(); ++i) {
      EXPECT_LT(out[i - 1].upper_bound, out[i].upper_bound) << iter;
      EXPECT_LE(out[i - 1].cumulative_count, out[i].cumulative_count) << iter;
    }
    for (const ClassicBucket& b : out) {
      EXPECT_FALSE(std::isnan(b.upper_bound));
      EXPECT_FALSE(std::signbit(b.upper_bound) && b.upper_bound == 0);
    }
  }
}

}  // namespace
}  // namespace observex::metrics

namespace observex::metrics {
namespace {

TEST(ExponentialPointStorage, RoundTripsEveryField) {
  ExponentialHistogramPoint p;
  p.t_ms = 1'700'000'000'123;
  p.start_t_ms = 1'699'999'000'000;
  p.scale = -3;
  p.count = 17;
  p.sum = -0.0;
  p.min = -12.5;
  p.max = std::numeric_limits<double>::infinity();
  p.zero_threshold = 1e-9;
  p.zero_count = 2;
  p.positive = {-4, {1, 0, 7, 3}};
  p.negative = {2, {4}};
  auto back = DecodeExponentialPoint(EncodeExponentialPoint(p), p.t_ms);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, p);
  EXPECT_TRUE(std::signbit(*back->sum));

  ExponentialHistogramPoint bare;  // no start time, no sum/min/max, empty buckets, stale
  bare.t_ms = 5;
  bare.stale = true;
  back = DecodeExponentialPoint(EncodeExponentialPoint(bare), bare.t_ms);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, bare);
}

TEST(ExponentialPointStorage, DamagedBytesAreDataLossNeverACrash) {
  ExponentialHistogramPoint p;
  p.t_ms = 1000;
  p.scale = 3;
  p.count = 3;
  p.sum = 4.5;
  p.positive = {0, {1, 2}};
  const std::string good = EncodeExponentialPoint(p);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    auto r = DecodeExponentialPoint(good.substr(0, cut), p.t_ms);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
  }
  EXPECT_EQ(DecodeExponentialPoint(good + "x", p.t_ms).status().code(),
            absl::StatusCode::kDataLoss);
  std::string bad_version = good;
  bad_version[0] = 9;
  EXPECT_EQ(DecodeExponentialPoint(bad_version, p.t_ms).status().code(),
            absl::StatusCode::kDataLoss);
  std::string bad_scale = good;
  bad_scale[2] = 100;  // zigzag 50: beyond the OTLP range
  EXPECT_EQ(DecodeExponentialPoint(bad_scale, p.t_ms).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace observex::metrics
