#include "storage/head.h"

#include <algorithm>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/filter.h"

namespace observex::storage {
namespace {

uint64_t BatchBytes(const ColumnBatch& b) {
  uint64_t n = 0;
  for (const auto& c : b.columns) n += DecodedBytes(c);
  return n;
}

// A scan over a snapshot of the head's chunks.
class HeadScan final : public RowSource {
 public:
  HeadScan(const TableSchema& schema, ScanOptions options, RowFilter filter,
           std::vector<int> projection, std::vector<std::string> names,
           std::vector<std::shared_ptr<const ColumnBatch>> chunks)
      : schema_(schema),
        options_(std::move(options)),
        filter_(std::move(filter)),
        projection_(std::move(projection)),
        names_(std::move(names)),
        chunks_(std::move(chunks)) {}

  absl::StatusOr<bool> Next(ColumnBatch* out) override {
    if (!selected_done_) {
      selected_done_ = true;
      if (auto s = Select(); !s.ok()) {
        next_ = selected_.size();
        return s;
      }
    }
    if (next_ >= selected_.size()) return false;
    out->names = names_;
    out->columns.clear();
    for (int c : projection_) out->columns.push_back(MakeColumn(schema_.columns[c].type));
    const size_t end = std::min(selected_.size(), next_ + options_.max_batch_rows);
    for (size_t i = next_; i < end; ++i) {
      const Ref& r = selected_[i];
      const ColumnBatch& chunk = *chunks_[r.chunk];
      for (size_t o = 0; o < projection_.size(); ++o) {
        AppendRow(chunk.columns[projection_[o]], r.row, out->columns[o]);
      }
    }
    next_ = end;
    return true;
  }
  bool truncated() const override { return truncated_; }
  const std::vector<std::string>& column_names() const override { return names_; }

 private:
  struct Ref {
    uint32_t chunk;
    uint32_t row;
  };

  // Negative when row a sorts before row b by the table's sort key.
  int CompareKey(const Ref& a, const Ref& b) const {
    for (int k : schema_.sort_key) {
      const Column& ca = chunks_[a.chunk]->columns[k];
      const Column& cb = chunks_[b.chunk]->columns[k];
      if (ca.index() == 0) {
        const int64_t x = std::get<0>(ca)[a.row], y = std::get<0>(cb)[b.row];
        if (x != y) return x < y ? -1 : 1;
      } else {
        const int r = std::get<2>(ca).at(a.row).compare(std::get<2>(cb).at(b.row));
        if (r != 0) return r;
      }
    }
    return 0;
  }
  int64_t TimeOf(const Ref& r) const {
    return std::get<0>(chunks_[r.chunk]->columns[schema_.time_column])[r.row];
  }

  absl::Status Select() {
    std::vector<uint32_t> rows;
    for (size_t c = 0; c < chunks_.size(); ++c) {
      const ColumnBatch& chunk = *chunks_[c];
      auto s = filter_.Select(
          chunk.rows(),
          [&](int column) -> absl::StatusOr<const Column*> { return &chunk.columns[column]; },
          absl::StrCat("head of table ", std::string(TableName(schema_.table))), &rows);
      if (!s.ok()) return s;
      for (uint32_t r : rows) selected_.push_back(Ref{static_cast<uint32_t>(c), r});
    }
    // The order a part would store the rows in, then (for time order) by time.
    std::stable_sort(selected_.begin(), selected_.end(),
                     [&](const Ref& a, const Ref& b) { return CompareKey(a, b) < 0; });
    if (options_.order != ScanOrder::kSortKey) {
      std::stable_sort(selected_.begin(), selected_.end(),
                       [&](const Ref& a, const Ref& b) { return TimeOf(a) < TimeOf(b); });
      if (options_.order == ScanOrder::kTimeDescending) {
        std::reverse(selected_.begin(), selected_.end());
      }
    }
    if (options_.limit != 0 && selected_.size() > options_.limit) {
      selected_.resize(options_.limit);
      truncated_ = true;
    }
    return absl::OkStatus();
  }

  const TableSchema& schema_;
  const ScanOptions options_;
  const RowFilter filter_;
  const std::vector<int> projection_;
  const std::vector<std::string> names_;
  const std::vector<std::shared_ptr<const ColumnBatch>> chunks_;
  std::vector<Ref> selected_;
  bool selected_done_ = false;
  bool truncated_ = false;
  size_t next_ = 0;
};

}  // namespace

TableHead::TableHead(const TableSchema& schema, int64_t tenant_id, HeadOptions options)
    : schema_(schema), tenant_id_(tenant_id), options_(std::move(options)) {}

void TableHead::AddTo(DayGroup& group, std::shared_ptr<const ColumnBatch> chunk,
                      std::optional<uint64_t> lsn, absl::Time now) {
  if (group.chunks.empty()) group.first_append = now;
  group.rows += chunk->rows();
  group.bytes += BatchBytes(*chunk);
  group.chunks.push_back(std::move(chunk));
  if (lsn) {
    if (!group.wal) {
      group.wal = WalRange{*lsn, *lsn};
    } else {
      group.wal->first = std::min(group.wal->first, *lsn);
      group.wal->last = std::max(group.wal->last, *lsn);
    }
  }
}

absl::Status TableHead::Append(ColumnBatch rows, std::optional<uint64_t> wal_lsn, absl::Time now) {
  if (auto s = schema_.CheckBatch(rows); !s.ok()) return s;
  const size_t n = rows.rows();
  if (n == 0) return absl::OkStatus();
  if (n > UINT32_MAX) return absl::InvalidArgumentError(absl::StrCat("too many rows: ", n));
  // Split by day outside the lock; nearly every batch lies in one day.
  const auto& times = std::get<0>(rows.columns[schema_.time_column]);
  std::map<int32_t, std::vector<uint32_t>> by_day;
  const int32_t first_day = schema_.DayOf(times[0]);
  bool one_day = true;
  for (size_t i = 0; i < n && one_day; ++i) one_day = schema_.DayOf(times[i]) == first_day;
  std::vector<std::pair<int32_t, std::shared_ptr<const ColumnBatch>>> chunks;
  if (one_day) {
    chunks.emplace_back(first_day, std::make_shared<const ColumnBatch>(std::move(rows)));
  } else {
    for (size_t i = 0; i < n; ++i)
      by_day[schema_.DayOf(times[i])].push_back(static_cast<uint32_t>(i));
    for (const auto& [day, idx] : by_day) {
      ColumnBatch part = schema_.NewBatch();
      for (size_t c = 0; c < part.columns.size(); ++c) {
        AppendRows(rows.columns[c], idx, part.columns[c]);
      }
      chunks.emplace_back(day, std::make_shared<const ColumnBatch>(std::move(part)));
    }
  }
  absl::MutexLock lock(&mu_);
  for (auto& [day, chunk] : chunks) AddTo(active_[day], std::move(chunk), wal_lsn, now);
  return absl::OkStatus();
}

TableHead::Stats TableHead::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s;
  for (const auto* groups : {&active_, &sealing_}) {
    for (const auto& [day, g] : *groups) {
      s.rows += g.rows;
      s.bytes += g.bytes;
      ++s.days;
      if (!s.oldest_append || g.first_append < *s.oldest_append) s.oldest_append = g.first_append;
    }
  }
  return s;
}

bool TableHead::ShouldSeal(absl::Time now) const {
  const Stats s = stats();
  if (s.rows == 0) return false;
  return s.rows >= options_.max_rows || s.bytes >= options_.max_bytes ||
         (s.oldest_append && now - *s.oldest_append >= options_.max_age);
}

absl::StatusOr<std::vector<Manifest>> TableHead::Seal(
    const std::filesystem::path& root, uint64_t* next_sequence,
    absl::FunctionRef<void(const std::vector<Manifest>&)> publish) {
  std::vector<std::pair<int32_t, DayGroup>> work;
  {
    absl::MutexLock lock(&mu_);
    if (seal_running_) return absl::FailedPreconditionError("a seal of this head is running");
    if (active_.empty()) return std::vector<Manifest>();
    seal_running_ = true;
    sealing_ = std::move(active_);
    active_.clear();
    for (const auto& [day, g] : sealing_) work.emplace_back(day, g);
  }
  std::vector<Manifest> written;
  std::vector<int32_t> done_days;
  absl::Status error;
  for (const auto& [day, g] : work) {
    PartWriteOptions o;
    o.tenant_id = tenant_id_;
    o.day = day;
    o.name = PartName((*next_sequence)++);
    o.wal_range = g.wal;
    o.block_rows = options_.block_rows;
    o.zstd_level = options_.zstd_level;
    o.fsync = options_.fsync;
    o.threads = options_.seal_threads;
    std::vector<const ColumnBatch*> chunks;
    chunks.reserve(g.chunks.size());
    for (const auto& chunk : g.chunks) chunks.push_back(chunk.get());
    auto m = WritePart(root, schema_, std::span<const ColumnBatch* const>(chunks), o);
    if (!m.ok()) {
      error = m.status();
      break;
    }
    written.push_back(*std::move(m));
    done_days.push_back(day);
  }
  absl::MutexLock lock(&mu_);
  if (!written.empty()) publish(written);
  for (int32_t day : done_days) sealing_.erase(day);
  // Unwritten days go back in front of what arrived meanwhile.
  for (auto& [day, g] : sealing_) {
    auto it = active_.find(day);
    if (it == active_.end()) {
      active_.emplace(day, std::move(g));
      continue;
    }
    DayGroup merged = std::move(g);
    for (auto& chunk : it->second.chunks) merged.chunks.push_back(std::move(chunk));
    merged.rows += it->second.rows;
    merged.bytes += it->second.bytes;
    if (it->second.wal) {
      if (!merged.wal) {
        merged.wal = it->second.wal;
      } else {
        merged.wal->first = std::min(merged.wal->first, it->second.wal->first);
        merged.wal->last = std::max(merged.wal->last, it->second.wal->last);
      }
    }
    it->second = std::move(merged);
  }
  sealing_.clear();
  seal_running_ = false;
  if (!error.ok()) return error;
  return written;
}

absl::StatusOr<std::unique_ptr<RowSource>> TableHead::Scan(const ScanOptions& options) const {
  return ScanSnapshot(TakeSnapshot([] {}), options);
}

TableHead::Snapshot TableHead::TakeSnapshot(absl::FunctionRef<void()> under_lock) const {
  Snapshot chunks;
  absl::MutexLock lock(&mu_);
  under_lock();
  // Sealing rows were appended before the active ones of the same day.
  std::map<int32_t, std::vector<std::shared_ptr<const ColumnBatch>>> by_day;
  for (const auto* groups : {&sealing_, &active_}) {
    for (const auto& [day, g] : *groups) {
      auto& v = by_day[day];
      v.insert(v.end(), g.chunks.begin(), g.chunks.end());
    }
  }
  for (auto& [day, v] : by_day) chunks.insert(chunks.end(), v.begin(), v.end());
  return chunks;
}

std::optional<uint64_t> TableHead::OldestWalLsn() const {
  absl::MutexLock lock(&mu_);
  std::optional<uint64_t> oldest;
  for (const auto* groups : {&sealing_, &active_}) {
    for (const auto& [day, g] : *groups) {
      if (g.wal && (!oldest || g.wal->first < *oldest)) oldest = g.wal->first;
    }
  }
  return oldest;
}

absl::StatusOr<std::unique_ptr<RowSource>> TableHead::ScanSnapshot(
    Snapshot snapshot, const ScanOptions& options) const {
  if (options.max_batch_rows == 0) {
    return absl::InvalidArgumentError("max_batch_rows must be at least 1");
  }
  auto filter = RowFilter::Compile(schema_, options.predicates, options.min_time, options.max_time);
  if (!filter.ok()) return filter.status();
  std::vector<int> projection;
  std::vector<std::string> names;
  if (auto s = ResolveProjection(schema_, options.columns, &projection, &names); !s.ok()) {
    return s;
  }
  return std::make_unique<HeadScan>(schema_, options, *std::move(filter), std::move(projection),
                                    std::move(names), std::move(snapshot));
}

}  // namespace observex::storage
