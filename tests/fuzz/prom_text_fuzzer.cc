// Fuzzes the Prometheus text and OpenMetrics parsers. The first input byte picks the format
// ('o' for OpenMetrics, anything else for Prometheus text 0.0.4); the rest is the text.
// Invariants: no crash or sanitizer report; an error names its place ("line N, column M: ...");
// a parsed batch has non-empty label sets sorted with unique [a-zA-Z_][a-zA-Z0-9_]* names,
// non-empty valid UTF-8 values, a [a-zA-Z_:][a-zA-Z0-9_:]* metric name, its own fingerprint,
// no two series alike and samples strictly increasing in time; nothing read is lost (kept or
// merged as an exact repeat); the batch goes through a remote-write request and back unchanged.
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "metrics/fingerprint.h"
#include "metrics/remote_write.h"
#include "metrics/text_format.h"
#include "query/labels.h"

namespace {

namespace metrics = observex::metrics;
namespace query = observex::query;

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  metrics::TextParseOptions options;
  options.format =
      data[0] == 'o' ? metrics::TextFormat::kOpenMetrics : metrics::TextFormat::kPrometheus;
  options.default_timestamp_ms = 1'700'000'000'000;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto batch = metrics::ParseText(text, options);
  if (!batch.ok()) {
    if (batch.status().message().find("line ") != 0) abort();
    if (batch.status().message().find(", column ") == std::string_view::npos) abort();
    return 0;
  }
  absl::flat_hash_set<std::string> seen;
  uint64_t kept = 0;
  for (const metrics::Series& s : batch->metrics.series) {
    if (s.samples.empty()) abort();
    if (metrics::Fingerprint(s.labels) != s.fingerprint) abort();
    if (!seen.insert(s.labels.Key()).second) abort();
    if (!IsMetricName(s.labels.Get(query::kMetricNameLabel))) abort();
    const auto& items = s.labels.items();
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0 && !(items[i - 1].name < items[i].name)) abort();
      if (!query::IsLegacyLabelName(items[i].name)) abort();
      if (items[i].value.empty() || !query::IsValidUtf8(items[i].value)) abort();
    }
    for (size_t i = 1; i < s.samples.size(); ++i) {
      if (s.samples[i - 1].t_ms >= s.samples[i].t_ms) abort();
    }
    kept += s.samples.size();
  }
  if (kept + batch->stats.duplicate_samples != batch->stats.samples_read) abort();

  auto again = metrics::ParseWriteRequest(metrics::EncodeWriteRequest(*batch));
  if (!again.ok() || again->stats.rejected() != 0 || again->stats.rejected_series != 0) abort();
  if (again->metadata != batch->metadata) abort();
  if (again->metrics.series.size() != batch->metrics.series.size()) abort();
  for (size_t i = 0; i < batch->metrics.series.size(); ++i) {
    const metrics::Series& x = batch->metrics.series[i];
    const metrics::Series& y = again->metrics.series[i];
    if (x.labels != y.labels || x.samples.size() != y.samples.size()) abort();
    for (size_t j = 0; j < x.samples.size(); ++j) {
      if (x.samples[j].t_ms != y.samples[j].t_ms ||
          std::bit_cast<uint64_t>(x.samples[j].value) !=
              std::bit_cast<uint64_t>(y.samples[j].value)) {
        abort();
      }
    }
  }
  return 0;
}
