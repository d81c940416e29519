// Fuzzes the remote-write reader: the input is an uncompressed WriteRequest.
// Invariants: no crash or sanitizer report; a parsed batch keeps the metrics model's promises
// (every label set non-empty, sorted with unique valid UTF-8 names and non-empty valid UTF-8
// values, a non-empty __name__, its own fingerprint, no two series alike, samples strictly
// increasing in time); every sample read is kept, merged as a repeat or counted as rejected; a
// rejection message exists exactly when something was rejected; encoding the batch and parsing
// it again gives the same series (values bit for bit), the same metadata and no rejection, and
// encoding that gives the same bytes.
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "metrics/fingerprint.h"
#include "metrics/remote_write.h"
#include "query/labels.h"

namespace {

namespace metrics = observex::metrics;
namespace query = observex::query;

void CheckSeries(const metrics::PromBatch& b) {
  absl::flat_hash_set<std::string> seen;
  for (const metrics::Series& s : b.metrics.series) {
    if (s.labels.empty() || s.samples.empty()) abort();
    if (metrics::Fingerprint(s.labels) != s.fingerprint) abort();
    if (!seen.insert(s.labels.Key()).second) abort();
    if (s.labels.Get(query::kMetricNameLabel).empty()) abort();
    const auto& items = s.labels.items();
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0 && !(items[i - 1].name < items[i].name)) abort();
      if (!query::IsValidLabelName(items[i].name)) abort();
      if (items[i].value.empty() || !query::IsValidUtf8(items[i].value)) abort();
    }
    for (size_t i = 1; i < s.samples.size(); ++i) {
      if (s.samples[i - 1].t_ms >= s.samples[i].t_ms) abort();
    }
  }
}

bool SameSeries(const metrics::PromBatch& a, const metrics::PromBatch& b) {
  if (a.metrics.series.size() != b.metrics.series.size()) return false;
  for (size_t i = 0; i < a.metrics.series.size(); ++i) {
    const metrics::Series& x = a.metrics.series[i];
    const metrics::Series& y = b.metrics.series[i];
    if (x.labels != y.labels || x.fingerprint != y.fingerprint) return false;
    if (x.samples.size() != y.samples.size()) return false;
    for (size_t j = 0; j < x.samples.size(); ++j) {
      if (x.samples[j].t_ms != y.samples[j].t_ms ||
          std::bit_cast<uint64_t>(x.samples[j].value) !=
              std::bit_cast<uint64_t>(y.samples[j].value)) {
        return false;
      }
    }
  }
  return a.metadata == b.metadata;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto batch = metrics::ParseWriteRequest(bytes);
  if (!batch.ok()) {
    if (batch.status().message().find("invalid WriteRequest at byte ") != 0) abort();
    return 0;
  }
  CheckSeries(*batch);
  const metrics::PromStats& st = batch->stats;
  if (batch->sample_count() + st.rejected_samples + st.duplicate_samples != st.samples_read)
    abort();
  if ((st.rejected() > 0 || st.rejected_series > 0) == st.first_rejection.empty()) abort();

  const std::string encoded = metrics::EncodeWriteRequest(*batch);
  auto again = metrics::ParseWriteRequest(encoded);
  if (!again.ok()) abort();
  if (again->stats.rejected() != 0 || again->stats.rejected_series != 0) abort();
  if (again->stats.duplicate_samples != 0) abort();
  if (!SameSeries(*batch, *again)) abort();
  if (metrics::EncodeWriteRequest(*again) != encoded) abort();
  return 0;
}
