// Row selection shared by every scan (parts and the in-memory head): predicates validated
// and compiled once against a table schema (RE2 programs built, sets sorted), then applied
// to blocks of decoded columns. Columns are fetched on demand, so a block whose rows all
// fail the time range or an early predicate never has its other predicate columns read.
// Internal to src/storage. A RowFilter is immutable after Compile; Select may run on many
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "storage/column.h"
#include "storage/scan.h"
#include "storage/schema.h"

namespace re2 {
class RE2;
}

namespace observex::storage {

struct CompiledPredicate {
  int column = -1;
  bool on_attribute = false;
  std::string key;
  PredicateOp op = PredicateOp::kEqual;
  bool negate = false;
  std::string value;
  int64_t min = 0, max = 0;
  std::vector<int64_t> values;  // sorted
  std::unique_ptr<re2::RE2> re;

  CompiledPredicate();
  ~CompiledPredicate();
  bool IsStringOp() const { return op != PredicateOp::kRange && op != PredicateOp::kIn; }
  bool MatchString(std::string_view s) const;
  bool MatchInt(int64_t v) const;
  int Cost() const;  // cheap predicates run first
};

class RowFilter {
 public:
  // InvalidArgument naming the culprit: unknown column, an operation that does not fit the
  // column's type, an attribute key on a column that is not an attribute map, a regex that
  // does not compile.
  static absl::StatusOr<RowFilter> Compile(const TableSchema& schema,
                                           const std::vector<Predicate>& predicates,
                                           int64_t min_time, int64_t max_time);

  // True when every row of a block whose times lie in [block_min, block_max] is selected.
  bool SelectsWholeBlock(int64_t block_min, int64_t block_max) const {
    return predicates_.empty() && block_min >= min_time_ && block_max <= max_time_;
  }

  // Supplies a schema column of the block being filtered.
  using ColumnFn = absl::FunctionRef<absl::StatusOr<const Column*>(int column)>;

  // Replaces *rows with the indices (ascending) of the block's n rows within the time range
  // that satisfy every predicate. `what` names the block in errors (a malformed attribute
  // map is DataLoss).
  absl::Status Select(size_t n, ColumnFn column, std::string_view what,
                      std::vector<uint32_t>* rows) const;

  const std::vector<std::unique_ptr<CompiledPredicate>>& predicates() const { return predicates_; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }

 private:
  const TableSchema* schema_ = nullptr;
  int64_t min_time_ = 0, max_time_ = 0;
  std::vector<std::unique_ptr<CompiledPredicate>> predicates_;
};

// Schema column indices for a projection (empty = every column), and their names. Unknown
// or repeated names are InvalidArgument.
absl::Status ResolveProjection(const TableSchema& schema, const std::vector<std::string>& names,
                               std::vector<int>* columns, std::vector<std::string>* out_names);

}  // namespace observex::storage
