#include "query/series_source.h"

#include <algorithm>
#include <set>

namespace observex::query {
namespace {

// Every series when no matcher is given: a name matcher that accepts any non-empty name.
absl::StatusOr<std::vector<LabelMatcher>> OrEverything(const std::vector<LabelMatcher>& m) {
  if (!m.empty()) return m;
  auto any = LabelMatcher::Create(LabelMatcher::Type::kRegexMatch, std::string(kMetricNameLabel),
                                  ".+");
  if (!any.ok()) return any.status();
  return std::vector<LabelMatcher>{*std::move(any)};
}

}  // namespace

absl::StatusOr<std::vector<Labels>> SeriesSource::Series(const std::vector<LabelMatcher>& matchers,
                                                         int64_t mint_ms, int64_t maxt_ms) const {
  auto effective = OrEverything(matchers);
  if (!effective.ok()) return effective.status();
  auto set = Select(*effective, mint_ms, maxt_ms);
  if (!set.ok()) return set.status();
  std::vector<Labels> out;
  while ((*set)->Next()) out.push_back((*set)->labels());
  if (auto s = (*set)->status(); !s.ok()) return s;
  std::sort(out.begin(), out.end(),
            [](const Labels& a, const Labels& b) { return CompareLabels(a, b) < 0; });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> SeriesSource::LabelNames(
    const std::vector<LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const {
  auto series = Series(matchers, mint_ms, maxt_ms);
  if (!series.ok()) return series.status();
  std::set<std::string> names;
  for (const Labels& l : *series) {
    for (const Label& item : l.items()) names.insert(item.name);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::StatusOr<std::vector<std::string>> SeriesSource::LabelValues(
    std::string_view name, const std::vector<LabelMatcher>& matchers, int64_t mint_ms,
    int64_t maxt_ms) const {
  auto series = Series(matchers, mint_ms, maxt_ms);
  if (!series.ok()) return series.status();
  std::set<std::string> values;
  for (const Labels& l : *series) {
    std::string_view v = l.Get(name);
    if (!v.empty()) values.emplace(v);
  }
  return std::vector<std::string>(values.begin(), values.end());
}

absl::StatusOr<std::vector<MetricMetadata>> SeriesSource::Metadata(std::string_view) const {
  return std::vector<MetricMetadata>{};
}

}  // namespace observex::query
