// The read interface the query engines use to fetch metric samples. A SeriesSource answers
// one question: which series match these label matchers, and what are their samples within
// [mint, maxt] (inclusive, milliseconds since the epoch)? The in-memory implementation serves
// tests and the conformance runner; the storage engine implements the same interface.
//
// A source is already scoped to one tenant: whoever hands it to an engine has resolved the
// tenant from authentication, and nothing in a query can widen that scope.
//
// Samples are float values; the Prometheus staleness marker is the NaN with bit pattern
// kStaleNaNBits and is returned like any other sample (the engine interprets it). Sources that
// hold data they cannot express as floats (native histograms) fail the Select with
// kUnimplemented and a message naming the feature.
//
// Thread-safety: Select may be called concurrently; each returned SeriesSet is used by one
// thread at a time.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "query/labels.h"

namespace observex::query {

inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;

inline double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

struct SamplePoint {
  int64_t t_ms = 0;
  double value = 0;
};

// A per-series computation that a SeriesSet may run ahead of the reader, on the threads that
// decode its samples, so that the reader receives each series' result along with it (the
// PromQL engine passes its rate/increase/delta windows). Apply is const and is called
// concurrently for different series: it must not touch state shared with anything else.
class SeriesTransform {
 public:
  virtual ~SeriesTransform() = default;
  // Appends the result for one series' samples to *out. `may_have_stale_markers` is what
  // SeriesSet::MayHaveStaleMarkers says of them; `scratch` is the calling thread's buffer.
  virtual void Apply(absl::Span<const SamplePoint> samples, bool may_have_stale_markers,
                     std::vector<SamplePoint>* scratch, std::vector<SamplePoint>* out) const = 0;
};

// Iterates the selected series. Usage: while (set->Next()) { set->labels(); set->samples(); }
// then check status().
class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  // Advances to the next series; false at the end or on error.
  virtual bool Next() = 0;
  // Labels of the current series (including __name__).
  virtual const Labels& labels() const = 0;
  // Samples of the current series within the selected range, strictly increasing in time.
  // Valid until the next call to Next().
  virtual absl::Span<const SamplePoint> samples() const = 0;
  // OK after a clean end of iteration, else why iteration stopped.
  virtual absl::Status status() const = 0;
  // False promises that samples() of the current series holds no staleness marker, so a
  // reader need not filter them; true when it may (the default, for sources that do not
  // know).
  virtual bool MayHaveStaleMarkers() const { return true; }
  // Offers `t` to be applied to every series before the first Next(). True when the set
  // applies it: transformed() then holds the current series' result, and samples() is still
  // valid. False (the default, and after the first Next()) when the reader must apply it.
  virtual bool ApplyAhead(std::shared_ptr<const SeriesTransform> t) { return false; }
  // The current series' result of the transform ApplyAhead accepted; valid until Next().
  virtual absl::Span<const SamplePoint> transformed() const { return {}; }
};

// Metadata of one metric family, as the Prometheus metadata API reports it.
struct MetricMetadata {
  std::string metric;  // family name as stored, e.g. "http_server_duration_seconds"
  std::string type;    // "counter", "gauge", "histogram", "summary", "unknown"
  std::string help;
  std::string unit;
};

class SeriesSource {
 public:
  virtual ~SeriesSource() = default;
  // Every series matching all matchers that has at least one sample in [mint_ms, maxt_ms].
  // Order of series is unspecified. An empty matcher list selects nothing.
  virtual absl::StatusOr<std::unique_ptr<SeriesSet>> Select(
      const std::vector<LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const = 0;

  // Look-ups that need no samples (the series, labels and label values APIs). A source with
  // an index answers them from it and may include series whose samples lie near but outside
  // the range (Prometheus does the same at block granularity); the defaults select and read
  // samples. Results are sorted (series by CompareLabels) and unique. An empty matcher list
  // means every series.
  virtual absl::StatusOr<std::vector<Labels>> Series(const std::vector<LabelMatcher>& matchers,
                                                     int64_t mint_ms, int64_t maxt_ms) const;
  virtual absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const;
  virtual absl::StatusOr<std::vector<std::string>> LabelValues(
      std::string_view name, const std::vector<LabelMatcher>& matchers, int64_t mint_ms,
      int64_t maxt_ms) const;
  // Families known to the source, sorted by name; empty `metric` means all. Default: none.
  virtual absl::StatusOr<std::vector<MetricMetadata>> Metadata(std::string_view metric) const;

  // Why results read so far may be incomplete (a quarantined part, say), for the API's
  // `warnings`; empty when complete.
  virtual std::vector<std::string> Warnings() const { return {}; }
};

}  // namespace observex::query
