// Test helper: two PromQL results are the same to the bit — type, series in order with their
// labels, every point's time and the bit pattern of its value (so NaN payloads and -0 count).
// Used where two evaluation paths over the same samples must agree exactly.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string_view>

#include "query/promql/engine.h"

namespace observex::query::promql {

inline void ExpectSameResult(const QueryResult& got, const QueryResult& want, std::string_view q) {
  ASSERT_EQ(got.type, want.type) << q;
  ASSERT_EQ(got.series.size(), want.series.size()) << q;
  for (size_t i = 0; i < want.series.size(); ++i) {
    const auto& g = got.series[i];
    const auto& w = want.series[i];
    ASSERT_EQ(g.labels.String(), w.labels.String()) << q;
    ASSERT_EQ(g.points.size(), w.points.size()) << q << " " << w.labels.String();
    for (size_t r = 0; r < w.points.size(); ++r) {
      ASSERT_EQ(g.points[r].t_ms, w.points[r].t_ms) << q << " " << w.labels.String();
      ASSERT_EQ(std::bit_cast<uint64_t>(g.points[r].value),
                std::bit_cast<uint64_t>(w.points[r].value))
          << q << " " << w.labels.String() << " at " << w.points[r].t_ms;
    }
  }
}

}  // namespace observex::query::promql
