// One tenant's series index: label set -> series id (sequential from 1), label=value ->
// postings (ids ascending), the UTC days each series has samples in, and metric family
// metadata. PromQL matchers resolve to ids here before any sample block is read.
//
// Durability: the index is a log file of checksummed records. New series, (series, day)
// pairs and metadata entries are collected in memory (at most kMaxPendingBytes, then written
// early) and written by Sync() as one batch record: the entries, each series' labels coded
// against the previous series', compressed as one zstd frame. Sync() makes every entry
// created so far durable; the engine calls it before it writes a samples part, so a part on
// disk never names a series the log lost. When the batches appended since the last snapshot
// outgrow it, Sync() writes the whole index as a new snapshot instead (temporary file,
// fsync, rename over the log, fsync of the directory), so a crash leaves the old log or the
// new one, never a mix. Opening replays the log and cuts a torn or damaged tail at the last
// good record (a batch is kept or cut whole). Ids are never reused. Logs of single-entry
// records (written before batches existed) are still read, and replaced by a snapshot once
// their size calls for one.
//
// Thread-safety: every method may be called from any thread (reader/writer lock for the
// index, a second lock serialising writes to the file, so compression runs without blocking
// look-ups).
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
// Entries waiting for Sync() beyond this many (uncompressed) bytes are written at once.
inline constexpr size_t kMaxPendingBytes = 1u << 20;

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
  // Writes every entry created so far and makes it durable (rewriting the log as a
  // snapshot when its tail has outgrown the last one).
  absl::Status Sync();
  // Writes pending entries (without fsync when the index was opened without it).
  ~SeriesIndex();

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
      : path_(std::move(path)), fsync_(fsync), fd_(std::move(fd)) {}
  absl::Status Load();
  // Writes pending entries as a batch (or the whole index as a snapshot) and fsyncs when
  // `durable` and the index was opened with fsync.
  absl::Status Flush(bool durable) ABSL_LOCKS_EXCLUDED(mu_, io_mu_);
  absl::Status AppendRecords(std::string_view records) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  absl::Status ReplaceWithSnapshot(std::string_view records) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // The raw batches of a snapshot of the whole index, each at most kMaxBatchRaw bytes.
  std::vector<std::string> SnapshotBatches() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void PendSeries(const query::Labels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateMetadataLocked(const std::vector<query::MetricMetadata>& families)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static uint64_t Hash(const query::Labels& labels);
  void AddSeries(int64_t id, query::Labels labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void AddDay(Entry& e, int32_t day);
  bool MatchesDays(const Entry& e, int32_t min_day, int32_t max_day) const;

  const std::filesystem::path path_;
  const bool fsync_;

  // Taken before mu_ when both are held.
  absl::Mutex io_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  fileutil::Fd fd_ ABSL_GUARDED_BY(io_mu_);
  uint64_t file_size_ ABSL_GUARDED_BY(io_mu_) = 0;
  // Bytes at the start of the log that the last snapshot wrote (0: never compacted).
  uint64_t snapshot_bytes_ ABSL_GUARDED_BY(io_mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(io_mu_) = false;
  // Raw batches taken from pending_ whose write failed; written first by the next Flush.
  std::vector<std::string> unwritten_ ABSL_GUARDED_BY(io_mu_);

  mutable absl::Mutex mu_;
  // Entries not yet handed to Flush (uncompressed batch content) and the labels of the
  // last series in it, the context the next series' labels are coded against.
  std::string pending_ ABSL_GUARDED_BY(mu_);
  query::Labels pending_prev_ ABSL_GUARDED_BY(mu_);
  std::vector<Entry> series_ ABSL_GUARDED_BY(mu_);  // id - 1 -> entry
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> by_hash_ ABSL_GUARDED_BY(mu_);
  // name -> value -> ids ascending.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, std::vector<int64_t>>> postings_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, query::MetricMetadata> metadata_ ABSL_GUARDED_BY(mu_);
};

}  // namespace observex::storage
