#include "query/memory_series_source.h"

#include <algorithm>

namespace observex::query {
namespace {

class VectorSeriesSet : public SeriesSet {
 public:
  struct Entry {
    Labels labels;
    std::vector<SamplePoint> samples;
  };
  VectorSeriesSet(std::vector<Entry> entries, bool apply_ahead)
      : entries_(std::move(entries)), apply_ahead_(apply_ahead) {}

  bool Next() override {
    if (pos_ + 1 >= static_cast<int64_t>(entries_.size())) {
      pos_ = static_cast<int64_t>(entries_.size());
      return false;
    }
    ++pos_;
    if (transform_ != nullptr) {
      transformed_.clear();
      transform_->Apply(samples(), MayHaveStaleMarkers(), &scratch_, &transformed_);
    }
    return true;
  }
  bool ApplyAhead(std::shared_ptr<const SeriesTransform> t) override {
    if (!apply_ahead_ || pos_ != -1 || t == nullptr) return false;
    transform_ = std::move(t);
    return true;
  }
  absl::Span<const SamplePoint> transformed() const override { return transformed_; }
  const Labels& labels() const override { return entries_[pos_].labels; }
  absl::Span<const SamplePoint> samples() const override { return entries_[pos_].samples; }
  absl::Status status() const override { return absl::OkStatus(); }
  // Answered exactly, so the tests run the engine's path for marker-free series too.
  bool MayHaveStaleMarkers() const override {
    const auto& s = entries_[pos_].samples;
    return std::any_of(s.begin(), s.end(),
                       [](const SamplePoint& p) { return IsStaleNaN(p.value); });
  }

 private:
  std::vector<Entry> entries_;
  int64_t pos_ = -1;
  const bool apply_ahead_;
  std::shared_ptr<const SeriesTransform> transform_;
  std::vector<SamplePoint> transformed_, scratch_;
};

}  // namespace

absl::Status InMemorySeriesSource::Add(const Labels& labels, int64_t t_ms, double value) {
  if (labels.empty()) return absl::InvalidArgumentError("series without labels");
  std::lock_guard<std::mutex> lock(mu_);
  Stored& s = series_[labels.Key()];
  if (s.labels.empty()) s.labels = labels;
  if (!s.samples.empty() && s.samples.back().t_ms >= t_ms) {
    auto it = std::lower_bound(s.samples.begin(), s.samples.end(), t_ms,
                               [](const SamplePoint& p, int64_t t) { return p.t_ms < t; });
    if (it != s.samples.end() && it->t_ms == t_ms) {
      it->value = value;
    } else {
      s.samples.insert(it, SamplePoint{t_ms, value});
    }
    return absl::OkStatus();
  }
  s.samples.push_back(SamplePoint{t_ms, value});
  return absl::OkStatus();
}

void InMemorySeriesSource::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  series_.clear();
}

size_t InMemorySeriesSource::series_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

absl::StatusOr<std::unique_ptr<SeriesSet>> InMemorySeriesSource::Select(
    const std::vector<LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const {
  std::vector<VectorSeriesSet::Entry> out;
  if (!matchers.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, s] : series_) {
      if (!MatchesAll(matchers, s.labels)) continue;
      auto lo = std::lower_bound(s.samples.begin(), s.samples.end(), mint_ms,
                                 [](const SamplePoint& p, int64_t t) { return p.t_ms < t; });
      auto hi = std::upper_bound(lo, s.samples.end(), maxt_ms,
                                 [](int64_t t, const SamplePoint& p) { return t < p.t_ms; });
      if (lo == hi) continue;
      out.push_back({s.labels, std::vector<SamplePoint>(lo, hi)});
    }
  }
  // In label order, as Prometheus's storage returns series (Key() order differs where label
  // names differ).
  std::sort(out.begin(), out.end(),
            [](const VectorSeriesSet::Entry& a, const VectorSeriesSet::Entry& b) {
              return CompareLabels(a.labels, b.labels) < 0;
            });
  return std::unique_ptr<SeriesSet>(
      std::make_unique<VectorSeriesSet>(std::move(out), apply_ahead_));
}

}  // namespace observex::query
