// One tenant's series index: label set -> series id (sequential from 1), label=value ->
// postings (ids ascending), the UTC days each series has samples in, and metric family
// metadata. PromQL matchers resolve to ids here before any sample block is read.
//
// Durability: the index is an append-only log file of checksummed records (a series and its
// labels, a (series, day) pair, a metadata entry). Records are written as they are created
// and made durable by Sync(), which the engine calls before it writes a samples part, so a
// part on disk never names a series the log lost. Opening replays the log and cuts a torn
// tail at the last good record. Ids are never reused.
//
// Thread-safety: every method may be called from any thread (reader/writer lock).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "query/labels.h"
#include "query/series_source.h"
#include "storage/file_util.h"

namespace observex::storage {

inline constexpr char kSeriesLogFileName[] = "series.log";

class SeriesIndex {
 public:
  // Opens or creates the log at `path`. DataLoss is never returned for a damaged tail (it is
  // cut and logged); Unavailable on I/O errors.
  static absl::StatusOr<std::unique_ptr<SeriesIndex>> Open(const std::filesystem::path& path,
                                                           bool fsync);
  // The number of series the log at `path` holds, read without opening it for writing, so a
  // tool may call it while a server appends: records count up to the first damaged or torn
  // one, where Open would cut the log. NotFound when there is no file.
  static absl::StatusOr<size_t> CountSeries(const std::filesystem::path& path);

  // The id of each label set, created when new. Label sets must be non-empty.
  absl::StatusOr<std::vector<int64_t>> Resolve(absl::Span<const query::Labels* const> labels);
  // Records that `ids` have samples on `day` (new pairs only are logged).
  absl::Status NoteDay(absl::Span<const int64_t> ids, int32_t day);
  absl::Status UpdateMetadata(const std::vector<query::MetricMetadata>& families);
  // Makes every record written so far durable.
  absl::Status Sync();

  // Ids (ascending) of series matching every matcher with a sample on a day in
  // [min_day, max_day]. An empty matcher list matches every series.
  std::vector<int64_t> Match(const std::vector<query::LabelMatcher>& matchers, int32_t min_day,
                             int32_t max_day) const;
  // Labels of an id; empty when unknown.
  query::Labels LabelsOf(int64_t id) const;
  std::vector<query::MetricMetadata> Metadata(std::string_view metric) const;
  size_t size() const;

 private:
  struct Entry {
    query::Labels labels;
    std::vector<int32_t> days;  // ascending
  };
  SeriesIndex(std::filesystem::path path, fileutil::Fd fd, bool fsync)
      : path_(std::move(path)), fd_(std::move(fd)), fsync_(fsync) {}
  absl::Status Load();
  absl::Status WriteRecord(uint8_t type, const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static uint64_t Hash(const query::Labels& labels);
  void AddSeries(int64_t id, query::Labels labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void AddDay(Entry& e, int32_t day);
  bool MatchesDays(const Entry& e, int32_t min_day, int32_t max_day) const;

  const std::filesystem::path path_;
  fileutil::Fd fd_;
  const bool fsync_;

  mutable absl::Mutex mu_;
  uint64_t file_size_ ABSL_GUARDED_BY(mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Entry> series_ ABSL_GUARDED_BY(mu_);  // id - 1 -> entry
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> by_hash_ ABSL_GUARDED_BY(mu_);
  // name -> value -> ids ascending.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, std::vector<int64_t>>> postings_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, query::MetricMetadata> metadata_ ABSL_GUARDED_BY(mu_);
};

}  // namespace observex::storage
