// Test helpers: two PromQL results are the same to the bit — type, series in order with their
// labels, every point's time and the bit pattern of its value (so NaN payloads and -0 count).
// Used where two evaluation paths over the same samples must agree exactly. Or the same but
// for float rounding: values within a relative tolerance (NaN matches NaN, infinities match
// exactly), for paths that may add the same values in another order.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "query/promql/engine.h"

namespace observex::query::promql {

// Compares type, series, labels and times; calls same_value(got, want) -> AssertionResult for
// every pair of values.
template <typename SameValue>
void ExpectResultsAlike(const QueryResult& got, const QueryResult& want, std::string_view q,
                        SameValue same_value) {
  ASSERT_EQ(got.type, want.type) << q;
  ASSERT_EQ(got.series.size(), want.series.size()) << q;
  for (size_t i = 0; i < want.series.size(); ++i) {
    const auto& g = got.series[i];
    const auto& w = want.series[i];
    ASSERT_EQ(g.labels.String(), w.labels.String()) << q;
    ASSERT_EQ(g.points.size(), w.points.size()) << q << " " << w.labels.String();
    for (size_t r = 0; r < w.points.size(); ++r) {
      ASSERT_EQ(g.points[r].t_ms, w.points[r].t_ms) << q << " " << w.labels.String();
      ASSERT_TRUE(same_value(g.points[r].value, w.points[r].value))
          << q << " " << w.labels.String() << " at " << w.points[r].t_ms;
    }
  }
}

inline void ExpectSameResult(const QueryResult& got, const QueryResult& want, std::string_view q) {
  ExpectResultsAlike(got, want, q, [](double a, double b) -> ::testing::AssertionResult {
    if (std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "bits " << std::bit_cast<uint64_t>(a) << " vs " << std::bit_cast<uint64_t>(b) << " ("
           << a << " vs " << b << ")";
  });
}

inline void ExpectCloseResult(const QueryResult& got, const QueryResult& want, std::string_view q,
                              double relative = 1e-12) {
  ExpectResultsAlike(got, want, q, [relative](double a, double b) -> ::testing::AssertionResult {
    const bool ok = std::isnan(b) || std::isinf(b)
                        ? (std::isnan(a) == std::isnan(b) && (!std::isinf(b) || a == b))
                        : std::abs(a - b) <= relative * std::max(std::abs(a), std::abs(b));
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << a << " vs " << b << " (relative tolerance " << relative << ")";
  });
}

}  // namespace observex::query::promql
