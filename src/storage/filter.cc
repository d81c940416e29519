#include "storage/filter.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "storage/attributes.h"

namespace observex::storage {
namespace {

std::string OpName(PredicateOp op) {
  switch (op) {
    case PredicateOp::kEqual:
      return "equal";
    case PredicateOp::kRegex:
      return "regex";
    case PredicateOp::kRegexFind:
      return "regex find";
    case PredicateOp::kContains:
      return "contains";
    case PredicateOp::kRange:
      return "range";
    case PredicateOp::kIn:
      return "in";
  }
  return "unknown";
}

}  // namespace

CompiledPredicate::CompiledPredicate() = default;
CompiledPredicate::~CompiledPredicate() = default;

bool CompiledPredicate::MatchString(std::string_view s) const {
  bool m;
  switch (op) {
    case PredicateOp::kEqual:
      m = s == value;
      break;
    case PredicateOp::kContains:
      m = s.find(value) != std::string_view::npos;
      break;
    case PredicateOp::kRegex:
      m = RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
      break;
    default:
      m = RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *re);
      break;
  }
  return m != negate;
}

bool CompiledPredicate::MatchInt(int64_t v) const {
  const bool m = op == PredicateOp::kRange ? (v >= min && v <= max)
                                           : std::binary_search(values.begin(), values.end(), v);
  return m != negate;
}

int CompiledPredicate::Cost() const {
  if (!IsStringOp()) return 0;
  int c = op == PredicateOp::kRegex || op == PredicateOp::kRegexFind ? 3 : 1;
  if (on_attribute) c += 1;
  return c;
}

absl::StatusOr<RowFilter> RowFilter::Compile(const TableSchema& schema,
                                             const std::vector<Predicate>& predicates,
                                             int64_t min_time, int64_t max_time) {
  RowFilter f;
  f.schema_ = &schema;
  f.min_time_ = min_time;
  f.max_time_ = max_time;
  const std::string table(TableName(schema.table));
  for (const Predicate& p : predicates) {
    auto c = std::make_unique<CompiledPredicate>();
    c->column = schema.IndexOf(p.column);
    if (c->column < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("predicate on unknown column '", p.column, "' of table ", table));
    }
    const ColumnSpec& spec = schema.columns[c->column];
    c->op = p.op;
    c->negate = p.negate;
    c->value = p.value;
    c->min = p.min;
    c->max = p.max;
    c->values = p.values;
    std::sort(c->values.begin(), c->values.end());
    c->on_attribute = !p.attribute.empty();
    c->key = p.attribute;
    if (c->on_attribute && !spec.attributes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column '", p.column, "' is not an attribute map; it has no key '", p.attribute, "'"));
    }
    const bool wants_string = c->IsStringOp();
    const bool is_string = spec.type == ColumnType::kString;
    const bool is_int = spec.type == ColumnType::kInt64;
    if ((wants_string && !is_string) || (!wants_string && !is_int) ||
        (!wants_string && c->on_attribute)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "predicate ", OpName(p.op), " does not apply to column '", p.column, "' (",
          std::string(ColumnTypeName(spec.type)), c->on_attribute ? " attribute" : "", ")"));
    }
    if (p.op == PredicateOp::kRegex || p.op == PredicateOp::kRegexFind) {
      RE2::Options re_opts;
      re_opts.set_log_errors(false);
      re_opts.set_dot_nl(true);
      re_opts.set_max_mem(8 << 20);
      c->re = std::make_unique<RE2>(re2::StringPiece(p.value.data(), p.value.size()), re_opts);
      if (!c->re->ok()) {
        return absl::InvalidArgumentError(absl::StrCat("invalid regular expression '", p.value,
                                                       "' for column '", p.column,
                                                       "': ", c->re->error()));
      }
    }
    f.predicates_.push_back(std::move(c));
  }
  std::stable_sort(f.predicates_.begin(), f.predicates_.end(),
                   [](const auto& a, const auto& b) { return a->Cost() < b->Cost(); });
  return f;
}

absl::Status RowFilter::Select(size_t n, ColumnFn column, std::string_view what,
                               std::vector<uint32_t>* rows) const {
  rows->clear();
  auto time_col = column(schema_->time_column);
  if (!time_col.ok()) return time_col.status();
  const auto& times = std::get<0>(**time_col);
  std::vector<uint8_t> sel(n);
  size_t live = 0;
  for (size_t i = 0; i < n; ++i) {
    sel[i] = times[i] >= min_time_ && times[i] <= max_time_;
    live += sel[i];
  }
  for (const auto& p : predicates_) {
    // Nothing left to test: the remaining predicate columns are not even read.
    if (live == 0) break;
    auto col = column(p->column);
    if (!col.ok()) return col.status();
    live = 0;
    if (!p->IsStringOp()) {
      // Sorted rows repeat an id for a whole series run: test each distinct value once.
      const auto& v = std::get<0>(**col);
      int64_t last = 0;
      bool have_last = false, last_result = false;
      for (size_t i = 0; i < n; ++i) {
        if (!sel[i]) continue;
        if (!have_last || v[i] != last) {
          last = v[i];
          last_result = p->MatchInt(last);
          have_last = true;
        }
        sel[i] = last_result;
        live += sel[i];
      }
      continue;
    }
    // Rows sorted by key repeat values back to back: remember the last answer.
    const auto& v = std::get<2>(**col);
    std::string_view last;
    bool have_last = false, last_result = false;
    for (size_t i = 0; i < n; ++i) {
      if (!sel[i]) continue;
      const std::string_view s = v.at(i);
      if (!have_last || s != last) {
        if (p->on_attribute) {
          auto found = FindAttribute(s, p->key);
          if (!found.ok()) {
            return absl::DataLossError(absl::StrCat("storage: ", std::string(what), ": column '",
                                                    schema_->columns[p->column].name,
                                                    "': ", found.status().message()));
          }
          last_result = p->MatchString(*found ? AttributeText(**found) : std::string());
        } else {
          last_result = p->MatchString(s);
        }
        last = s;
        have_last = true;
      }
      sel[i] = last_result;
      live += sel[i];
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (sel[i]) rows->push_back(static_cast<uint32_t>(i));
  }
  return absl::OkStatus();
}

absl::Status ResolveProjection(const TableSchema& schema, const std::vector<std::string>& names,
                               std::vector<int>* columns, std::vector<std::string>* out_names) {
  columns->clear();
  out_names->clear();
  if (names.empty()) {
    for (size_t c = 0; c < schema.columns.size(); ++c) {
      columns->push_back(static_cast<int>(c));
      out_names->push_back(schema.columns[c].name);
    }
    return absl::OkStatus();
  }
  absl::flat_hash_set<std::string> seen;
  for (const auto& name : names) {
    const int c = schema.IndexOf(name);
    if (c < 0) {
      return absl::InvalidArgumentError(absl::StrCat("table ", std::string(TableName(schema.table)),
                                                     " has no column '", name, "'"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("column '", name, "' projected twice"));
    }
    columns->push_back(c);
    out_names->push_back(name);
  }
  return absl::OkStatus();
}

}  // namespace observex::storage
