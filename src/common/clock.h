// Wall-clock and monotonic time helpers in the units the wire formats use.
#pragma once

#include <cstdint>
#include <string>

namespace observex {

// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
int64_t NowUnixNanos();
// Nanoseconds from an arbitrary fixed point (CLOCK_MONOTONIC), for durations.
int64_t MonotonicNanos();
// RFC 3339 with nanoseconds, UTC ("2026-11-25T19:28:58.123456789Z").
std::string FormatRfc3339Nanos(int64_t unix_nanos);

}  // namespace observex
