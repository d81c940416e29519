#include "metrics/exponential.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace observex::metrics {
namespace {

// Exponents past these give 0 or +Inf from ldexp anyway; clamping keeps the int conversion
// defined for any index.
constexpr int64_t kExponentLimit = 1 << 22;
// Indices that far out are past the range of a double at every scale; clamping keeps the
// arithmetic below in range.
constexpr int64_t kIndexLimit = int64_t{1} << 40;

int ClampExponent(int64_t e) {
  return static_cast<int>(std::clamp<int64_t>(e, -kExponentLimit, kExponentLimit));
}

}  // namespace

double ExponentialUpperBound(int32_t scale, int64_t index) {
  scale = std::clamp(scale, kMinExponentialScale, kMaxExponentialScale);
  // |k| beyond the limit only moves the exponent further past the range of a double.
  const int64_t k = std::clamp<int64_t>(index, -kIndexLimit, kIndexLimit) + 1;
  if (scale <= 0) {
    // base = 2^(2^-scale): an integer power of two, exact.
    return std::ldexp(1.0, ClampExponent(k * (int64_t{1} << -scale)));
  }
  // 2^(k / 2^scale) = 2^q * 2^(r / 2^scale), with the fraction in [1, 2).
  const int64_t q = k >> scale;  // floor division, also for negative k
  const int64_t r = k - q * (int64_t{1} << scale);
  const double frac = std::exp2(static_cast<double>(r) / static_cast<double>(int64_t{1} << scale));
  return std::ldexp(frac, ClampExponent(q));
}

ExponentialBuckets DownscaleBuckets(const ExponentialBuckets& buckets, int32_t by) {
  if (by <= 0 || buckets.counts.empty()) return buckets;
  by = std::min(by, 62);
  const int64_t first = int64_t{buckets.offset};
  const int64_t last = first + static_cast<int64_t>(buckets.counts.size()) - 1;
  const int64_t new_first = first >> by;
  const int64_t new_last = last >> by;
  ExponentialBuckets out;
  out.offset = static_cast<int32_t>(new_first);  // |new_first| <= |first|
  out.counts.assign(static_cast<size_t>(new_last - new_first + 1), 0);
  for (size_t i = 0; i < buckets.counts.size(); ++i) {
    const int64_t index = (first + static_cast<int64_t>(i)) >> by;
    out.counts[static_cast<size_t>(index - new_first)] += buckets.counts[i];
  }
  return out;
}

std::vector<ClassicBucket> ToClassicBuckets(const ExponentialHistogramPoint& point,
                                            int32_t max_scale) {
  const int32_t by = std::max(0, point.scale - max_scale);
  const int32_t scale = point.scale - by;
  const ExponentialBuckets positive = DownscaleBuckets(point.positive, by);
  const ExponentialBuckets negative = DownscaleBuckets(point.negative, by);

  std::vector<ClassicBucket> out;
  out.reserve(positive.counts.size() + negative.counts.size() + 2);
  uint64_t running = 0;
  auto add = [&](double bound, uint64_t count) {
    running += count;
    if (std::isnan(bound) || std::isinf(bound)) return;  // counted in a later bucket or +Inf
    if (bound == 0) bound = 0;                           // no "-0" bucket
    if (!out.empty() && bound <= out.back().upper_bound) {
      out.back().cumulative_count = running;
    } else {
      out.push_back(ClassicBucket{bound, running});
    }
  };
  for (size_t i = negative.counts.size(); i-- > 0;) {
    const int64_t index = int64_t{negative.offset} + static_cast<int64_t>(i);
    add(-ExponentialUpperBound(scale, index - 1), negative.counts[i]);
  }
  if (point.zero_count > 0) add(point.zero_threshold, point.zero_count);
  for (size_t i = 0; i < positive.counts.size(); ++i) {
    add(ExponentialUpperBound(scale, int64_t{positive.offset} + static_cast<int64_t>(i)),
        positive.counts[i]);
  }
  out.push_back(ClassicBucket{std::numeric_limits<double>::infinity(), point.count});
  return out;
}

}  // namespace observex::metrics
