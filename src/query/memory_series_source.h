// In-memory SeriesSource: a map from label set to a time-ordered sample vector. Used by unit
// tests and the PromQL conformance runner, and as the reference behaviour storage must match.
// Bounded only by what the caller loads; it is not meant for production data.
//
// Thread-safety: Add/Clear and Select may be called from different threads; a mutex guards the
// map, and a SeriesSet holds a snapshot copy of the series it returns.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "query/series_source.h"

namespace observex::query {

class InMemorySeriesSource : public SeriesSource {
 public:
  // Appends a sample. Samples of one series must be added in increasing time order; a sample
  // at an existing timestamp replaces the old value. Fails on an empty label set.
  absl::Status Add(const Labels& labels, int64_t t_ms, double value);
  void Clear();
  size_t series_count() const;
  // Whether its series sets accept SeriesSet::ApplyAhead (applying the transform in Next()),
  // so that tests can run a reader's ahead path and its own path on the same data. Off by
  // default.
  void set_apply_ahead(bool on) { apply_ahead_ = on; }

  // Series in label order (CompareLabels), as Prometheus's storage returns them.
  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<LabelMatcher>& matchers,
                                                    int64_t mint_ms,
                                                    int64_t maxt_ms) const override;

 private:
  struct Stored {
    Labels labels;
    std::vector<SamplePoint> samples;
  };
  bool apply_ahead_ = false;
  mutable std::mutex mu_;
  std::map<std::string, Stored> series_;  // keyed by Labels::Key()
};

}  // namespace observex::query
