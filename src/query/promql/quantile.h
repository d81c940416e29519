// Numeric helpers with Prometheus's exact semantics: Kahan-Neumaier summation, the quantile
// of a set of samples (linear interpolation, NaN sorts first), and the classic-histogram
// bucket quantile and fraction (le buckets, +Inf bucket required, monotonicity repaired and
// reported). Pure functions; thread-safe.
#pragma once

#include <cmath>
#include <vector>

namespace observex::query::promql::internal {

// One step of compensated summation: returns the new sum and updates *c. Inline: the
// aggregations call it per input sample.
inline double KahanInc(double inc, double sum, double* c) {
  double t = sum + inc;
  if (std::isinf(t)) {
    *c = 0;
  } else if (std::fabs(sum) >= std::fabs(inc)) {
    *c += (sum - t) + inc;
  } else {
    *c += (inc - t) + sum;
  }
  return t;
}

// q-quantile of `values` (sorted in place). NaN for no values or q NaN, -Inf for q < 0,
// +Inf for q > 1.
double Quantile(double q, std::vector<double>* values);

struct Bucket {
  double upper_bound = 0;
  double count = 0;
};

struct BucketQuantileResult {
  double value = 0;
  bool forced_monotonic = false;
  double min_bucket = 0;
  double max_bucket = 0;
  double max_diff = 0;
};

// histogram_quantile over classic buckets (sorted and coalesced in place).
BucketQuantileResult BucketQuantile(double q, std::vector<Bucket>* buckets);
// histogram_fraction over classic buckets.
double BucketFraction(double lower, double upper, std::vector<Bucket>* buckets);

// Equality up to a relative tolerance (Prometheus's almost.Equal).
bool AlmostEqual(double a, double b, double epsilon);

}  // namespace observex::query::promql::internal
