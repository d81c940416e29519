// Scans over one immutable part: rows within a time range that satisfy every push-down
// predicate, projected to the requested columns, in time order (ascending or descending) or
// in the part's sort-key order, optionally cut at a limit. Work is skipped as early as the
// format allows: the sparse index drops blocks whose time range or sort-key range cannot
// match, the Bloom filter drops the whole part for a trace id it does not hold, and only
// the columns a predicate needs are decoded before rows are selected.
//
// Predicates: equality, RE2 regular expressions (anchored full match, or unanchored find),
// and substring on string columns or on one key of an attribute-map column; inclusive
// ranges and sets on int64 columns (durations, severities, series ids). Each may be negated.
// Regular expressions are RE2 (linear time, no backtracking) with `.` matching newlines.
//
// Time-ordered scans hold the matching rows' positions and the decoded blocks they come from
// until they are emitted; `max_decoded_bytes` bounds that memory (ResourceExhausted naming
// the budget when exceeded). Sort-key-order scans stream one block at a time.
//
// Every scan is a RowSource. MergeScan combines the scans of several parts and of the
// in-memory head (storage/head.h) into one stream in time order, with one limit.
//
// Thread-safety: a RowSource is used by one thread at a time; many scans may share a part.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/column.h"
#include "storage/part.h"

namespace observex::storage {

enum class PredicateOp : uint8_t {
  kEqual,      // string column or attribute text == value
  kRegex,      // RE2 full match of the whole value
  kRegexFind,  // RE2 match anywhere in the value
  kContains,   // value contains the substring
  kRange,      // int64 column within [min, max]
  kIn,         // int64 column is one of values
};

struct Predicate {
  std::string column;
  // When non-empty, `column` is an attribute-map column and the predicate applies to the
  // text of this key's value ("" when the key is absent).
  std::string attribute;
  PredicateOp op = PredicateOp::kEqual;
  bool negate = false;
  std::string value;  // string operand (kEqual, kRegex, kRegexFind, kContains)
  int64_t min = std::numeric_limits<int64_t>::min();  // kRange
  int64_t max = std::numeric_limits<int64_t>::max();  // kRange
  std::vector<int64_t> values;                        // kIn

  static Predicate Equal(std::string column, std::string value);
  static Predicate NotEqual(std::string column, std::string value);
  static Predicate Regex(std::string column, std::string pattern);
  static Predicate RegexFind(std::string column, std::string pattern);
  static Predicate Contains(std::string column, std::string substring);
  static Predicate Range(std::string column, int64_t min, int64_t max);
  static Predicate IntEqual(std::string column, int64_t v) { return Range(column, v, v); }
  static Predicate In(std::string column, std::vector<int64_t> values);
  // Any string predicate on one key of an attribute-map column.
  static Predicate Attribute(std::string column, std::string key, PredicateOp op, std::string value,
                             bool negate = false);
};

enum class ScanOrder : uint8_t { kTimeAscending, kTimeDescending, kSortKey };

struct ScanOptions {
  // Inclusive, in the unit of the table's time column (ns; ms for samples).
  int64_t min_time = std::numeric_limits<int64_t>::min();
  int64_t max_time = std::numeric_limits<int64_t>::max();
  std::vector<std::string> columns;   // projection in output order; empty = every column
  std::vector<Predicate> predicates;  // all must hold
  ScanOrder order = ScanOrder::kTimeAscending;
  uint64_t limit = 0;            // 0 = no limit
  size_t max_batch_rows = 8192;  // rows per output batch (at least 1)
  uint64_t max_decoded_bytes = 256ull << 20;
};

struct ScanStats {
  uint64_t blocks_total = 0;
  uint64_t blocks_pruned_by_index = 0;  // time or sort-key range could not match
  uint64_t blocks_pruned_by_bloom = 0;
  uint64_t blocks_pruned_by_limit = 0;  // every row would sort after the limit
  uint64_t blocks_read = 0;             // predicates evaluated on their rows
  uint64_t rows_matched = 0;            // before the limit
};

// A stream of projected row batches; what every scan returns.
class RowSource {
 public:
  virtual ~RowSource() = default;
  // Replaces *out with the next batch (the projected columns, 1 to max_batch_rows rows) and
  // returns true, or returns false at the end. An error ends the stream.
  virtual absl::StatusOr<bool> Next(ColumnBatch* out) = 0;
  // After the end: true when the limit cut at least one matching row.
  virtual bool truncated() const = 0;
  virtual const std::vector<std::string>& column_names() const = 0;
};

class RowFilter;

class PartScan final : public RowSource {
 public:
  // Validates the options against the part's schema: unknown columns, an operation that
  // does not fit the column's type, an attribute key on a non-map column, and regexes that
  // do not compile are InvalidArgument naming the culprit.
  static absl::StatusOr<std::unique_ptr<PartScan>> Create(std::shared_ptr<const PartReader> part,
                                                          ScanOptions options);
  ~PartScan() override;

  // Errors: DataLoss from a corrupt block (naming the file), ResourceExhausted from the
  // memory budget.
  absl::StatusOr<bool> Next(ColumnBatch* out) override;
  bool truncated() const override { return truncated_; }
  const std::vector<std::string>& column_names() const override { return names_; }
  const ScanStats& stats() const { return stats_; }

  // Only Create can make the key; the constructor is public for std::make_unique.
  class Passkey {
    friend class PartScan;
    Passkey() = default;
  };
  PartScan(Passkey, std::shared_ptr<const PartReader> part, ScanOptions options,
           std::unique_ptr<RowFilter> filter);

 private:
  absl::Status Prepare();
  absl::Status SelectBlock(size_t block, std::vector<Column>& decoded, std::vector<bool>& loaded,
                           std::vector<uint32_t>* rows);
  absl::Status LoadColumn(size_t block, int column, std::vector<Column>& decoded,
                          std::vector<bool>& loaded);
  absl::StatusOr<bool> NextSortKeyOrder(ColumnBatch* out);
  absl::StatusOr<bool> NextTimeOrder(ColumnBatch* out);
  absl::Status CollectTimeOrder();
  void StartBatch(ColumnBatch* out) const;

  std::shared_ptr<const PartReader> part_;
  ScanOptions options_;
  std::unique_ptr<RowFilter> filter_;
  std::vector<int> projection_;  // schema column per output column
  std::vector<std::string> names_;
  std::vector<size_t> candidates_;  // blocks the index could not rule out, in part order
  BlockReadContext ctx_;
  ScanStats stats_;
  bool prepared_ = false;
  bool done_ = false;
  bool truncated_ = false;
  uint64_t emitted_ = 0;
  size_t next_candidate_ = 0;  // sort-key order: position in candidates_

  // Time order: the selected rows in output order, then the decoded blocks they need.
  // Sort-key order: the current block's selected rows and projected columns.
  struct RowRef {
    int64_t time;
    uint32_t block;
    uint32_t row;
  };
  std::vector<RowRef> selected_;
  size_t next_row_ = 0;
  std::vector<std::vector<Column>> block_columns_;  // per block: projected columns, or empty
  std::vector<size_t> block_last_use_;              // per block: last index in selected_
  uint64_t live_bytes_ = 0;                         // held in block_columns_
};

// Creates one source's scan with the options it is given.
using SourceFactory =
    std::function<absl::StatusOr<std::unique_ptr<RowSource>>(const ScanOptions& options)>;

// One scan over several sources of the same table (parts, the head): every source is
// scanned with the same time range, predicates and limit, and their rows are merged in time
// order (ties: the earlier source first when ascending, the later first when descending, so
// descending is exactly ascending reversed), or concatenated in source order for kSortKey.
// The limit applies to the merged stream. Errors of any source end the scan.
absl::StatusOr<std::unique_ptr<RowSource>> MergeScan(const TableSchema& schema, ScanOptions options,
                                                     std::vector<SourceFactory> sources);

}  // namespace observex::storage
