// OpenTelemetry exponential histograms: the stored form of one data point, and its conversion
// to classic cumulative buckets (`le`) for PromQL, which has no native histograms yet.
//
// At scale s the base is 2^(2^-s); positive bucket with index i counts values in
// (base^i, base^(i+1)], negative bucket i counts values in [-base^(i+1), -base^i), and the
// zero bucket counts values in [-zero_threshold, zero_threshold]. Lowering the scale by one
// merges each pair of neighbouring buckets (index i becomes i >> 1), which loses resolution but
// never misplaces a count. Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace observex::metrics {

// OTLP allows scales from -10 (base 2^1024) to 20 (base 2^(2^-20)).
inline constexpr int32_t kMinExponentialScale = -10;
inline constexpr int32_t kMaxExponentialScale = 20;

struct ExponentialBuckets {
  int32_t offset = 0;            // index of counts[0]
  std::vector<uint64_t> counts;  // per bucket, not cumulative
  friend bool operator==(const ExponentialBuckets&, const ExponentialBuckets&) = default;
};

// One exponential histogram data point as received (scale and buckets unchanged).
struct ExponentialHistogramPoint {
  int64_t t_ms = 0;
  int64_t start_t_ms = 0;  // 0 when the sender did not set it
  // NO_RECORDED_VALUE: the series has ended (a staleness marker); the other fields carry
  // nothing.
  bool stale = false;
  int32_t scale = 0;
  uint64_t count = 0;
  std::optional<double> sum;
  std::optional<double> min;
  std::optional<double> max;
  double zero_threshold = 0;
  uint64_t zero_count = 0;
  ExponentialBuckets positive;
  ExponentialBuckets negative;
  friend bool operator==(const ExponentialHistogramPoint&,
                         const ExponentialHistogramPoint&) = default;
};

// base^(index+1) at `scale` (the inclusive upper bound of positive bucket `index`); +Inf or 0
// when that is outside the range of a double. `scale` is clamped to the OTLP range.
double ExponentialUpperBound(int32_t scale, int64_t index);

// The same counts at `scale - by` (by >= 0): bucket i goes to i >> by.
ExponentialBuckets DownscaleBuckets(const ExponentialBuckets& buckets, int32_t by);

struct ClassicBucket {
  double upper_bound = 0;         // `le`
  uint64_t cumulative_count = 0;  // observations <= upper_bound
  friend bool operator==(const ClassicBucket&, const ClassicBucket&) = default;
};

// Classic buckets for `point` after lowering its scale to at most `max_scale`: negative
// buckets (upper bound -base^i), the zero bucket (upper bound zero_threshold; only when
// zero_count > 0), positive buckets (upper bound base^(i+1)), and last +Inf with `count`.
// Upper bounds strictly increase: a bucket whose bound does not exceed the previous one (a
// positive bucket inside the zero threshold, or bounds beyond the range of a double) is folded
// into the previous bucket. Expects a point whose bucket counts and zero count sum to `count`.
std::vector<ClassicBucket> ToClassicBuckets(const ExponentialHistogramPoint& point,
                                            int32_t max_scale);

// The stored form of a point (the exp_histograms table's `point` column): everything but
// t_ms, which the table's time column holds. Layout (docs/metrics-model.md): u8 version 1 |
// u8 flags (1 stale, 2 sum, 4 min, 8 max) | zigzag varint scale | varint count | varint
// zigzag (t_ms - start_t_ms, or t_ms + 1 when start is 0) | the present f64 of sum, min,
// max | f64 zero_threshold | varint zero_count | positive, negative buckets (zigzag varint
// offset, varint n, n varint counts).
std::string EncodeExponentialPoint(const ExponentialHistogramPoint& point);
// DataLoss naming the field when the bytes are not a point EncodeExponentialPoint wrote.
absl::StatusOr<ExponentialHistogramPoint> DecodeExponentialPoint(std::string_view bytes,
                                                                 int64_t t_ms);

}  // namespace observex::metrics
