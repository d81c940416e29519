#include "storage/scan.h"

#include <re2/re2.h>

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "storage/attributes.h"

namespace observex::storage {

// ---------------------------------------------------------------------------------------
// predicates

Predicate Predicate::Equal(std::string column, std::string value) {
  Predicate p;
  p.column = std::move(column);
  p.op = PredicateOp::kEqual;
  p.value = std::move(value);
  return p;
}
Predicate Predicate::NotEqual(std::string column, std::string value) {
  Predicate p = Equal(std::move(column), std::move(value));
  p.negate = true;
  return p;
}
Predicate Predicate::Regex(std::string column, std::string pattern) {
  Predicate p = Equal(std::move(column), std::move(pattern));
  p.op = PredicateOp::kRegex;
  return p;
}
Predicate Predicate::RegexFind(std::string column, std::string pattern) {
  Predicate p = Equal(std::move(column), std::move(pattern));
  p.op = PredicateOp::kRegexFind;
  return p;
}
Predicate Predicate::Contains(std::string column, std::string substring) {
  Predicate p = Equal(std::move(column), std::move(substring));
  p.op = PredicateOp::kContains;
  return p;
}
Predicate Predicate::Range(std::string column, int64_t min, int64_t max) {
  Predicate p;
  p.column = std::move(column);
  p.op = PredicateOp::kRange;
  p.min = min;
  p.max = max;
  return p;
}
Predicate Predicate::In(std::string column, std::vector<int64_t> values) {
  Predicate p;
  p.column = std::move(column);
  p.op = PredicateOp::kIn;
  p.values = std::move(values);
  return p;
}
Predicate Predicate::Attribute(std::string column, std::string key, PredicateOp op,
                               std::string value, bool negate) {
  Predicate p = Equal(std::move(column), std::move(value));
  p.attribute = std::move(key);
  p.op = op;
  p.negate = negate;
  return p;
}

struct PartScan::Compiled {
  int column = -1;
  bool on_attribute = false;
  std::string key;
  PredicateOp op = PredicateOp::kEqual;
  bool negate = false;
  std::string value;
  int64_t min = 0, max = 0;
  std::vector<int64_t> values;  // sorted
  std::unique_ptr<RE2> re;

  bool IsStringOp() const { return op != PredicateOp::kRange && op != PredicateOp::kIn; }

  bool MatchString(std::string_view s) const {
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
  bool MatchInt(int64_t v) const {
    const bool m = op == PredicateOp::kRange ? (v >= min && v <= max)
                                             : std::binary_search(values.begin(), values.end(), v);
    return m != negate;
  }
  // Cheap predicates run first so expensive ones see fewer rows.
  int Cost() const {
    if (!IsStringOp()) return 0;
    int c = op == PredicateOp::kRegex || op == PredicateOp::kRegexFind ? 3 : 1;
    if (on_attribute) c += 1;
    return c;
  }
};

namespace {

int CompareValue(const SortKeyValue& a, const SortKeyValue& b) {
  if (a.index() != b.index()) return a.index() < b.index() ? -1 : 1;
  if (a.index() == 0) {
    const int64_t x = std::get<0>(a), y = std::get<0>(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const int r = std::get<1>(a).compare(std::get<1>(b));
  return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

// Compares the first prefix.size() values of `key` with `prefix`.
int ComparePrefix(const SortKey& key, const std::vector<SortKeyValue>& prefix) {
  for (size_t i = 0; i < prefix.size(); ++i) {
    const int c = CompareValue(key[i], prefix[i]);
    if (c != 0) return c;
  }
  return 0;
}

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

// ---------------------------------------------------------------------------------------
// construction

PartScan::PartScan(Passkey, std::shared_ptr<const PartReader> part, ScanOptions options)
    : part_(std::move(part)), options_(std::move(options)) {}
PartScan::~PartScan() = default;

absl::StatusOr<std::unique_ptr<PartScan>> PartScan::Create(std::shared_ptr<const PartReader> part,
                                                           ScanOptions options) {
  if (part == nullptr) return absl::InvalidArgumentError("scan of a null part");
  const TableSchema& schema = part->schema();
  const std::string table(TableName(schema.table));
  if (options.max_batch_rows == 0) {
    return absl::InvalidArgumentError("max_batch_rows must be at least 1");
  }
  auto scan = std::make_unique<PartScan>(Passkey(), std::move(part), std::move(options));
  const ScanOptions& o = scan->options_;
  if (o.columns.empty()) {
    for (size_t c = 0; c < schema.columns.size(); ++c) {
      scan->projection_.push_back(static_cast<int>(c));
      scan->names_.push_back(schema.columns[c].name);
    }
  } else {
    absl::flat_hash_set<std::string> seen;
    for (const auto& name : o.columns) {
      const int c = schema.IndexOf(name);
      if (c < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("table ", table, " has no column '", name, "'"));
      }
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(absl::StrCat("column '", name, "' projected twice"));
      }
      scan->projection_.push_back(c);
      scan->names_.push_back(name);
    }
  }
  for (const Predicate& p : o.predicates) {
    auto c = std::make_unique<Compiled>();
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
    scan->predicates_.push_back(std::move(c));
  }
  std::stable_sort(scan->predicates_.begin(), scan->predicates_.end(),
                   [](const auto& a, const auto& b) { return a->Cost() < b->Cost(); });
  return scan;
}

// The sparse index and the Bloom filter decide which blocks are read at all.
absl::Status PartScan::Prepare() {
  prepared_ = true;
  const Manifest& m = part_->manifest();
  const TableSchema& schema = part_->schema();
  stats_.blocks_total = m.blocks.size();
  if (options_.min_time > options_.max_time || options_.max_time < m.min_time ||
      options_.min_time > m.max_time) {
    stats_.blocks_pruned_by_index = m.blocks.size();
    return absl::OkStatus();
  }
  if (schema.bloom_column >= 0) {
    for (const auto& p : predicates_) {
      if (p->column == schema.bloom_column && p->op == PredicateOp::kEqual && !p->negate &&
          !p->on_attribute) {
        auto may = part_->MayContain(p->value);
        if (!may.ok()) return may.status();
        if (!*may) {
          stats_.blocks_pruned_by_bloom = m.blocks.size();
          return absl::OkStatus();
        }
      }
    }
  }

  // Equality values for the leading sort-key columns, then at most one int range or set
  // on the next column.
  std::vector<SortKeyValue> prefix;
  const size_t key_columns = schema.sort_key.size() - 1;  // the time column is last
  const Compiled* next_range = nullptr;
  for (size_t j = 0; j < key_columns; ++j) {
    const int col = schema.sort_key[j];
    bool found = false;
    for (const auto& p : predicates_) {
      if (p->column != col || p->negate || p->on_attribute) continue;
      if (p->op == PredicateOp::kEqual) {
        prefix.emplace_back(p->value);
        found = true;
      } else if (p->op == PredicateOp::kRange && p->min == p->max) {
        prefix.emplace_back(p->min);
        found = true;
      } else if (p->op == PredicateOp::kIn && p->values.size() == 1) {
        prefix.emplace_back(p->values[0]);
        found = true;
      }
      if (found) break;
    }
    if (!found) {
      for (const auto& p : predicates_) {
        if (p->column == col && !p->negate &&
            (p->op == PredicateOp::kRange || p->op == PredicateOp::kIn)) {
          next_range = p.get();
          break;
        }
      }
      break;
    }
  }
  const size_t k = prefix.size();

  for (size_t b = 0; b < m.blocks.size(); ++b) {
    const BlockMeta& blk = m.blocks[b];
    bool keep = blk.max_time >= options_.min_time && blk.min_time <= options_.max_time;
    if (keep && k > 0) {
      const int cf = ComparePrefix(blk.first_key, prefix);
      const int cl = ComparePrefix(blk.last_key, prefix);
      keep = cf <= 0 && cl >= 0;
      if (keep && next_range != nullptr) {
        // Values of column k among this block's rows that carry the prefix.
        const int64_t lo =
            cf == 0 ? std::get<int64_t>(blk.first_key[k]) : std::numeric_limits<int64_t>::min();
        const int64_t hi =
            cl == 0 ? std::get<int64_t>(blk.last_key[k]) : std::numeric_limits<int64_t>::max();
        if (next_range->op == PredicateOp::kRange) {
          keep = next_range->max >= lo && next_range->min <= hi;
        } else {
          auto it = std::lower_bound(next_range->values.begin(), next_range->values.end(), lo);
          keep = it != next_range->values.end() && *it <= hi;
        }
      }
    } else if (keep && next_range != nullptr) {
      const int64_t lo = std::get<int64_t>(blk.first_key[0]);
      const int64_t hi = std::get<int64_t>(blk.last_key[0]);
      if (next_range->op == PredicateOp::kRange) {
        keep = next_range->max >= lo && next_range->min <= hi;
      } else {
        auto it = std::lower_bound(next_range->values.begin(), next_range->values.end(), lo);
        keep = it != next_range->values.end() && *it <= hi;
      }
    }
    if (keep) {
      candidates_.push_back(b);
    } else {
      ++stats_.blocks_pruned_by_index;
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// row selection

absl::Status PartScan::LoadColumn(size_t block, int column, std::vector<Column>& decoded,
                                  std::vector<bool>& loaded) {
  if (loaded[column]) return absl::OkStatus();
  if (auto s = part_->ReadBlock(column, block, ctx_, &decoded[column]); !s.ok()) return s;
  loaded[column] = true;
  return absl::OkStatus();
}

absl::Status PartScan::SelectBlock(size_t block, std::vector<Column>& decoded,
                                   std::vector<uint32_t>* rows) {
  const TableSchema& schema = part_->schema();
  std::vector<bool> loaded(schema.columns.size(), false);
  decoded.resize(schema.columns.size());
  ++stats_.blocks_read;
  const int tc = schema.time_column;
  if (auto s = LoadColumn(block, tc, decoded, loaded); !s.ok()) return s;
  const auto& times = std::get<0>(decoded[tc]);
  const size_t n = times.size();
  std::vector<uint8_t> sel(n);
  size_t live = 0;
  for (size_t i = 0; i < n; ++i) {
    sel[i] = times[i] >= options_.min_time && times[i] <= options_.max_time;
    live += sel[i];
  }
  for (const auto& p : predicates_) {
    // Nothing left to test: the remaining predicate columns are not even read.
    if (live == 0) break;
    if (auto s = LoadColumn(block, p->column, decoded, loaded); !s.ok()) return s;
    const Column& col = decoded[p->column];
    if (!p->IsStringOp()) {
      const auto& v = std::get<0>(col);
      live = 0;
      for (size_t i = 0; i < n; ++i) {
        if (sel[i]) sel[i] = p->MatchInt(v[i]);
        live += sel[i];
      }
      continue;
    }
    // Rows sorted by key repeat values back to back: remember the last answer.
    const auto& v = std::get<2>(col);
    std::string_view last;
    bool have_last = false, last_result = false;
    live = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!sel[i]) continue;
      const std::string_view s = v.at(i);
      if (!have_last || s != last) {
        if (p->on_attribute) {
          auto found = FindAttribute(s, p->key);
          if (!found.ok()) {
            return absl::DataLossError(absl::StrCat(
                "storage: ", part_->dir().string(), ": column '", schema.columns[p->column].name,
                "' block ", block, ": ", found.status().message()));
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
  rows->clear();
  for (size_t i = 0; i < n; ++i) {
    if (sel[i]) rows->push_back(static_cast<uint32_t>(i));
  }
  stats_.rows_matched += rows->size();
  return absl::OkStatus();
}

void PartScan::StartBatch(ColumnBatch* out) const {
  out->names = names_;
  out->columns.clear();
  for (int c : projection_) out->columns.push_back(MakeColumn(part_->schema().columns[c].type));
}

absl::StatusOr<bool> PartScan::Next(ColumnBatch* out) {
  if (done_) return false;
  if (!prepared_) {
    if (auto s = Prepare(); !s.ok()) {
      done_ = true;
      return s;
    }
  }
  auto r = options_.order == ScanOrder::kSortKey ? NextSortKeyOrder(out) : NextTimeOrder(out);
  if (!r.ok() || !*r) done_ = true;
  return r;
}

// ---------------------------------------------------------------------------------------
// sort-key order: one block at a time

absl::StatusOr<bool> PartScan::NextSortKeyOrder(ColumnBatch* out) {
  // Rows of the current block not yet emitted.
  if (next_row_ < selected_.size()) {
    StartBatch(out);
    const size_t end = std::min(selected_.size(), next_row_ + options_.max_batch_rows);
    std::vector<uint32_t> rows;
    for (size_t i = next_row_; i < end; ++i) rows.push_back(selected_[i].row);
    const auto& cols = block_columns_.front();
    for (size_t c = 0; c < projection_.size(); ++c) AppendRows(cols[c], rows, out->columns[c]);
    emitted_ += rows.size();
    next_row_ = end;
    return true;
  }
  std::vector<Column> decoded;
  std::vector<uint32_t> rows;
  while (next_candidate_ < candidates_.size()) {
    const size_t b = candidates_[next_candidate_];
    if (options_.limit != 0 && emitted_ >= options_.limit) {
      // Cut: was there anything left to cut?
      for (; next_candidate_ < candidates_.size(); ++next_candidate_) {
        if (auto s = SelectBlock(candidates_[next_candidate_], decoded, &rows); !s.ok()) return s;
        if (!rows.empty()) {
          truncated_ = true;
          break;
        }
      }
      return false;
    }
    ++next_candidate_;
    if (auto s = SelectBlock(b, decoded, &rows); !s.ok()) return s;
    if (rows.empty()) continue;
    if (options_.limit != 0 && rows.size() > options_.limit - emitted_) {
      rows.resize(options_.limit - emitted_);
      truncated_ = true;
      next_candidate_ = candidates_.size();  // the cut is known; read nothing more
    }
    std::vector<bool> loaded(decoded.size(), false);
    // SelectBlock loaded the time and predicate columns; reuse them.
    loaded[part_->schema().time_column] = true;
    for (const auto& p : predicates_) loaded[p->column] = true;
    block_columns_.assign(1, {});
    for (int c : projection_) {
      if (auto s = LoadColumn(b, c, decoded, loaded); !s.ok()) return s;
      block_columns_.front().push_back(std::move(decoded[c]));
    }
    selected_.clear();
    next_row_ = 0;
    if (rows.size() == part_->manifest().blocks[b].rows && rows.size() <= options_.max_batch_rows) {
      // Every row of the block: hand the decoded columns over without copying.
      out->names = names_;
      out->columns = std::move(block_columns_.front());
      block_columns_.clear();
      emitted_ += rows.size();
      return true;
    }
    for (uint32_t r : rows) selected_.push_back(RowRef{0, static_cast<uint32_t>(b), r});
    next_row_ = 0;
    return NextSortKeyOrder(out);
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// time order: select everything (the limit prunes blocks), sort, then emit

absl::Status PartScan::CollectTimeOrder() {
  const Manifest& m = part_->manifest();
  const bool asc = options_.order == ScanOrder::kTimeAscending;
  std::vector<size_t> blocks = candidates_;
  std::stable_sort(blocks.begin(), blocks.end(), [&](size_t a, size_t b) {
    return asc ? m.blocks[a].min_time < m.blocks[b].min_time
               : m.blocks[a].max_time > m.blocks[b].max_time;
  });
  // The best `limit` times so far; the top is the one a row must beat (or tie).
  std::priority_queue<int64_t> worst_asc;                                         // max-heap
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> worst_desc;  // min-heap
  const uint64_t limit = options_.limit;
  std::vector<size_t> skipped;
  std::vector<Column> decoded;
  std::vector<uint32_t> rows;
  const int tc = part_->schema().time_column;
  for (size_t b : blocks) {
    if (limit != 0) {
      if (asc && worst_asc.size() == limit && m.blocks[b].min_time > worst_asc.top()) {
        skipped.push_back(b);
        continue;
      }
      if (!asc && worst_desc.size() == limit && m.blocks[b].max_time < worst_desc.top()) {
        skipped.push_back(b);
        continue;
      }
    }
    if (auto s = SelectBlock(b, decoded, &rows); !s.ok()) return s;
    const auto& times = std::get<0>(decoded[tc]);
    for (uint32_t r : rows) {
      const int64_t t = times[r];
      selected_.push_back(RowRef{t, static_cast<uint32_t>(b), r});
      if (limit == 0) continue;
      if (asc) {
        if (worst_asc.size() < limit) {
          worst_asc.push(t);
        } else if (t < worst_asc.top()) {
          worst_asc.pop();
          worst_asc.push(t);
        }
      } else {
        if (worst_desc.size() < limit) {
          worst_desc.push(t);
        } else if (t > worst_desc.top()) {
          worst_desc.pop();
          worst_desc.push(t);
        }
      }
    }
    if (selected_.size() * sizeof(RowRef) > options_.max_decoded_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("scan of part ", part_->dir().string(), " selects more than ",
                       selected_.size(), " rows, above the scan memory budget (max_decoded_bytes ",
                       options_.max_decoded_bytes, "); narrow the time range or add a limit"));
    }
  }
  stats_.blocks_pruned_by_limit = skipped.size();
  const auto by_position = [](const RowRef& a, const RowRef& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.block != b.block) return a.block < b.block;
    return a.row < b.row;
  };
  if (asc) {
    std::sort(selected_.begin(), selected_.end(), by_position);
  } else {
    std::sort(selected_.begin(), selected_.end(),
              [&](const RowRef& a, const RowRef& b) { return by_position(b, a); });
  }
  if (limit != 0 && selected_.size() > limit) {
    selected_.resize(limit);
    truncated_ = true;
  } else if (limit != 0 && selected_.size() == limit) {
    for (size_t b : skipped) {
      if (auto s = SelectBlock(b, decoded, &rows); !s.ok()) return s;
      if (!rows.empty()) {
        truncated_ = true;
        break;
      }
    }
  }
  block_columns_.assign(m.blocks.size(), {});
  block_last_use_.assign(m.blocks.size(), 0);
  for (size_t i = 0; i < selected_.size(); ++i) block_last_use_[selected_[i].block] = i;
  return absl::OkStatus();
}

absl::StatusOr<bool> PartScan::NextTimeOrder(ColumnBatch* out) {
  if (next_row_ == 0 && block_last_use_.empty()) {
    if (auto s = CollectTimeOrder(); !s.ok()) return s;
  }
  if (next_row_ >= selected_.size()) return false;
  StartBatch(out);
  const size_t end = std::min(selected_.size(), next_row_ + options_.max_batch_rows);
  std::vector<bool> loaded;
  for (size_t i = next_row_; i < end; ++i) {
    const RowRef& ref = selected_[i];
    auto& cols = block_columns_[ref.block];
    if (cols.empty()) {
      std::vector<Column> decoded(part_->schema().columns.size());
      loaded.assign(decoded.size(), false);
      uint64_t bytes = 0;
      for (int c : projection_) {
        if (auto s = LoadColumn(ref.block, c, decoded, loaded); !s.ok()) return s;
        cols.push_back(std::move(decoded[c]));
        bytes += DecodedBytes(cols.back());
      }
      live_bytes_ += bytes;
      if (live_bytes_ + selected_.size() * sizeof(RowRef) > options_.max_decoded_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "time-ordered scan of part ", part_->dir().string(), " holds ", live_bytes_,
            " bytes of decoded blocks, above the scan memory budget (max_decoded_bytes ",
            options_.max_decoded_bytes,
            "); narrow the time range, project fewer columns or add "
            "a limit"));
      }
    }
    for (size_t c = 0; c < cols.size(); ++c) AppendRow(cols[c], ref.row, out->columns[c]);
    if (block_last_use_[ref.block] == i) {
      for (const auto& c : cols) live_bytes_ -= DecodedBytes(c);
      cols.clear();
      cols.shrink_to_fit();
    }
  }
  emitted_ += end - next_row_;
  next_row_ = end;
  return true;
}

}  // namespace observex::storage
