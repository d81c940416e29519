#include "metrics/exponential.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

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

namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
void PutDouble(std::string* out, double d) {
  char b[8];
  std::memcpy(b, &d, 8);
  out->append(b, 8);
}
void PutBuckets(std::string* out, const ExponentialBuckets& b) {
  PutVarint(out, ZigZag(b.offset));
  PutVarint(out, b.counts.size());
  for (uint64_t c : b.counts) PutVarint(out, c);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : p_(b.data()), end_(b.data() + b.size()) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const uint8_t c = static_cast<uint8_t>(*p_++);
      *v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) return true;
    }
    return false;
  }
  bool Double(double* d) {
    if (end_ - p_ < 8) return false;
    std::memcpy(d, p_, 8);
    p_ += 8;
    return true;
  }
  bool Byte(uint8_t* b) {
    if (p_ >= end_) return false;
    *b = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool Buckets(ExponentialBuckets* b) {
    uint64_t off = 0, n = 0;
    if (!Varint(&off) || !Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    const int64_t o = UnZigZag(off);
    if (o < INT32_MIN || o > INT32_MAX) return false;
    b->offset = static_cast<int32_t>(o);
    b->counts.resize(n);
    for (auto& c : b->counts) {
      if (!Varint(&c)) return false;
    }
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace

std::string EncodeExponentialPoint(const ExponentialHistogramPoint& p) {
  std::string out;
  out.push_back(1);
  uint8_t flags = 0;
  if (p.stale) flags |= 1;
  if (p.sum) flags |= 2;
  if (p.min) flags |= 4;
  if (p.max) flags |= 8;
  out.push_back(static_cast<char>(flags));
  PutVarint(&out, ZigZag(p.scale));
  PutVarint(&out, p.count);
  PutVarint(&out, ZigZag(p.start_t_ms == 0 ? p.t_ms + 1 : p.t_ms - p.start_t_ms));
  if (p.sum) PutDouble(&out, *p.sum);
  if (p.min) PutDouble(&out, *p.min);
  if (p.max) PutDouble(&out, *p.max);
  PutDouble(&out, p.zero_threshold);
  PutVarint(&out, p.zero_count);
  PutBuckets(&out, p.positive);
  PutBuckets(&out, p.negative);
  return out;
}

absl::StatusOr<ExponentialHistogramPoint> DecodeExponentialPoint(std::string_view bytes,
                                                                 int64_t t_ms) {
  const auto bad = [](std::string_view what) {
    return absl::DataLossError(
        absl::StrCat("stored exponential histogram point: bad ", std::string(what)));
  };
  Reader r(bytes);
  ExponentialHistogramPoint p;
  p.t_ms = t_ms;
  uint8_t version = 0, flags = 0;
  if (!r.Byte(&version) || version != 1) return bad("version");
  if (!r.Byte(&flags) || flags > 15) return bad("flags");
  uint64_t scale = 0, since = 0;
  if (!r.Varint(&scale)) return bad("scale");
  const int64_t s = UnZigZag(scale);
  if (s < kMinExponentialScale || s > kMaxExponentialScale) return bad("scale");
  p.scale = static_cast<int32_t>(s);
  if (!r.Varint(&p.count)) return bad("count");
  if (!r.Varint(&since)) return bad("start time");
  const int64_t d = UnZigZag(since);
  p.start_t_ms = d == t_ms + 1 ? 0 : t_ms - d;
  p.stale = flags & 1;
  double v = 0;
  if (flags & 2) {
    if (!r.Double(&v)) return bad("sum");
    p.sum = v;
  }
  if (flags & 4) {
    if (!r.Double(&v)) return bad("min");
    p.min = v;
  }
  if (flags & 8) {
    if (!r.Double(&v)) return bad("max");
    p.max = v;
  }
  if (!r.Double(&p.zero_threshold)) return bad("zero threshold");
  if (!r.Varint(&p.zero_count)) return bad("zero count");
  if (!r.Buckets(&p.positive)) return bad("positive buckets");
  if (!r.Buckets(&p.negative)) return bad("negative buckets");
  if (!r.done()) return bad("trailing bytes");
  return p;
}

}  // namespace observex::metrics
