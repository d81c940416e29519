// In-memory columnar data shared by the storage writer, the part reader and scans: typed
// columns (int64, float64, byte strings) and a ColumnBatch, a set of named columns of equal
// length. These are plain values: a batch owns its columns, copies are deep, and nothing here
// is synchronised (one thread at a time per object; distinct objects are independent).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace observex::storage {

// Physical column types. kString holds arbitrary bytes (trace ids, serialized maps, text).
enum class ColumnType : uint8_t { kInt64 = 1, kFloat64 = 2, kString = 3 };

std::string_view ColumnTypeName(ColumnType type);

// Strings stored back to back with n+1 offsets (Arrow-style), so a block of strings is two
// allocations whatever its row count. Offsets are 64-bit: one block may exceed 4 GiB.
class StringColumn {
 public:
  StringColumn() = default;

  size_t size() const { return offsets_.size() - 1; }
  bool empty() const { return size() == 0; }
  std::string_view at(size_t i) const {
    return std::string_view(bytes_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  std::string_view operator[](size_t i) const { return at(i); }

  void push_back(std::string_view s) {
    bytes_.append(s.data(), s.size());
    offsets_.push_back(bytes_.size());
  }
  void clear() {
    offsets_.assign(1, 0);
    bytes_.clear();
  }
  void reserve(size_t rows, size_t bytes) {
    offsets_.reserve(rows + 1);
    bytes_.reserve(bytes);
  }
  // Total bytes of all strings.
  size_t byte_size() const { return bytes_.size(); }

  const std::vector<uint64_t>& offsets() const { return offsets_; }
  const std::string& bytes() const { return bytes_; }
  // For decoders that fill both arrays directly; they must leave offsets non-empty,
  // starting at 0, non-decreasing and ending at bytes().size().
  std::vector<uint64_t>& mutable_offsets() { return offsets_; }
  std::string& mutable_bytes() { return bytes_; }

  friend bool operator==(const StringColumn& a, const StringColumn& b) {
    return a.offsets_ == b.offsets_ && a.bytes_ == b.bytes_;
  }

 private:
  std::vector<uint64_t> offsets_{0};
  std::string bytes_;
};

// One column of values. The alternative's index order matches ColumnType - 1.
using Column = std::variant<std::vector<int64_t>, std::vector<double>, StringColumn>;

ColumnType TypeOf(const Column& column);
size_t RowCount(const Column& column);
Column MakeColumn(ColumnType type);
// Appends row `row` of `from` to `to`; both must have the same type.
void AppendRow(const Column& from, size_t row, Column& to);
// Appends the rows `rows` of `from` to `to` in that order; both must have the same type.
void AppendRows(const Column& from, const std::vector<uint32_t>& rows, Column& to);
// Approximate heap bytes held by the values (what budgets count).
size_t DecodedBytes(const Column& column);

// Named columns of equal length. Column order is meaningful (a schema's order, or a scan's
// projection order).
struct ColumnBatch {
  std::vector<std::string> names;
  std::vector<Column> columns;

  size_t rows() const { return columns.empty() ? 0 : RowCount(columns.front()); }
  size_t num_columns() const { return columns.size(); }
  // Index of `name`, or -1.
  int IndexOf(std::string_view name) const;
  // OK when there are as many names as columns, names are unique and lengths are equal.
  absl::Status Validate() const;
  void Clear();  // keeps names and types, drops every row
};

}  // namespace observex::storage
