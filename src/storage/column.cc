#include "storage/column.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace observex::storage {

std::string_view ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64:
      return "int64";
    case ColumnType::kFloat64:
      return "float64";
    case ColumnType::kString:
      return "string";
  }
  return "unknown";
}

ColumnType TypeOf(const Column& column) { return static_cast<ColumnType>(column.index() + 1); }

size_t RowCount(const Column& column) {
  return std::visit([](const auto& c) { return c.size(); }, column);
}

Column MakeColumn(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64:
      return std::vector<int64_t>();
    case ColumnType::kFloat64:
      return std::vector<double>();
    case ColumnType::kString:
      break;
  }
  return StringColumn();
}

void AppendRow(const Column& from, size_t row, Column& to) {
  switch (from.index()) {
    case 0:
      std::get<0>(to).push_back(std::get<0>(from)[row]);
      break;
    case 1:
      std::get<1>(to).push_back(std::get<1>(from)[row]);
      break;
    default:
      std::get<2>(to).push_back(std::get<2>(from).at(row));
      break;
  }
}

namespace {

// Reserves room for `n` elements with geometric growth: exact reserves on every call would
// make appending many small batches to one column quadratic.
template <typename Container>
void GrowFor(Container& c, size_t n) {
  if (c.capacity() < n) c.reserve(std::max(n, c.capacity() * 2));
}

}  // namespace

void AppendRows(const Column& from, const std::vector<uint32_t>& rows, Column& to) {
  switch (from.index()) {
    case 0: {
      const auto& src = std::get<0>(from);
      auto& dst = std::get<0>(to);
      GrowFor(dst, dst.size() + rows.size());
      for (uint32_t r : rows) dst.push_back(src[r]);
      break;
    }
    case 1: {
      const auto& src = std::get<1>(from);
      auto& dst = std::get<1>(to);
      GrowFor(dst, dst.size() + rows.size());
      for (uint32_t r : rows) dst.push_back(src[r]);
      break;
    }
    default: {
      const auto& src = std::get<2>(from);
      auto& dst = std::get<2>(to);
      size_t bytes = 0;
      for (uint32_t r : rows) bytes += src.at(r).size();
      GrowFor(dst.mutable_offsets(), dst.size() + 1 + rows.size());
      GrowFor(dst.mutable_bytes(), dst.byte_size() + bytes);
      for (uint32_t r : rows) dst.push_back(src.at(r));
      break;
    }
  }
}

size_t DecodedBytes(const Column& column) {
  switch (column.index()) {
    case 0:
      return std::get<0>(column).size() * sizeof(int64_t);
    case 1:
      return std::get<1>(column).size() * sizeof(double);
    default: {
      const auto& s = std::get<2>(column);
      return s.offsets().size() * sizeof(uint64_t) + s.byte_size();
    }
  }
}

int ColumnBatch::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

absl::Status ColumnBatch::Validate() const {
  if (names.size() != columns.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch has ", names.size(), " names but ", columns.size(), " columns"));
  }
  absl::flat_hash_set<std::string> seen;
  for (const auto& n : names) {
    if (!seen.insert(n).second) {
      return absl::InvalidArgumentError(absl::StrCat("batch names column '", n, "' twice"));
    }
  }
  for (size_t i = 1; i < columns.size(); ++i) {
    if (RowCount(columns[i]) != RowCount(columns[0])) {
      return absl::InvalidArgumentError(absl::StrCat("column '", names[i], "' has ",
                                                     RowCount(columns[i]), " rows, column '",
                                                     names[0], "' has ", RowCount(columns[0])));
    }
  }
  return absl::OkStatus();
}

void ColumnBatch::Clear() {
  for (auto& c : columns) {
    std::visit([](auto& v) { v.clear(); }, c);
  }
}

}  // namespace observex::storage
