#include "storage/series_index.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "storage/bits.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

using namespace bits;  // NOLINT(google-build-using-namespace): varints and fixed ints

// Record: u32 body length | u32 crc32c(type + body) | u8 type | body.
constexpr size_t kRecordHeader = 9;
constexpr uint32_t kMaxRecordBody = 16u << 20;
// kSeries, kDay and kMetadata are single-entry records (the only kind before batches; read,
// no longer written). kBatch: u8 flags | varint raw length | one zstd frame of the raw
// entries, each u8 entry type | varint length | payload (EntryType).
enum RecordType : uint8_t { kSeries = 1, kDay = 2, kMetadata = 3, kBatch = 4 };
enum EntryType : uint8_t {
  // The next id's labels: varint count, then per label a code: 0 = the previous series'
  // label at this position, 1 = its name with this value (string), 2 = name and value
  // (strings). "Previous" is the series before in the same batch (none at its start).
  kEntrySeries = 1,
  // zigzag varint day | varint count | ids ascending as varint differences (the first from 0).
  kEntryDays = 2,
  // As a kMetadata record's body.
  kEntryMetadata = 3,
};
constexpr uint8_t kBatchSnapshot = 1;  // flags: the batch belongs to a snapshot
// A batch's uncompressed size; a snapshot of a larger index is several batches.
constexpr size_t kMaxBatchRaw = 4u << 20;
// zstd level for batches: the label coding leaves little for higher levels to find.
constexpr int kBatchZstdLevel = 9;
// A snapshot replaces the log when the records after the last one reach its size (and at
// least this many bytes), so rewrites cost at most a constant factor of the appends.
constexpr uint64_t kMinCompactTail = 16u << 10;
constexpr char kSnapshotSuffix[] = ".snapshot-tmp";

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool GetString(const char** p, const char* end, std::string* out) {
  uint64_t n = 0;
  if (!GetVarint(p, end, &n) || n > static_cast<uint64_t>(end - *p)) return false;
  out->assign(*p, n);
  *p += n;
  return true;
}

uint32_t RecordCrc(uint8_t type, std::string_view body) {
  return wal::crc32c::Extend(wal::crc32c::Value(&type, 1), body.data(), body.size());
}

std::string Record(uint8_t type, std::string_view body) {
  std::string rec;
  rec.reserve(kRecordHeader + body.size());
  PutFixed32(&rec, static_cast<uint32_t>(body.size()));
  PutFixed32(&rec, RecordCrc(type, body));
  rec.push_back(static_cast<char>(type));
  rec.append(body);
  return rec;
}

void PutEntry(std::string* out, EntryType type, std::string_view payload) {
  out->push_back(static_cast<char>(type));
  PutVarint(out, payload.size());
  out->append(payload);
}

void PutSeriesEntry(std::string* out, const query::Labels& prev, const query::Labels& labels) {
  std::string payload;
  PutVarint(&payload, labels.size());
  const auto& p = prev.items();
  for (size_t i = 0; i < labels.size(); ++i) {
    const query::Label& l = labels.items()[i];
    if (i < p.size() && p[i].name == l.name && p[i].value == l.value) {
      payload.push_back(0);
    } else if (i < p.size() && p[i].name == l.name) {
      payload.push_back(1);
      PutString(&payload, l.value);
    } else {
      payload.push_back(2);
      PutString(&payload, l.name);
      PutString(&payload, l.value);
    }
  }
  PutEntry(out, kEntrySeries, payload);
}

void PutDaysEntry(std::string* out, int32_t day, const std::vector<int64_t>& ids) {
  std::string payload;
  PutVarint(&payload, ZigZag(day));
  PutVarint(&payload, ids.size());
  int64_t last = 0;
  for (int64_t id : ids) {
    PutVarint(&payload, static_cast<uint64_t>(id - last));
    last = id;
  }
  PutEntry(out, kEntryDays, payload);
}

void PutMetadata(std::string* out, const query::MetricMetadata& m) {
  PutString(out, m.metric);
  PutString(out, m.type);
  PutString(out, m.help);
  PutString(out, m.unit);
}

bool GetMetadata(const char** p, const char* end, query::MetricMetadata* m) {
  return GetString(p, end, &m->metric) && GetString(p, end, &m->type) &&
         GetString(p, end, &m->help) && GetString(p, end, &m->unit);
}

absl::StatusOr<std::string> BatchBody(std::string_view raw, uint8_t flags) {
  std::string body;
  body.push_back(static_cast<char>(flags));
  PutVarint(&body, raw.size());
  const size_t header = body.size();
  body.resize(header + ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(body.data() + header, body.size() - header, raw.data(), raw.size(),
                                 kBatchZstdLevel);
  if (ZSTD_isError(n)) {
    return absl::InternalError(
        absl::StrCat("series index: zstd compression failed: ", ZSTD_getErrorName(n)));
  }
  body.resize(header + n);
  if (body.size() > kMaxRecordBody) {
    return absl::InternalError(
        absl::StrCat("series index: batch of ", body.size(), " bytes exceeds the record limit"));
  }
  return body;
}

// What one record holds, decoded and checked whole before any of it is applied, so a
// damaged batch is cut as one.
struct Decoded {
  std::vector<query::Labels> series;
  std::vector<std::pair<int32_t, std::vector<int64_t>>> days;
  std::vector<query::MetricMetadata> metadata;
  bool snapshot = false;
};

bool DecodeSeriesEntry(const char* p, const char* end, const query::Labels& prev,
                       query::Labels* out) {
  uint64_t n = 0;
  if (!GetVarint(&p, end, &n) || n == 0 || n > static_cast<uint64_t>(end - p)) return false;
  std::vector<query::Label> items;
  items.reserve(n);
  const auto& pi = prev.items();
  for (uint64_t i = 0; i < n; ++i) {
    if (p == end) return false;
    const uint8_t code = static_cast<uint8_t>(*p++);
    query::Label l;
    if (code == 0 && i < pi.size()) {
      l = pi[i];
    } else if (code == 1 && i < pi.size()) {
      l.name = pi[i].name;
      if (!GetString(&p, end, &l.value)) return false;
    } else if (code == 2) {
      if (!GetString(&p, end, &l.name) || !GetString(&p, end, &l.value)) return false;
    } else {
      return false;
    }
    items.push_back(std::move(l));
  }
  if (p != end) return false;
  // Written from a label set: sorted, unique names, no empty value. Anything else is damage.
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].value.empty() || (i > 0 && !(items[i - 1].name < items[i].name))) return false;
  }
  *out = query::Labels(std::move(items));
  return true;
}

bool DecodeBatch(std::string_view body, size_t series_before, Decoded* out) {
  const char* p = body.data();
  const char* end = p + body.size();
  if (p == end) return false;
  const uint8_t flags = static_cast<uint8_t>(*p++);
  if ((flags & ~kBatchSnapshot) != 0) return false;
  out->snapshot = (flags & kBatchSnapshot) != 0;
  uint64_t raw_len = 0;
  if (!GetVarint(&p, end, &raw_len) || raw_len > kMaxBatchRaw) return false;
  const unsigned long long frame = ZSTD_getFrameContentSize(p, static_cast<size_t>(end - p));
  if (frame != raw_len) return false;
  std::string raw(raw_len, '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), p, static_cast<size_t>(end - p));
  if (ZSTD_isError(n) || n != raw_len) return false;
  const char* q = raw.data();
  const char* qend = q + raw.size();
  query::Labels prev;
  while (q < qend) {
    const uint8_t type = static_cast<uint8_t>(*q++);
    uint64_t len = 0;
    if (!GetVarint(&q, qend, &len) || len > static_cast<uint64_t>(qend - q)) return false;
    const char* e = q + len;
    if (type == kEntrySeries) {
      query::Labels labels;
      if (!DecodeSeriesEntry(q, e, prev, &labels)) return false;
      prev = labels;
      out->series.push_back(std::move(labels));
    } else if (type == kEntryDays) {
      uint64_t day = 0, count = 0;
      if (!GetVarint(&q, e, &day) || !GetVarint(&q, e, &count) ||
          count > static_cast<uint64_t>(e - q)) {
        return false;
      }
      const uint64_t known = series_before + out->series.size();
      std::vector<int64_t> ids;
      ids.reserve(count);
      uint64_t id = 0;
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t d = 0;
        if (!GetVarint(&q, e, &d) || d == 0 || d > known - id) return false;
        id += d;
        ids.push_back(static_cast<int64_t>(id));
      }
      if (q != e) return false;
      out->days.emplace_back(static_cast<int32_t>(UnZigZag(day)), std::move(ids));
    } else if (type == kEntryMetadata) {
      query::MetricMetadata m;
      if (!GetMetadata(&q, e, &m) || q != e) return false;
      out->metadata.push_back(std::move(m));
    } else {
      return false;
    }
    q = e;
  }
  return true;
}

// Decodes one record of any type; false when it is damaged or names an unknown id.
bool DecodeRecord(uint8_t type, std::string_view body, size_t series_before, Decoded* out) {
  const char* p = body.data();
  const char* end = p + body.size();
  if (type == kSeries) {
    uint64_t id = 0, n = 0;
    if (!GetVarint(&p, end, &id) || !GetVarint(&p, end, &n) || n >= body.size()) return false;
    std::vector<query::Label> items;
    for (uint64_t i = 0; i < n; ++i) {
      query::Label l;
      if (!GetString(&p, end, &l.name) || !GetString(&p, end, &l.value)) return false;
      items.push_back(std::move(l));
    }
    // Ids are written in order; anything else is damage.
    query::Labels labels(std::move(items));
    if (id != series_before + 1 || labels.empty()) return false;
    out->series.push_back(std::move(labels));
    return true;
  }
  if (type == kDay) {
    uint64_t id = 0, day = 0;
    if (!GetVarint(&p, end, &id) || !GetVarint(&p, end, &day) || id < 1 || id > series_before) {
      return false;
    }
    out->days.emplace_back(static_cast<int32_t>(UnZigZag(day)),
                           std::vector<int64_t>{static_cast<int64_t>(id)});
    return true;
  }
  if (type == kMetadata) {
    query::MetricMetadata m;
    if (!GetMetadata(&p, end, &m)) return false;
    out->metadata.push_back(std::move(m));
    return true;
  }
  if (type == kBatch) return DecodeBatch(body, series_before, out);
  return false;
}

// Sorted union of sorted id lists.
std::vector<int64_t> Union(const std::vector<const std::vector<int64_t>*>& lists) {
  std::vector<int64_t> out;
  for (const auto* l : lists) out.insert(out.end(), l->begin(), l->end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::Status PwriteAll(int fd, std::string_view data, uint64_t offset,
                       const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fileutil::ErrnoStatus(errno, "write", path);
    }
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SeriesIndex>> SeriesIndex::Open(const std::filesystem::path& path,
                                                               bool fsync) {
  if (auto s = fileutil::CreateDirs(path.parent_path(), fsync); !s.ok()) return s;
  // A snapshot that was never renamed into place: the log it was made from is intact.
  std::error_code ec;
  std::filesystem::remove(path.string() + kSnapshotSuffix, ec);
  const bool existed = std::filesystem::exists(path);
  fileutil::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return fileutil::ErrnoStatus(errno, "open", path);
  if (!existed && fsync) {
    if (auto s = fileutil::FsyncDir(path.parent_path()); !s.ok()) return s;
  }
  std::unique_ptr<SeriesIndex> index(new SeriesIndex(path, std::move(fd), fsync));
  if (auto s = index->Load(); !s.ok()) return s;
  return index;
}

SeriesIndex::~SeriesIndex() {
  if (auto s = Flush(/*durable=*/true); !s.ok()) {
    OBX_LOG_ERROR("series index {}: entries not written at close: {}", path_.string(),
                  s.ToString());
  }
}

absl::StatusOr<size_t> SeriesIndex::CountSeries(const std::filesystem::path& path) {
  auto fd = fileutil::OpenForRead(path);
  if (!fd.ok()) return fd.status();
  // Record by record, so a large log is never held whole; the checks are Load's.
  size_t series = 0;
  uint64_t pos = 0;
  char header[kRecordHeader];
  std::string body;
  while (true) {
    auto s = fileutil::PreadExact(fd->get(), header, kRecordHeader, pos, path);
    if (absl::IsDataLoss(s)) break;  // end of file, or a torn header
    if (!s.ok()) return s;
    const uint32_t len = LoadFixed32(header);
    const uint8_t type = static_cast<uint8_t>(header[8]);
    if (len > kMaxRecordBody) break;
    body.resize(len);
    s = fileutil::PreadExact(fd->get(), body.data(), len, pos + kRecordHeader, path);
    if (absl::IsDataLoss(s)) break;
    if (!s.ok()) return s;
    if (RecordCrc(type, body) != LoadFixed32(header + 4)) break;
    Decoded d;
    if (!DecodeRecord(type, body, series, &d)) break;
    series += d.series.size();
    pos += kRecordHeader + len;
  }
  return series;
}

uint64_t SeriesIndex::Hash(const query::Labels& labels) {
  // Only compared within this process: the map is rebuilt from labels on every open.
  uint64_t h = 0x9E3779B97F4A7C15ull;
  const std::hash<std::string_view> hs;
  for (const auto& l : labels.items()) {
    h = (h ^ hs(l.name)) * 0x100000001B3ull;
    h = (h ^ hs(l.value)) * 0x100000001B3ull;
  }
  return h;
}

absl::Status SeriesIndex::Load() {
  absl::MutexLock io(&io_mu_);
  absl::MutexLock lock(&mu_);
  auto bytes = fileutil::ReadFile(path_, UINT64_MAX);
  if (!bytes.ok()) return bytes.status();
  const std::string& data = *bytes;
  size_t pos = 0;
  bool leading_snapshot = true;
  while (pos + kRecordHeader <= data.size()) {
    const uint32_t len = LoadFixed32(data.data() + pos);
    const uint32_t crc = LoadFixed32(data.data() + pos + 4);
    const uint8_t type = static_cast<uint8_t>(data[pos + 8]);
    if (len > kMaxRecordBody || pos + kRecordHeader + len > data.size()) break;
    std::string_view body(data.data() + pos + kRecordHeader, len);
    if (RecordCrc(type, body) != crc) break;
    Decoded d;
    if (!DecodeRecord(type, body, series_.size(), &d)) break;
    for (auto& labels : d.series) {
      AddSeries(static_cast<int64_t>(series_.size()) + 1, std::move(labels));
    }
    for (const auto& [day, ids] : d.days) {
      for (int64_t id : ids) AddDay(series_[id - 1], day);
    }
    for (auto& m : d.metadata) metadata_[m.metric] = std::move(m);
    pos += kRecordHeader + len;
    leading_snapshot = leading_snapshot && d.snapshot;
    if (leading_snapshot) snapshot_bytes_ = pos;
  }
  if (pos < data.size()) {
    OBX_LOG_WARN("series index {}: cutting {} bytes of damaged or torn tail at offset {}",
                 path_.string(), data.size() - pos, pos);
    if (::ftruncate(fd_.get(), static_cast<off_t>(pos)) != 0) {
      return fileutil::ErrnoStatus(errno, "truncate", path_);
    }
    if (fsync_) {
      if (auto s = fileutil::Fsync(fd_.get(), path_); !s.ok()) return s;
    }
  }
  file_size_ = pos;
  return absl::OkStatus();
}

void SeriesIndex::AddSeries(int64_t id, query::Labels labels) {
  by_hash_[Hash(labels)].push_back(id);
  for (const auto& l : labels.items()) postings_[l.name][l.value].push_back(id);
  series_.push_back(Entry{std::move(labels), {}});
}

void SeriesIndex::AddDay(Entry& e, int32_t day) {
  auto it = std::lower_bound(e.days.begin(), e.days.end(), day);
  if (it == e.days.end() || *it != day) e.days.insert(it, day);
}

void SeriesIndex::PendSeries(const query::Labels& labels) {
  PutSeriesEntry(&pending_, pending_prev_, labels);
  pending_prev_ = labels;
}

std::vector<std::string> SeriesIndex::SnapshotBatches() const {
  std::vector<std::string> batches(1);
  query::Labels prev;
  const auto room = [&] {
    if (batches.back().size() >= kMaxBatchRaw / 2) {
      batches.emplace_back();
      prev = query::Labels();
    }
  };
  for (const Entry& e : series_) {
    room();
    PutSeriesEntry(&batches.back(), prev, e.labels);
    prev = e.labels;
  }
  absl::flat_hash_map<int32_t, std::vector<int64_t>> by_day;
  for (size_t i = 0; i < series_.size(); ++i) {
    for (int32_t day : series_[i].days) by_day[day].push_back(static_cast<int64_t>(i) + 1);
  }
  std::vector<int32_t> days;
  for (const auto& [day, ids] : by_day) days.push_back(day);
  std::sort(days.begin(), days.end());
  // A days entry names ids of its own or earlier batches only: every series precedes them.
  for (int32_t day : days) {
    const auto& ids = by_day[day];
    constexpr size_t kIdsPerEntry = 1u << 16;
    for (size_t i = 0; i < ids.size(); i += kIdsPerEntry) {
      room();
      PutDaysEntry(&batches.back(), day,
                   std::vector<int64_t>(ids.begin() + static_cast<ptrdiff_t>(i),
                                        ids.begin() + static_cast<ptrdiff_t>(
                                                          std::min(ids.size(), i + kIdsPerEntry))));
    }
  }
  for (const auto& [name, m] : metadata_) {
    room();
    std::string payload;
    PutMetadata(&payload, m);
    PutEntry(&batches.back(), kEntryMetadata, payload);
  }
  if (batches.back().empty()) batches.pop_back();
  return batches;
}

absl::Status SeriesIndex::AppendRecords(std::string_view records) {
  if (auto s = PwriteAll(fd_.get(), records, file_size_, path_); !s.ok()) {
    // Leave no partial record behind for the next write to follow.
    if (::ftruncate(fd_.get(), static_cast<off_t>(file_size_)) != 0) {
      OBX_LOG_ERROR("series index {}: cannot cut a partial record", path_.string());
    }
    return s;
  }
  file_size_ += records.size();
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status SeriesIndex::ReplaceWithSnapshot(std::string_view records) {
  const std::filesystem::path tmp = path_.string() + kSnapshotSuffix;
  fileutil::Fd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return fileutil::ErrnoStatus(errno, "create", tmp);
  auto s = PwriteAll(fd.get(), records, 0, tmp);
  if (s.ok() && fsync_) s = fileutil::Fsync(fd.get(), tmp);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    s = fileutil::ErrnoStatus(errno, "rename snapshot over", path_);
  }
  if (!s.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return s;
  }
  // The old log is gone either way now; the new one is complete and (with fsync) durable.
  fd_ = std::move(fd);
  file_size_ = records.size();
  snapshot_bytes_ = records.size();
  dirty_ = false;
  if (fsync_) return fileutil::FsyncDir(path_.parent_path());
  return absl::OkStatus();
}

absl::Status SeriesIndex::Flush(bool durable) {
  absl::MutexLock io(&io_mu_);
  std::vector<std::string> snapshot;
  {
    absl::MutexLock lock(&mu_);
    if (!pending_.empty()) {
      unwritten_.push_back(std::move(pending_));
      pending_.clear();
      pending_prev_ = query::Labels();
    }
    uint64_t tail = file_size_ - snapshot_bytes_;
    for (const auto& raw : unwritten_) tail += raw.size() / 4;  // a rough compressed size
    if (!unwritten_.empty() && tail >= std::max(kMinCompactTail, snapshot_bytes_)) {
      snapshot = SnapshotBatches();
    }
  }
  // Compression runs without mu_: look-ups and new series go on meanwhile.
  if (!snapshot.empty()) {
    std::string records;
    for (const auto& raw : snapshot) {
      auto body = BatchBody(raw, kBatchSnapshot);
      if (!body.ok()) return body.status();
      records += Record(kBatch, *body);
    }
    if (auto s = ReplaceWithSnapshot(records); !s.ok()) return s;
    unwritten_.clear();  // the snapshot holds them
    return absl::OkStatus();
  }
  if (!unwritten_.empty()) {
    std::string records;
    for (const auto& raw : unwritten_) {
      auto body = BatchBody(raw, 0);
      if (!body.ok()) return body.status();
      records += Record(kBatch, *body);
    }
    if (auto s = AppendRecords(records); !s.ok()) return s;
    unwritten_.clear();
  }
  if (!durable || !dirty_ || !fsync_) return absl::OkStatus();
  if (auto s = fileutil::Fsync(fd_.get(), path_); !s.ok()) return s;
  dirty_ = false;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> SeriesIndex::Resolve(
    absl::Span<const query::Labels* const> labels) {
  std::vector<int64_t> ids(labels.size(), 0);
  std::vector<uint64_t> hashes(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) hashes[i] = Hash(*labels[i]);
  const auto find = [&](size_t i) -> int64_t {
    auto it = by_hash_.find(hashes[i]);
    if (it == by_hash_.end()) return 0;
    for (int64_t id : it->second) {
      if (series_[id - 1].labels == *labels[i]) return id;
    }
    return 0;
  };
  bool missing = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (size_t i = 0; i < labels.size(); ++i) {
      ids[i] = find(i);
      missing |= ids[i] == 0;
    }
  }
  if (!missing) return ids;
  size_t pending_bytes = 0;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < labels.size(); ++i) {
      if (ids[i] != 0) continue;
      if (labels[i]->empty()) {
        return absl::InvalidArgumentError("a series needs at least one label");
      }
      ids[i] = find(i);  // another writer may have added it meanwhile
      if (ids[i] != 0) continue;
      const int64_t id = static_cast<int64_t>(series_.size()) + 1;
      PendSeries(*labels[i]);
      AddSeries(id, *labels[i]);
      ids[i] = id;
    }
    pending_bytes = pending_.size();
  }
  if (pending_bytes > kMaxPendingBytes) {
    if (auto s = Flush(/*durable=*/false); !s.ok()) return s;
  }
  return ids;
}

absl::Status SeriesIndex::NoteDay(absl::Span<const int64_t> ids, int32_t day) {
  const auto known = [&](int64_t id) {
    const auto& days = series_[id - 1].days;
    return std::binary_search(days.begin(), days.end(), day);
  };
  bool missing = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (int64_t id : ids) {
      if (id < 1 || static_cast<size_t>(id) > series_.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown series id ", id));
      }
      if (!known(id)) {
        missing = true;
        break;
      }
    }
  }
  if (!missing) return absl::OkStatus();
  size_t pending_bytes = 0;
  {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> added;
    for (int64_t id : ids) {
      if (known(id)) continue;
      AddDay(series_[id - 1], day);
      added.push_back(id);
    }
    std::sort(added.begin(), added.end());
    added.erase(std::unique(added.begin(), added.end()), added.end());
    if (!added.empty()) PutDaysEntry(&pending_, day, added);
    pending_bytes = pending_.size();
  }
  if (pending_bytes > kMaxPendingBytes) return Flush(/*durable=*/false);
  return absl::OkStatus();
}

absl::Status SeriesIndex::UpdateMetadata(const std::vector<query::MetricMetadata>& families) {
  size_t pending_bytes = 0;
  {
    absl::MutexLock lock(&mu_);
    UpdateMetadataLocked(families);
    pending_bytes = pending_.size();
  }
  if (pending_bytes > kMaxPendingBytes) return Flush(/*durable=*/false);
  return absl::OkStatus();
}

void SeriesIndex::UpdateMetadataLocked(const std::vector<query::MetricMetadata>& families) {
  for (const auto& m : families) {
    auto it = metadata_.find(m.metric);
    if (it != metadata_.end() && it->second.type == m.type && it->second.help == m.help &&
        it->second.unit == m.unit) {
      continue;
    }
    std::string payload;
    PutMetadata(&payload, m);
    PutEntry(&pending_, kEntryMetadata, payload);
    metadata_[m.metric] = m;
  }
}

absl::Status SeriesIndex::Sync() { return Flush(/*durable=*/true); }

bool SeriesIndex::MatchesDays(const Entry& e, int32_t min_day, int32_t max_day) const {
  auto it = std::lower_bound(e.days.begin(), e.days.end(), min_day);
  return it != e.days.end() && *it <= max_day;
}

std::vector<int64_t> SeriesIndex::Match(const std::vector<query::LabelMatcher>& matchers,
                                        int32_t min_day, int32_t max_day) const {
  using Type = query::LabelMatcher::Type;
  absl::ReaderMutexLock lock(&mu_);
  // Seed the candidates from the most selective matcher that needs the label present:
  // its postings hold every series it can match.
  std::optional<std::vector<int64_t>> seed;
  for (const auto& m : matchers) {
    if (m.Matches("")) continue;
    auto name_it = postings_.find(m.name());
    if (name_it == postings_.end()) return {};
    std::vector<int64_t> ids;
    if (m.type() == Type::kEqual) {
      auto v = name_it->second.find(m.value());
      if (v == name_it->second.end()) return {};
      ids = v->second;
    } else {
      std::vector<const std::vector<int64_t>*> lists;
      for (const auto& [value, list] : name_it->second) {
        if (m.Matches(value)) lists.push_back(&list);
      }
      ids = Union(lists);
    }
    if (!seed || ids.size() < seed->size()) seed = std::move(ids);
  }
  std::vector<int64_t> out;
  const auto consider = [&](int64_t id) {
    const Entry& e = series_[id - 1];
    if (MatchesDays(e, min_day, max_day) && query::MatchesAll(matchers, e.labels)) {
      out.push_back(id);
    }
  };
  if (seed) {
    for (int64_t id : *seed) consider(id);
  } else {
    for (size_t i = 0; i < series_.size(); ++i) consider(static_cast<int64_t>(i) + 1);
  }
  return out;
}

query::Labels SeriesIndex::LabelsOf(int64_t id) const {
  absl::ReaderMutexLock lock(&mu_);
  if (id < 1 || static_cast<size_t>(id) > series_.size()) return {};
  return series_[id - 1].labels;
}

std::vector<query::MetricMetadata> SeriesIndex::Metadata(std::string_view metric) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<query::MetricMetadata> out;
  for (const auto& [name, m] : metadata_) {
    if (metric.empty() || name == metric) out.push_back(m);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.metric < b.metric; });
  return out;
}

size_t SeriesIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return series_.size();
}

}  // namespace observex::storage
