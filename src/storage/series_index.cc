#include "storage/series_index.h"

#include <fcntl.h>
#include <unistd.h>

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
enum RecordType : uint8_t { kSeries = 1, kDay = 2, kMetadata = 3 };

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

// Sorted union of sorted id lists.
std::vector<int64_t> Union(const std::vector<const std::vector<int64_t>*>& lists) {
  std::vector<int64_t> out;
  for (const auto* l : lists) out.insert(out.end(), l->begin(), l->end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SeriesIndex>> SeriesIndex::Open(const std::filesystem::path& path,
                                                               bool fsync) {
  if (auto s = fileutil::CreateDirs(path.parent_path(), fsync); !s.ok()) return s;
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
    const char* p = body.data();
    const char* end = p + body.size();
    uint64_t id = 0;
    if (type == kSeries) {
      if (!GetVarint(&p, end, &id) || id != series + 1) break;
      ++series;
    } else if (type == kDay) {
      if (!GetVarint(&p, end, &id) || id < 1 || id > series) break;
    } else if (type != kMetadata) {
      break;
    }
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
  absl::MutexLock lock(&mu_);
  auto bytes = fileutil::ReadFile(path_, UINT64_MAX);
  if (!bytes.ok()) return bytes.status();
  const std::string& data = *bytes;
  size_t pos = 0;
  while (pos + kRecordHeader <= data.size()) {
    const uint32_t len = LoadFixed32(data.data() + pos);
    const uint32_t crc = LoadFixed32(data.data() + pos + 4);
    const uint8_t type = static_cast<uint8_t>(data[pos + 8]);
    if (len > kMaxRecordBody || pos + kRecordHeader + len > data.size()) break;
    std::string_view body(data.data() + pos + kRecordHeader, len);
    if (RecordCrc(type, body) != crc) break;
    const char* p = body.data();
    const char* end = p + body.size();
    bool ok = true;
    if (type == kSeries) {
      uint64_t id = 0, n = 0;
      ok = GetVarint(&p, end, &id) && GetVarint(&p, end, &n) && n < len;
      std::vector<query::Label> items;
      for (uint64_t i = 0; ok && i < n; ++i) {
        query::Label l;
        ok = GetString(&p, end, &l.name) && GetString(&p, end, &l.value);
        items.push_back(std::move(l));
      }
      // Ids are written in order; anything else is damage.
      ok = ok && id == series_.size() + 1;
      if (ok) AddSeries(static_cast<int64_t>(id), query::Labels(std::move(items)));
    } else if (type == kDay) {
      uint64_t id = 0, day = 0;
      ok = GetVarint(&p, end, &id) && GetVarint(&p, end, &day) && id >= 1 && id <= series_.size();
      if (ok) AddDay(series_[id - 1], static_cast<int32_t>(UnZigZag(day)));
    } else if (type == kMetadata) {
      query::MetricMetadata m;
      ok = GetString(&p, end, &m.metric) && GetString(&p, end, &m.type) &&
           GetString(&p, end, &m.help) && GetString(&p, end, &m.unit);
      if (ok) metadata_[m.metric] = std::move(m);
    } else {
      ok = false;
    }
    if (!ok) break;
    pos += kRecordHeader + len;
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

absl::Status SeriesIndex::WriteRecord(uint8_t type, const std::string& body) {
  std::string rec;
  rec.reserve(kRecordHeader + body.size());
  PutFixed32(&rec, static_cast<uint32_t>(body.size()));
  PutFixed32(&rec, RecordCrc(type, body));
  rec.push_back(static_cast<char>(type));
  rec.append(body);
  size_t done = 0;
  while (done < rec.size()) {
    const ssize_t w = ::pwrite(fd_.get(), rec.data() + done, rec.size() - done,
                               static_cast<off_t>(file_size_ + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // Leave no partial record behind for the next write to follow.
      if (::ftruncate(fd_.get(), static_cast<off_t>(file_size_)) != 0) {
        OBX_LOG_ERROR("series index {}: cannot cut a partial record", path_.string());
      }
      return fileutil::ErrnoStatus(err, "write", path_);
    }
    done += static_cast<size_t>(w);
  }
  file_size_ += rec.size();
  dirty_ = true;
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
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (ids[i] != 0) continue;
    if (labels[i]->empty()) return absl::InvalidArgumentError("a series needs at least one label");
    ids[i] = find(i);  // another writer may have added it meanwhile
    if (ids[i] != 0) continue;
    const int64_t id = static_cast<int64_t>(series_.size()) + 1;
    std::string body;
    PutVarint(&body, static_cast<uint64_t>(id));
    PutVarint(&body, labels[i]->size());
    for (const auto& l : labels[i]->items()) {
      PutString(&body, l.name);
      PutString(&body, l.value);
    }
    if (auto s = WriteRecord(kSeries, body); !s.ok()) return s;
    AddSeries(id, *labels[i]);
    ids[i] = id;
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
  absl::MutexLock lock(&mu_);
  for (int64_t id : ids) {
    if (known(id)) continue;
    std::string body;
    PutVarint(&body, static_cast<uint64_t>(id));
    PutVarint(&body, ZigZag(day));
    if (auto s = WriteRecord(kDay, body); !s.ok()) return s;
    AddDay(series_[id - 1], day);
  }
  return absl::OkStatus();
}

absl::Status SeriesIndex::UpdateMetadata(const std::vector<query::MetricMetadata>& families) {
  absl::MutexLock lock(&mu_);
  for (const auto& m : families) {
    auto it = metadata_.find(m.metric);
    if (it != metadata_.end() && it->second.type == m.type && it->second.help == m.help &&
        it->second.unit == m.unit) {
      continue;
    }
    std::string body;
    PutString(&body, m.metric);
    PutString(&body, m.type);
    PutString(&body, m.help);
    PutString(&body, m.unit);
    if (auto s = WriteRecord(kMetadata, body); !s.ok()) return s;
    metadata_[m.metric] = m;
  }
  return absl::OkStatus();
}

absl::Status SeriesIndex::Sync() {
  absl::MutexLock lock(&mu_);
  if (!dirty_ || !fsync_) return absl::OkStatus();
  if (auto s = fileutil::Fsync(fd_.get(), path_); !s.ok()) return s;
  dirty_ = false;
  return absl::OkStatus();
}

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
