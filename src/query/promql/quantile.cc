#include "query/promql/quantile.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace observex::query::promql::internal {
namespace {

constexpr double kSmallDeltaTolerance = 1e-12;

void SortBuckets(std::vector<Bucket>* b) {
  std::stable_sort(b->begin(), b->end(),
                   [](const Bucket& x, const Bucket& y) { return x.upper_bound < y.upper_bound; });
}

// Merges buckets with equal upper bounds (input sorted).
void Coalesce(std::vector<Bucket>* b) {
  if (b->empty()) return;
  size_t i = 0;
  Bucket last = (*b)[0];
  for (size_t k = 1; k < b->size(); ++k) {
    if ((*b)[k].upper_bound == last.upper_bound) {
      last.count += (*b)[k].count;
    } else {
      (*b)[i++] = last;
      last = (*b)[k];
    }
  }
  (*b)[i++] = last;
  b->resize(i);
}

// Ignores differences below the tolerance, then removes decreases ("envelope").
void EnsureMonotonic(std::vector<Bucket>* b, BucketQuantileResult* r) {
  r->min_bucket = std::numeric_limits<double>::infinity();
  r->max_bucket = -std::numeric_limits<double>::infinity();
  double prev = (*b)[0].count;
  for (size_t i = 1; i < b->size(); ++i) {
    double curr = (*b)[i].count;
    if (curr == prev) continue;
    if (AlmostEqual(prev, curr, kSmallDeltaTolerance)) {
      (*b)[i].count = prev;
      continue;
    }
    if (curr < prev) {
      (*b)[i].count = prev;
      r->forced_monotonic = true;
      r->min_bucket = std::min(r->min_bucket, (*b)[i].upper_bound);
      r->max_bucket = std::max(r->max_bucket, (*b)[i].upper_bound);
      r->max_diff = std::max(r->max_diff, prev - curr);
      continue;
    }
    prev = curr;
  }
}

}  // namespace

double Quantile(double q, std::vector<double>* values) {
  if (values->empty() || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  // NaN sorts before everything (as "smallest").
  std::stable_sort(values->begin(), values->end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
    return a < b;
  });
  double n = static_cast<double>(values->size());
  double rank = q * (n - 1);
  double lower = std::max(0.0, std::floor(rank));
  double upper = std::min(n - 1, lower + 1);
  double weight = rank - std::floor(rank);
  return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
         (*values)[static_cast<size_t>(upper)] * weight;
}

BucketQuantileResult BucketQuantile(double q, std::vector<Bucket>* buckets) {
  BucketQuantileResult r;
  if (std::isnan(q)) {
    r.value = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  if (q < 0) {
    r.value = -std::numeric_limits<double>::infinity();
    return r;
  }
  if (q > 1) {
    r.value = std::numeric_limits<double>::infinity();
    return r;
  }
  SortBuckets(buckets);
  auto& b = *buckets;
  if (b.empty() || !std::isinf(b.back().upper_bound) || b.back().upper_bound < 0) {
    r.value = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  Coalesce(buckets);
  EnsureMonotonic(buckets, &r);
  if (b.size() < 2) {
    r.value = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double observations = b.back().count;
  if (observations == 0) {
    r.value = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double rank = q * observations;
  // First bucket (excluding +Inf) whose cumulative count reaches the rank.
  size_t idx = b.size() - 1;
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i].count >= rank) {
      idx = i;
      break;
    }
  }
  if (idx == b.size() - 1) {
    r.value = b[b.size() - 2].upper_bound;
  } else if (idx == 0 && b[0].upper_bound <= 0) {
    r.value = b[0].upper_bound;
  } else {
    double start = 0;
    double end = b[idx].upper_bound;
    double count = b[idx].count;
    if (idx > 0) {
      start = b[idx - 1].upper_bound;
      count -= b[idx - 1].count;
      rank -= b[idx - 1].count;
    }
    r.value = start + (end - start) * (rank / count);
  }
  return r;
}

double BucketFraction(double lower, double upper, std::vector<Bucket>* buckets) {
  SortBuckets(buckets);
  auto& b = *buckets;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (b.empty() || !std::isinf(b.back().upper_bound) || b.back().upper_bound < 0) return nan;
  Coalesce(buckets);
  double count = b.back().count;
  if (count == 0 || std::isnan(lower) || std::isnan(upper)) return nan;
  if (lower >= upper) return 0;
  double rank = 0, lower_rank = 0, upper_rank = 0;
  bool lower_set = false, upper_set = false;
  double lower_bound = b[0].upper_bound <= 0 ? -std::numeric_limits<double>::infinity() : 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i > 0) lower_bound = b[i - 1].upper_bound;
    double upper_bound = b[i].upper_bound;
    auto interpolate = [&](double v) {
      // No interpolation inside a bucket of infinite width.
      if (std::isinf(lower_bound) && lower_bound < 0) return b[i].count;
      return rank + (b[i].count - rank) * (v - lower_bound) / (upper_bound - lower_bound);
    };
    if (!lower_set && lower_bound >= lower) {
      lower_rank = rank;
      lower_set = true;
    }
    if (!upper_set && lower_bound >= upper) {
      upper_rank = rank;
      upper_set = true;
    }
    if (lower_set && upper_set) break;
    if (!lower_set && lower_bound < lower && upper_bound > lower) {
      lower_rank = interpolate(lower);
      lower_set = true;
    }
    if (!upper_set && lower_bound < upper && upper_bound > upper) {
      upper_rank = interpolate(upper);
      upper_set = true;
    }
    if (lower_set && upper_set) break;
    rank = b[i].count;
  }
  if (!lower_set || lower_rank > count) lower_rank = count;
  if (!upper_set || upper_rank > count) upper_rank = count;
  return (upper_rank - lower_rank) / count;
}

bool AlmostEqual(double a, double b, double epsilon) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  constexpr double kMinNormal = 2.2250738585072014e-308;
  double abs_sum = std::fabs(a) + std::fabs(b);
  double diff = std::fabs(a - b);
  if (a == 0 || b == 0 || abs_sum < kMinNormal) return diff < epsilon * kMinNormal;
  return diff / std::min(abs_sum, std::numeric_limits<double>::max()) < epsilon;
}

}  // namespace observex::query::promql::internal
