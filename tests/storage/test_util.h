// Shared helpers of the storage tests: a temporary directory, random rows for every table
// (values drawn from small pools so keys, trace ids and dictionary values repeat), the
// reference sort a part must apply, and bit-exact column comparison.
#pragma once

#include <gtest/gtest.h>
#include <re2/re2.h>
#include <stdlib.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "storage/attributes.h"
#include "storage/column.h"
#include "storage/scan.h"
#include "storage/schema.h"
#include "testing/temp_dir.h"

namespace observex::storage::testing {

using ::observex::testing::TempDir;
inline std::string ReadBytes(const std::filesystem::path& p) {
  return ::observex::testing::ReadFileBytes(p);
}
inline void WriteBytes(const std::filesystem::path& p, const std::string& bytes) {
  ::observex::testing::WriteFileBytes(p, bytes);
}
inline void FlipByte(const std::filesystem::path& p, size_t offset, uint8_t mask = 0x20) {
  std::string b = ReadBytes(p);
  ASSERT_LT(offset, b.size()) << p;
  b[offset] = static_cast<char>(b[offset] ^ mask);
  WriteBytes(p, b);
}

inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline const std::vector<std::string>& Services() {
  static const std::vector<std::string> v = {"cart", "checkout", "frontend", "payment", "shipping"};
  return v;
}
inline const std::vector<std::string>& SpanNames() {
  static const std::vector<std::string> v = {"GET /",  "POST /pay", "db.query",  "cache.get",
                                             "render", "grpc.Call", "queue.pop", "http.client"};
  return v;
}
inline const std::vector<std::string>& Words() {
  static const std::vector<std::string> v = {"error", "timeout", "connected", "retry",
                                             "user",  "ok",      "failed",    "GET"};
  return v;
}

inline std::string RandomAttributes(std::mt19937_64& rng) {
  AttributesWriter w;
  const int n = static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    switch (rng() % 4) {
      case 0:
        w.AddString("http.method", rng() % 2 ? "GET" : "POST");
        break;
      case 1:
        w.AddInt("http.status_code", rng() % 3 == 0 ? 500 : 200);
        break;
      case 2:
        w.AddBool("cache.hit", rng() % 2 == 0);
        break;
      default:
        w.AddString("user.id", "u" + std::to_string(rng() % 20));
        break;
    }
  }
  return w.Finish();
}

// Random rows for `schema`, every time inside `day`. Trace ids come from a pool of n/3 ids.
inline ColumnBatch RandomRows(const TableSchema& schema, std::mt19937_64& rng, size_t n,
                              int32_t day) {
  ColumnBatch b = schema.NewBatch();
  const int64_t per_day = schema.time_units_per_day();
  const int64_t day_start = static_cast<int64_t>(day) * per_day;
  std::vector<std::string> traces;
  for (size_t i = 0; i < std::max<size_t>(1, n / 3); ++i) traces.push_back(RandomBytes(rng, 16));
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const ColumnSpec& spec = schema.columns[c];
    Column& col = b.columns[c];
    for (size_t i = 0; i < n; ++i) {
      if (static_cast<int>(c) == schema.time_column) {
        // Times cluster so equal times occur; the first and last instant of the day appear.
        int64_t t = day_start + static_cast<int64_t>(rng() % 1000) * (per_day / 1000);
        if (rng() % 50 == 0) t = day_start;
        if (rng() % 50 == 0) t = day_start + per_day - 1;
        std::get<0>(col).push_back(t);
        continue;
      }
      switch (spec.type) {
        case ColumnType::kInt64: {
          int64_t v;
          if (spec.name == "series_id") {
            v = static_cast<int64_t>(rng() % 40) * 1'000'003;
          } else if (spec.name == "severity_number") {
            v = static_cast<int64_t>(rng() % 25);
          } else if (spec.name == "duration") {
            v = static_cast<int64_t>(rng() % 5'000'000'000ULL);
          } else if (spec.name == "kind" || spec.name == "status_code") {
            v = static_cast<int64_t>(rng() % 4);
          } else {
            v = rng() % 10 == 0 ? static_cast<int64_t>(rng()) : static_cast<int64_t>(rng() % 100);
          }
          std::get<0>(col).push_back(v);
          break;
        }
        case ColumnType::kFloat64: {
          double v;
          switch (rng() % 6) {
            case 0:
              v = std::bit_cast<double>(0x7ff0000000000002ULL);
              break;
            case 1:
              v = std::bit_cast<double>(rng());
              break;
            case 2:
              v = -0.0;
              break;
            default:
              v = static_cast<double>(rng() % 10000) / 100;
              break;
          }
          std::get<1>(col).push_back(v);
          break;
        }
        case ColumnType::kString: {
          std::string v;
          if (spec.name == "service") {
            v = Services()[rng() % Services().size()];
          } else if (spec.name == "name") {
            v = SpanNames()[rng() % SpanNames().size()];
          } else if (spec.name == "trace_id") {
            v = rng() % 20 == 0 ? std::string() : traces[rng() % traces.size()];
          } else if (spec.name == "span_id" || spec.name == "parent_span_id") {
            v = RandomBytes(rng, rng() % 4 == 0 ? 0 : 8);
          } else if (spec.attributes) {
            v = RandomAttributes(rng);
          } else {
            const size_t words = rng() % 5;
            for (size_t w = 0; w < words; ++w) {
              if (w) v += ' ';
              v += Words()[rng() % Words().size()];
            }
          }
          std::get<2>(col).push_back(v);
          break;
        }
      }
    }
  }
  return b;
}

// Row order a part stores: stable sort by the schema's sort key.
inline std::vector<uint32_t> SortKeyOrder(const TableSchema& schema, const ColumnBatch& rows) {
  std::vector<uint32_t> perm(rows.rows());
  std::iota(perm.begin(), perm.end(), 0u);
  std::stable_sort(perm.begin(), perm.end(), [&](uint32_t a, uint32_t b) {
    for (int k : schema.sort_key) {
      const Column& c = rows.columns[k];
      if (c.index() == 0) {
        const auto& v = std::get<0>(c);
        if (v[a] != v[b]) return v[a] < v[b];
      } else {
        const auto& v = std::get<2>(c);
        if (v.at(a) != v.at(b)) return v.at(a) < v.at(b);
      }
    }
    return false;
  });
  return perm;
}

inline ColumnBatch Permute(const ColumnBatch& rows, const std::vector<uint32_t>& perm) {
  ColumnBatch out;
  out.names = rows.names;
  for (const auto& c : rows.columns) {
    out.columns.push_back(MakeColumn(TypeOf(c)));
    AppendRows(c, perm, out.columns.back());
  }
  return out;
}

// Bit-exact equality (floats by bit pattern); explains the first difference.
inline ::testing::AssertionResult SameColumn(const Column& a, const Column& b) {
  if (a.index() != b.index()) return ::testing::AssertionFailure() << "types differ";
  if (RowCount(a) != RowCount(b)) {
    return ::testing::AssertionFailure() << RowCount(a) << " rows vs " << RowCount(b);
  }
  for (size_t i = 0; i < RowCount(a); ++i) {
    bool same;
    switch (a.index()) {
      case 0:
        same = std::get<0>(a)[i] == std::get<0>(b)[i];
        break;
      case 1:
        same = std::bit_cast<uint64_t>(std::get<1>(a)[i]) ==
               std::bit_cast<uint64_t>(std::get<1>(b)[i]);
        break;
      default:
        same = std::get<2>(a).at(i) == std::get<2>(b).at(i);
        break;
    }
    if (!same) return ::testing::AssertionFailure() << "row " << i << " differs";
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult SameBatch(const ColumnBatch& a, const ColumnBatch& b) {
  if (a.names != b.names) return ::testing::AssertionFailure() << "column names differ";
  for (size_t c = 0; c < a.columns.size(); ++c) {
    auto r = SameColumn(a.columns[c], b.columns[c]);
    if (!r) return r << " in column '" << a.names[c] << "'";
  }
  return ::testing::AssertionSuccess();
}

// The reference for one predicate on row r: what every scan must agree with.
inline bool RowMatches(const TableSchema& schema, const ColumnBatch& rows, size_t r,
                       const Predicate& p) {
  const Column& col = rows.columns[schema.IndexOf(p.column)];
  bool m;
  if (p.op == PredicateOp::kRange || p.op == PredicateOp::kIn) {
    const int64_t v = std::get<0>(col)[r];
    m = p.op == PredicateOp::kRange
            ? (p.min <= v && v <= p.max)
            : std::find(p.values.begin(), p.values.end(), v) != p.values.end();
  } else {
    std::string s(std::get<2>(col).at(r));
    if (!p.attribute.empty()) {
      auto found = FindAttribute(s, p.attribute);
      s = found.ok() && *found ? AttributeText(**found) : "";
    }
    RE2::Options o;
    o.set_dot_nl(true);
    switch (p.op) {
      case PredicateOp::kEqual:
        m = s == p.value;
        break;
      case PredicateOp::kContains:
        m = s.find(p.value) != std::string::npos;
        break;
      case PredicateOp::kRegex:
        m = RE2::FullMatch(s, RE2(p.value, o));
        break;
      default:
        m = RE2::PartialMatch(s, RE2(p.value, o));
        break;
    }
  }
  return m != p.negate;
}

}  // namespace observex::storage::testing
