#include "common/clock.h"

#include "gtest/gtest.h"

namespace observex {
namespace {

TEST(ClockTest, FormatsRfc3339WithNanos) {
  EXPECT_EQ(FormatRfc3339Nanos(1544712660300000001), "2018-12-13T14:51:00.300000001Z");
  EXPECT_EQ(FormatRfc3339Nanos(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(FormatRfc3339Nanos(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(ClockTest, MonotonicAdvances) {
  int64_t a = MonotonicNanos();
  int64_t b = MonotonicNanos();
  EXPECT_LE(a, b);
  EXPECT_GT(NowUnixNanos(), 1'700'000'000'000'000'000);
}

}  // namespace
}  // namespace observex
