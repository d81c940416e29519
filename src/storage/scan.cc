#include "storage/scan.h"

#include <re2/re2.h>

#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "storage/filter.h"

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

}  // namespace

// ---------------------------------------------------------------------------------------
// construction

PartScan::PartScan(Passkey, std::shared_ptr<const PartReader> part, ScanOptions options,
                   std::unique_ptr<RowFilter> filter)
    : part_(std::move(part)), options_(std::move(options)), filter_(std::move(filter)) {}
PartScan::~PartScan() = default;

absl::StatusOr<std::unique_ptr<PartScan>> PartScan::Create(std::shared_ptr<const PartReader> part,
                                                           ScanOptions options) {
  if (part == nullptr) return absl::InvalidArgumentError("scan of a null part");
  if (options.max_batch_rows == 0) {
    return absl::InvalidArgumentError("max_batch_rows must be at least 1");
  }
  const TableSchema& schema = part->schema();
  auto filter = RowFilter::Compile(schema, options.predicates, options.min_time, options.max_time);
  if (!filter.ok()) return filter.status();
  std::vector<int> projection;
  std::vector<std::string> names;
  if (auto s = ResolveProjection(schema, options.columns, &projection, &names); !s.ok()) return s;
  auto scan = std::make_unique<PartScan>(Passkey(), std::move(part), std::move(options),
                                         std::make_unique<RowFilter>(*std::move(filter)));
  scan->projection_ = std::move(projection);
  scan->names_ = std::move(names);
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
  const auto& predicates = filter_->predicates();
  // Blocks the Bloom filter allows, when a predicate asks for one trace id.
  std::vector<bool> bloom_allows;
  if (schema.bloom_column >= 0) {
    for (const auto& p : predicates) {
      if (p->column == schema.bloom_column && p->op == PredicateOp::kEqual && !p->negate &&
          !p->on_attribute && !p->value.empty()) {
        auto may = part_->BlocksMayContain(p->value);
        if (!may.ok()) return may.status();
        if (may->empty()) {
          stats_.blocks_pruned_by_bloom = m.blocks.size();
          return absl::OkStatus();
        }
        std::vector<bool> allows(m.blocks.size(), false);
        for (uint32_t b : *may) allows[b] = true;
        if (!bloom_allows.empty()) {
          for (size_t b = 0; b < allows.size(); ++b) allows[b] = allows[b] && bloom_allows[b];
        }
        bloom_allows = std::move(allows);
      }
    }
  }

  // Equality values for the leading sort-key columns, then at most one int range or set
  // on the next column.
  std::vector<SortKeyValue> prefix;
  const size_t key_columns = schema.sort_key.size() - 1;  // the time column is last
  const CompiledPredicate* next_range = nullptr;
  for (size_t j = 0; j < key_columns; ++j) {
    const int col = schema.sort_key[j];
    bool found = false;
    for (const auto& p : predicates) {
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
      for (const auto& p : predicates) {
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
    if (!bloom_allows.empty() && !bloom_allows[b]) {
      ++stats_.blocks_pruned_by_bloom;
      continue;
    }
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
                                   std::vector<bool>& loaded, std::vector<uint32_t>* rows) {
  const size_t ncols = part_->schema().columns.size();
  decoded.resize(ncols);
  loaded.assign(ncols, false);
  ++stats_.blocks_read;
  const BlockMeta& meta = part_->manifest().blocks[block];
  if (filter_->SelectsWholeBlock(meta.min_time, meta.max_time)) {
    // No predicate and the block lies inside the time range: every row, without a filter
    // pass. The time column is still decoded: time-ordered scans sort by it.
    if (auto st = LoadColumn(block, part_->schema().time_column, decoded, loaded); !st.ok()) {
      return st;
    }
    rows->resize(meta.rows);
    std::iota(rows->begin(), rows->end(), 0u);
    stats_.rows_matched += rows->size();
    return absl::OkStatus();
  }
  const std::string what = absl::StrCat(part_->dir().string(), " block ", block);
  auto s = filter_->Select(
      part_->manifest().blocks[block].rows,
      [&](int column) -> absl::StatusOr<const Column*> {
        if (auto st = LoadColumn(block, column, decoded, loaded); !st.ok()) return st;
        return &decoded[column];
      },
      what, rows);
  if (!s.ok()) return s;
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
  std::vector<bool> loaded;
  std::vector<uint32_t> rows;
  while (next_candidate_ < candidates_.size()) {
    const size_t b = candidates_[next_candidate_];
    if (options_.limit != 0 && emitted_ >= options_.limit) {
      // Cut: was there anything left to cut?
      for (; next_candidate_ < candidates_.size(); ++next_candidate_) {
        if (auto s = SelectBlock(candidates_[next_candidate_], decoded, loaded, &rows); !s.ok()) {
          return s;
        }
        if (!rows.empty()) {
          truncated_ = true;
          break;
        }
      }
      return false;
    }
    ++next_candidate_;
    if (auto s = SelectBlock(b, decoded, loaded, &rows); !s.ok()) return s;
    if (rows.empty()) continue;
    if (options_.limit != 0 && rows.size() > options_.limit - emitted_) {
      rows.resize(options_.limit - emitted_);
      truncated_ = true;
      next_candidate_ = candidates_.size();  // the cut is known; read nothing more
    }
    // Columns the filter already decoded are reused.
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
  std::vector<bool> loaded;
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
    if (auto s = SelectBlock(b, decoded, loaded, &rows); !s.ok()) return s;
    if (rows.empty()) continue;
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
      if (auto s = SelectBlock(b, decoded, loaded, &rows); !s.ok()) return s;
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

// ---------------------------------------------------------------------------------------
// several sources as one

namespace {

class MergedScan final : public RowSource {
 public:
  MergedScan(std::vector<std::string> names, ScanOptions options,
             std::vector<std::unique_ptr<RowSource>> sources, int time_index, bool strip_time)
      : names_(std::move(names)),
        options_(std::move(options)),
        sources_(std::move(sources)),
        time_index_(time_index),
        strip_time_(strip_time) {
    cursors_.resize(sources_.size());
  }

  absl::StatusOr<bool> Next(ColumnBatch* out) override {
    if (done_) return false;
    auto r = options_.order == ScanOrder::kSortKey ? NextConcatenated(out) : NextMerged(out);
    if (!r.ok() || !*r) done_ = true;
    return r;
  }
  bool truncated() const override { return truncated_; }
  const std::vector<std::string>& column_names() const override { return names_; }

 private:
  struct Cursor {
    ColumnBatch batch;
    size_t row = 0;
    bool started = false;
    bool ended = false;
  };

  // Makes cursor i point at a row, fetching batches as needed; false when the source ended.
  absl::StatusOr<bool> Fill(size_t i) {
    Cursor& c = cursors_[i];
    while (!c.ended && (!c.started || c.row >= c.batch.rows())) {
      auto more = sources_[i]->Next(&c.batch);
      if (!more.ok()) return more.status();
      c.started = true;
      c.row = 0;
      if (!*more) {
        c.ended = true;
        if (sources_[i]->truncated()) truncated_ = true;
      }
    }
    return !c.ended;
  }

  int64_t TimeAt(size_t i) const {
    const Cursor& c = cursors_[i];
    return std::get<0>(c.batch.columns[time_index_])[c.row];
  }

  // Whether source i's current row goes before source j's.
  bool Before(size_t i, size_t j) const {
    const int64_t a = TimeAt(i), b = TimeAt(j);
    if (options_.order == ScanOrder::kTimeAscending) return a < b || (a == b && i < j);
    return a > b || (a == b && i > j);
  }

  void StartBatch(ColumnBatch* out, const ColumnBatch& like) const {
    out->names = names_;
    out->columns.clear();
    for (size_t c = 0; c < like.columns.size(); ++c) {
      if (strip_time_ && static_cast<int>(c) == time_index_) continue;
      out->columns.push_back(MakeColumn(TypeOf(like.columns[c])));
    }
  }

  // After the limit: is any matching row left anywhere?
  absl::Status CheckLeftovers() {
    for (size_t i = 0; i < sources_.size() && !truncated_; ++i) {
      auto has = Fill(i);
      if (!has.ok()) return has.status();
      if (*has) truncated_ = true;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> NextMerged(ColumnBatch* out) {
    if (!initialised_) {
      initialised_ = true;
      for (size_t i = 0; i < sources_.size(); ++i) {
        auto has = Fill(i);
        if (!has.ok()) return has.status();
        if (*has) live_.push_back(i);
      }
    }
    size_t produced = 0;
    while (!live_.empty() && produced < options_.max_batch_rows &&
           (options_.limit == 0 || emitted_ < options_.limit)) {
      // Sources are few (the parts of one day range and a head): a linear pick is enough.
      size_t best = 0;
      for (size_t k = 1; k < live_.size(); ++k) {
        if (Before(live_[k], live_[best])) best = k;
      }
      const size_t i = live_[best];
      Cursor& c = cursors_[i];
      if (produced == 0) StartBatch(out, c.batch);
      size_t o = 0;
      for (size_t col = 0; col < c.batch.columns.size(); ++col) {
        if (strip_time_ && static_cast<int>(col) == time_index_) continue;
        AppendRow(c.batch.columns[col], c.row, out->columns[o++]);
      }
      ++c.row;
      ++produced;
      ++emitted_;
      auto has = Fill(i);
      if (!has.ok()) return has.status();
      if (!*has) live_.erase(live_.begin() + static_cast<long>(best));
    }
    if (produced > 0) return true;
    if (options_.limit != 0 && emitted_ >= options_.limit) {
      if (auto s = CheckLeftovers(); !s.ok()) return s;
    }
    return false;
  }

  absl::StatusOr<bool> NextConcatenated(ColumnBatch* out) {
    while (current_ < sources_.size()) {
      if (options_.limit != 0 && emitted_ >= options_.limit) {
        if (auto s = CheckLeftovers(); !s.ok()) return s;
        return false;
      }
      ColumnBatch batch;
      auto more = sources_[current_]->Next(&batch);
      if (!more.ok()) return more.status();
      if (!*more) {
        if (sources_[current_]->truncated()) truncated_ = true;
        cursors_[current_].ended = true;
        cursors_[current_].started = true;
        ++current_;
        continue;
      }
      size_t rows = batch.rows();
      if (options_.limit != 0 && rows > options_.limit - emitted_) {
        rows = options_.limit - emitted_;
        truncated_ = true;
      }
      std::vector<uint32_t> keep(rows);
      std::iota(keep.begin(), keep.end(), 0u);
      StartBatch(out, batch);
      size_t o = 0;
      // Decided once: moving the first column out empties it, and rows() looks at it.
      const bool whole = rows == batch.rows();
      for (size_t col = 0; col < batch.columns.size(); ++col) {
        if (strip_time_ && static_cast<int>(col) == time_index_) continue;
        if (whole) {
          out->columns[o++] = std::move(batch.columns[col]);
        } else {
          AppendRows(batch.columns[col], keep, out->columns[o++]);
        }
      }
      emitted_ += rows;
      return true;
    }
    return false;
  }

  const std::vector<std::string> names_;
  const ScanOptions options_;
  std::vector<std::unique_ptr<RowSource>> sources_;
  const int time_index_;
  const bool strip_time_;
  std::vector<Cursor> cursors_;
  std::vector<size_t> live_;  // sources with a current row, in source order
  bool initialised_ = false;
  bool done_ = false;
  bool truncated_ = false;
  uint64_t emitted_ = 0;
  size_t current_ = 0;  // concatenation: the source being read
};

}  // namespace

absl::StatusOr<std::unique_ptr<RowSource>> MergeScan(const TableSchema& schema, ScanOptions options,
                                                     std::vector<SourceFactory> sources) {
  if (options.max_batch_rows == 0) {
    return absl::InvalidArgumentError("max_batch_rows must be at least 1");
  }
  std::vector<int> projection;
  std::vector<std::string> names;
  if (auto s = ResolveProjection(schema, options.columns, &projection, &names); !s.ok()) return s;
  ScanOptions inner = options;
  inner.columns = names;
  const std::string& time_name = schema.columns[schema.time_column].name;
  bool strip_time = false;
  if (options.order != ScanOrder::kSortKey &&
      std::find(names.begin(), names.end(), time_name) == names.end()) {
    inner.columns.push_back(time_name);
    strip_time = true;
  }
  const int time_index = static_cast<int>(
      std::find(inner.columns.begin(), inner.columns.end(), time_name) - inner.columns.begin());
  std::vector<std::unique_ptr<RowSource>> created;
  for (auto& make : sources) {
    auto src = make(inner);
    if (!src.ok()) return src.status();
    created.push_back(*std::move(src));
  }
  return std::make_unique<MergedScan>(std::move(names), std::move(options), std::move(created),
                                      time_index, strip_time);
}

}  // namespace observex::storage
