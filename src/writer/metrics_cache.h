// The storage writer's cache from the raw identity of an OTLP gauge or sum data point to its
// series id, so that a request whose points all belong to series seen before becomes sample
// rows without a protobuf parse, without building label sets and without a series index
// look-up (metrics/wire_points.h walks the bytes). The identity of a point is the bytes that
// decide its labels: its tenant, the Resource message, the InstrumentationScope message and
// the scope's schema_url, the metric's name, description, unit and shape, and the point's
// attribute fields. Entries are learned from full conversions (metrics_model.h with a
// ConversionTrace) and are exact: equal bytes give equal labels under the writer's fixed
// conversion options, and keys are compared whole, never by hash alone. Series ids are never
// reused by the index, so an entry stays right for as long as the process runs.
//
// The fast path gives the rows the full conversion gives (same series ids, times and values,
// the last of equal timestamps of a series kept, target_info thinned alike) and the metric
// families to record; it declines (returns false) whenever the full conversion would reject
// a point, when a point, scope or resource is not cached, and for shapes the walk does not
// cover; the caller then converts in full and calls Learn.
//
// Bound: at most `max_points` point identities, plus at most as many resources, scopes and
// metrics; when one table is full the whole cache is dropped and learned again (about 150
// bytes per cached point with typical attributes).
//
// Thread-safety: none; one thread (the storage writer's) uses it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "metrics/metrics_model.h"
#include "metrics/wire_points.h"
#include "storage/column.h"

namespace observex::writer {

class MetricsSeriesCache {
 public:
  MetricsSeriesCache(const metrics::ConvertOptions& options, size_t max_points);

  // Appends a row per sample of `request` to `rows` (a SamplesSchema batch) and the metric
  // families it names (first of a name kept) to `families`, when every data point can be
  // converted from the cache. Returns false otherwise, leaving `rows` and `families` in an
  // unspecified state.
  bool TryConvert(int64_t tenant, std::string_view request, storage::ColumnBatch* rows,
                  std::vector<metrics::MetricFamily>* families);

  // Remembers the identity of every gauge or sum point of `request` that the full conversion
  // described by `trace` turned into a sample; `ids[i]` is the series id of the batch's
  // series i. Requests the wire walk does not cover are ignored.
  void Learn(int64_t tenant, std::string_view request, const metrics::ConversionTrace& trace,
             absl::Span<const int64_t> ids);

  size_t points() const { return points_.size(); }
  void Clear();

 private:
  friend class FastConverter;
  friend class Learner;
  static constexpr uint32_t kNone = metrics::ConversionTrace::kNone;
  static constexpr uint32_t kUndecided = metrics::ConversionTrace::kUndecided;

  struct MetricInfo {
    std::string name;  // the Prometheus name; "" when the metric cannot be named
    metrics::MetricFamily family;
  };
  // A series id and the request that last produced a sample for it (to find repeats).
  struct Slot {
    int64_t id = 0;
    uint32_t stamp = 0;
  };

  // Interning of the request parts: an index, or kNone when unknown and `add` is false.
  uint32_t ResourceIndex(int64_t tenant, std::string_view resource, bool add);
  uint32_t ScopeIndex(std::string_view scope, std::string_view schema_url, bool add);
  uint32_t MetricIndex(const metrics::WireMetric& metric);
  uint32_t SlotFor(int64_t tenant, int64_t id);
  // The key of a point, in `scratch_`.
  absl::string_view PointKey(uint32_t resource, uint32_t scope, uint32_t metric,
                             std::string_view attributes);
  bool Full() const;

  const metrics::ConvertOptions options_;
  const size_t max_points_;
  std::string scratch_;
  absl::flat_hash_map<std::string, uint32_t> resources_;
  std::vector<uint32_t> resource_target_;  // slot of the target_info series, kNone, kUndecided
  absl::flat_hash_map<std::string, uint32_t> scopes_;
  absl::flat_hash_map<std::string, uint32_t> metrics_;
  std::vector<MetricInfo> metric_info_;
  absl::flat_hash_map<std::string, uint32_t> points_;                      // -> slot
  absl::flat_hash_map<std::pair<int64_t, int64_t>, uint32_t> slot_of_id_;  // (tenant, id)
  std::vector<Slot> slots_;
  uint32_t stamp_ = 0;
};

}  // namespace observex::writer
