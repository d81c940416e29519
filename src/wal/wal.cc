#include "wal/wal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "fmt/format.h"
#include "wal/format.h"

namespace observex::wal {
namespace {

using format::Fd;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What the live log knows about one segment file.
struct SegmentInfo {
  Lsn base = 0;
  // LSN span: for a sealed segment the next segment's base minus this base; for the active
  // one the bytes written and fsynced so far.
  uint64_t size = 0;
  bool has_entries = false;
  Lsn last_entry_lsn = 0;
  std::filesystem::path path;
};

// A sealed segment may go once nothing in it is at or above the checkpoint.
bool WhollyBelow(const SegmentInfo& s, Lsn checkpoint) {
  return s.base + s.size <= checkpoint || (s.has_entries && s.last_entry_lsn < checkpoint);
}

struct Waiter {
  Lsn lsn;
  Wal::AppendCallback done;
};

// Entries queued for one commit: their encoded bytes back to back, exactly as they go to
// disk, so a commit is one write of one buffer.
struct Batch {
  std::string bytes;
  std::vector<Waiter> waiters;
  Lsn first_lsn = 0;

  void Clear() {
    waiters.clear();
    // Keep the capacity for the next commit unless a burst left it mostly unused.
    constexpr size_t kShrinkAbove = 16u << 20;
    if (bytes.capacity() > kShrinkAbove && bytes.size() < bytes.capacity() / 4) {
      std::string().swap(bytes);
    } else {
      bytes.clear();
    }
  }
};

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

// Scans one listed segment with the limits its neighbour implies: a sealed segment owns
// exactly the LSNs up to the next segment's base, so bytes missing below that, or present
// beyond it, are reported as corrupt ranges too.
absl::Status ScanListed(int fd, const format::SegmentFile& seg, std::optional<Lsn> next_base,
                        Lsn emit_from, format::EntryFn on_entry, format::CorruptFn on_corrupt,
                        format::PositionFn on_position, format::SegmentScan* out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return format::ErrnoStatus(errno, "stat", seg.path);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint64_t limit = file_size;
  if (next_base) limit = std::min(file_size, *next_base - seg.base);
  format::ScanOptions opts;
  opts.newest = !next_base.has_value();
  opts.emit_from = emit_from;
  auto s = format::ScanSegment(fd, seg.path, seg.base, limit, opts, on_entry, on_corrupt,
                               on_position, out);
  if (!s.ok()) return s;
  if (next_base) {
    const uint64_t span = *next_base - seg.base;
    if (file_size < span) {
      ++out->corrupt_ranges;
      out->corrupt_bytes += span - file_size;
      on_corrupt(seg.base + file_size, *next_base, "segment file is shorter than its LSN span");
    } else if (file_size > span) {
      ++out->corrupt_ranges;
      out->corrupt_bytes += file_size - span;
      on_corrupt(*next_base, seg.base + file_size,
                 "segment file extends past the next segment's base");
    }
  }
  return absl::OkStatus();
}

class WalImpl final : public Wal {
 public:
  WalImpl(WalOptions options, Fd lock_fd)
      : options_(std::move(options)), lock_fd_(std::move(lock_fd)) {
    preallocate_ = options_.preallocate;
  }
  ~WalImpl() override { Close(); }

  absl::Status Recover(const RecoveryProgress& progress, RecoveryReport* report);
  void Start() {
    thread_ = std::thread([this] { CommitLoop(); });
  }

  void AppendAsync(std::string payload, int64_t timestamp_unix_nanos, AppendCallback done) override;
  bool HasRoomFor(uint64_t bytes) const override;
  absl::Status Checkpoint(Lsn lsn) override;
  absl::Status Replay(Lsn from,
                      absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn) override;
  WalStats stats() const override;
  void Close() override;

 private:
  absl::Status AdmitLocked(uint64_t entry_bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t UncheckpointedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Commit thread (or Open/Close while it is not running).
  void CommitLoop();
  absl::Status WriteBatch(const Batch& batch);
  absl::Status Rotate(Lsn new_base);
  absl::Status SealActive();
  absl::Status CreateSegment(Lsn base);
  void Preallocate();
  absl::Status DeleteFiles(const std::vector<std::filesystem::path>& paths);

  const WalOptions options_;
  Fd lock_fd_;  // holds flock(LOCK) for the Wal's lifetime

  // Owned by the commit thread while it runs.
  Fd active_fd_;
  std::filesystem::path active_path_;
  uint64_t active_size_ = 0;       // bytes written to the active segment
  uint64_t active_file_size_ = 0;  // its size on disk, larger while preallocated
  bool preallocate_ = true;
  Batch inflight_;
  Clock::time_point last_slow_warning_{};

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;  // signalled when `filling_` becomes non-empty or on close
  Batch filling_ ABSL_GUARDED_BY(mu_);
  Lsn next_lsn_ ABSL_GUARDED_BY(mu_) = 0;     // LSN of the next accepted entry
  Lsn durable_lsn_ ABSL_GUARDED_BY(mu_) = 0;  // end of the last fsynced commit
  Lsn checkpoint_lsn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // filling_ + the commit in flight
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);  // sticky: set by the first write/fsync error
  std::deque<SegmentInfo> segments_ ABSL_GUARDED_BY(mu_);  // back() is the active segment
  std::thread::id commit_thread_id_ ABSL_GUARDED_BY(mu_);

  absl::Mutex checkpoint_mu_;  // one checkpoint file write + deletion at a time

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
  std::thread thread_;
};

// ---- Recovery ------------------------------------------------------------------------------

absl::Status WalImpl::Recover(const RecoveryProgress& progress, RecoveryReport* report) {
  const auto& dir = options_.dir;
  RecoveryReport rep;

  Lsn checkpoint = 0;
  auto ck = format::ReadCheckpointFile(dir);
  if (!ck.ok()) {
    OBX_LOG_WARN("{}; ignoring it and replaying from the oldest segment",
                 Str(ck.status().message()));
  } else if (ck->has_value()) {
    checkpoint = **ck;
  }
  std::error_code ec;
  std::filesystem::remove(dir / format::kCheckpointTmpFileName, ec);

  auto listed = format::ListSegments(dir);
  if (!listed.ok()) return listed.status();
  std::vector<format::SegmentFile> segs = std::move(*listed);

  // A crash between persisting a checkpoint and deleting the segments below it leaves them
  // behind; they need no scan.
  std::vector<std::filesystem::path> doomed;
  size_t first = 0;
  while (first + 1 < segs.size() && segs[first + 1].base <= checkpoint) {
    doomed.push_back(segs[first].path);
    ++first;
  }
  segs.erase(segs.begin(), segs.begin() + static_cast<ptrdiff_t>(first));

  uint64_t total = 0;
  for (const auto& s : segs) total += s.size;
  if (total > 0) {
    OBX_LOG_INFO("wal: recovering {} segment(s), {} bytes, in {}", segs.size(), total,
                 dir.string());
  }
  uint64_t scanned_before = 0;
  uint64_t next_report = format::kProgressStepBytes;
  auto report_progress = [&](uint64_t done) {
    if (done < next_report) return;
    while (next_report <= done) next_report += format::kProgressStepBytes;
    if (progress) progress(done, total, rep.entries);
    if (total >= 4 * format::kProgressStepBytes) {
      OBX_LOG_INFO("wal: recovery at {} of {} bytes, {} entries", done, total, rep.entries);
    }
  };

  std::deque<SegmentInfo> infos;
  Fd newest_fd;
  uint64_t newest_good_end = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    const auto& seg = segs[i];
    const bool newest = i + 1 == segs.size();
    Fd fd(::open(seg.path.c_str(), (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (!fd.valid()) return format::ErrnoStatus(errno, "open", seg.path);
    std::optional<Lsn> next_base;
    if (!newest) next_base = segs[i + 1].base;
    format::SegmentScan scan;
    auto s = ScanListed(
        fd.get(), seg, next_base, /*emit_from=*/0,
        [&](Lsn, int64_t, std::string_view) {
          ++rep.entries;
          return absl::OkStatus();
        },
        [&](Lsn begin, Lsn end, std::string_view reason) {
          OBX_LOG_WARN("wal: skipping corrupt LSN range [{}, {}) ({} bytes) in {}: {}", begin, end,
                       end - begin, seg.path.string(), reason);
          ++rep.corrupt_ranges;
          rep.corrupt_bytes += end - begin;
          if (options_.observer != nullptr) options_.observer->OnCorruptBytes(end - begin);
        },
        [&](uint64_t offset) { report_progress(scanned_before + offset); }, &scan);
    if (!s.ok()) return s;
    scanned_before += seg.size;
    report_progress(scanned_before);
    ++rep.segments;

    SegmentInfo info;
    info.base = seg.base;
    info.has_entries = scan.has_entries;
    info.last_entry_lsn = scan.last_entry_lsn;
    info.path = seg.path;
    if (newest) {
      info.size = scan.good_end;
      newest_good_end = scan.good_end;
      if (seg.size > scan.good_end) {
        if (scan.torn_bytes > 0) {
          OBX_LOG_WARN(
              "wal: truncating torn tail of {} at offset {} ({} bytes of data after "
              "the last good entry)",
              seg.path.string(), scan.good_end, scan.torn_bytes);
        }
        if (::ftruncate(fd.get(), static_cast<off_t>(scan.good_end)) != 0) {
          return format::ErrnoStatus(errno, "truncate", seg.path);
        }
        if (options_.fsync && ::fsync(fd.get()) != 0) {
          return format::ErrnoStatus(errno, "fsync", seg.path);
        }
        rep.truncated_tail_bytes = scan.torn_bytes;
      }
      newest_fd = std::move(fd);
    } else {
      info.size = *next_base - seg.base;
    }
    rep.bytes += info.size;
    infos.push_back(std::move(info));
  }

  Lsn next = checkpoint;
  if (!infos.empty()) next = infos.back().base + infos.back().size;
  if (checkpoint > next) {
    OBX_LOG_WARN(
        "wal: checkpoint LSN {} is beyond the end of the log ({}) in {}; appending "
        "from the checkpoint",
        checkpoint, next, dir.string());
    next = checkpoint;
  }

  // Keep appending to the newest segment when it ends exactly where the log does.
  if (!infos.empty() && infos.back().base + infos.back().size == next) {
    active_fd_ = std::move(newest_fd);
    active_path_ = infos.back().path;
    active_size_ = newest_good_end;
    active_file_size_ = newest_good_end;
    {
      absl::MutexLock l(&mu_);
      segments_ = std::move(infos);
    }
    Preallocate();
  } else {
    newest_fd.reset();
    {
      absl::MutexLock l(&mu_);
      segments_ = std::move(infos);
    }
    if (auto s = CreateSegment(next); !s.ok()) return s;
  }

  {
    absl::MutexLock l(&mu_);
    next_lsn_ = next;
    durable_lsn_ = next;
    checkpoint_lsn_ = checkpoint;
    while (segments_.size() > 1 && WhollyBelow(segments_.front(), checkpoint)) {
      doomed.push_back(segments_.front().path);
      segments_.pop_front();
    }
  }
  if (auto s = DeleteFiles(doomed); !s.ok()) return s;

  rep.next_lsn = next;
  if (progress) progress(total, total, rep.entries);
  if (total > 0 || rep.corrupt_ranges > 0) {
    OBX_LOG_INFO(
        "wal: recovered {} entries in {} segment(s) of {}; next LSN {}, checkpoint "
        "{}, {} corrupt range(s) ({} bytes) skipped, {} torn tail bytes truncated",
        rep.entries, rep.segments, dir.string(), rep.next_lsn, checkpoint, rep.corrupt_ranges,
        rep.corrupt_bytes, rep.truncated_tail_bytes);
  }
  if (report != nullptr) *report = rep;
  return absl::OkStatus();
}

absl::Status WalImpl::DeleteFiles(const std::vector<std::filesystem::path>& paths) {
  if (paths.empty()) return absl::OkStatus();
  absl::Status first_error;
  for (const auto& p : paths) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      auto s = format::ErrnoStatus(errno, "delete", p);
      OBX_LOG_WARN("{}", Str(s.message()));
      if (first_error.ok()) first_error = s;
    }
  }
  if (options_.fsync) {
    if (auto s = format::FsyncDir(options_.dir); !s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

// ---- Segment files (commit thread) ---------------------------------------------------------

void WalImpl::Preallocate() {
  if (!preallocate_ || active_file_size_ >= options_.segment_bytes) return;
  const int r = ::fallocate(active_fd_.get(), 0, static_cast<off_t>(active_file_size_),
                            static_cast<off_t>(options_.segment_bytes - active_file_size_));
  if (r == 0) {
    active_file_size_ = options_.segment_bytes;
    return;
  }
  const int err = errno;
  if (err == EOPNOTSUPP || err == ENOSYS) {
    OBX_LOG_DEBUG("wal: {} does not support fallocate; segments grow as written",
                  options_.dir.string());
  } else {
    OBX_LOG_WARN("wal: preallocating {} failed ({}); segments grow as written",
                 active_path_.string(), std::system_category().message(err));
  }
  preallocate_ = false;
}

absl::Status WalImpl::CreateSegment(Lsn base) {
  auto path = options_.dir / format::SegmentFileName(base);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return format::ErrnoStatus(errno, "create", path);
  active_fd_ = std::move(fd);
  active_path_ = path;
  active_size_ = 0;
  active_file_size_ = 0;
  Preallocate();
  if (options_.fsync) {
    if (auto s = format::FsyncDir(options_.dir); !s.ok()) return s;
  }
  SegmentInfo info;
  info.base = base;
  info.path = std::move(path);
  absl::MutexLock l(&mu_);
  segments_.push_back(std::move(info));
  return absl::OkStatus();
}

// Cuts the zero-filled preallocation so a sealed segment ends at its last entry.
absl::Status WalImpl::SealActive() {
  if (!active_fd_.valid()) return absl::OkStatus();
  if (active_file_size_ > active_size_) {
    if (::ftruncate(active_fd_.get(), static_cast<off_t>(active_size_)) != 0) {
      return format::ErrnoStatus(errno, "truncate", active_path_);
    }
    active_file_size_ = active_size_;
    if (options_.fsync && ::fsync(active_fd_.get()) != 0) {
      return format::ErrnoStatus(errno, "fsync", active_path_);
    }
  }
  active_fd_.reset();
  return absl::OkStatus();
}

absl::Status WalImpl::Rotate(Lsn new_base) {
  if (auto s = SealActive(); !s.ok()) return s;
  return CreateSegment(new_base);
}

absl::Status WalImpl::WriteBatch(const Batch& batch) {
  const uint64_t n = batch.bytes.size();
  Lsn active_base;
  {
    absl::MutexLock l(&mu_);
    active_base = segments_.back().base;
  }
  if (active_base + active_size_ != batch.first_lsn) {
    return absl::InternalError(
        fmt::format("wal: commit at LSN {} does not continue the active "
                    "segment {} (ends at {})",
                    batch.first_lsn, active_path_.string(), active_base + active_size_));
  }
  if (active_size_ > 0 && active_size_ + n > options_.segment_bytes) {
    if (auto s = Rotate(batch.first_lsn); !s.ok()) return s;
  }
  const auto t0 = Clock::now();
  if (auto s =
          format::PwriteAll(active_fd_.get(), batch.bytes.data(), n, active_size_, active_path_);
      !s.ok()) {
    return s;
  }
  const double write_seconds = SecondsSince(t0);
  if (options_.observer != nullptr) options_.observer->OnWrite(write_seconds, n);
  if (options_.fsync) {
    const auto t1 = Clock::now();
    if (::fdatasync(active_fd_.get()) != 0) {
      return format::ErrnoStatus(errno, "fdatasync", active_path_);
    }
    if (options_.observer != nullptr) {
      options_.observer->OnFsync(SecondsSince(t1), batch.waiters.size());
    }
  }
  active_size_ += n;
  active_file_size_ = std::max(active_file_size_, active_size_);
  {
    absl::MutexLock l(&mu_);
    durable_lsn_ = batch.first_lsn + n;
    SegmentInfo& seg = segments_.back();
    seg.size = active_size_;
    seg.has_entries = true;
    seg.last_entry_lsn = batch.waiters.back().lsn;
  }
  // The window is the promised bound on an entry's wait; a commit that alone exceeds it
  // means the disk is slower than the configuration assumes.
  const auto elapsed = Clock::now() - t0;
  if (elapsed > absl::ToChronoNanoseconds(options_.group_commit_window) &&
      Clock::now() - last_slow_warning_ > std::chrono::seconds(10)) {
    last_slow_warning_ = Clock::now();
    OBX_LOG_WARN(
        "wal: a commit of {} bytes took {:.1f} ms, longer than the group commit "
        "window of {} ms",
        n, std::chrono::duration<double, std::milli>(elapsed).count(),
        absl::ToDoubleMilliseconds(options_.group_commit_window));
  }
  return absl::OkStatus();
}

// Leader/follower group commit: whatever queued while the previous commit's fdatasync ran
// becomes the next commit, started at once; no commit waits for more entries to arrive.
void WalImpl::CommitLoop() {
  mu_.Lock();
  commit_thread_id_ = std::this_thread::get_id();
  for (;;) {
    while (filling_.waiters.empty() && !closing_) work_cv_.Wait(&mu_);
    if (filling_.waiters.empty()) break;  // closing and drained
    std::swap(filling_, inflight_);
    absl::Status status = failed_;
    mu_.Unlock();

    if (status.ok()) status = WriteBatch(inflight_);

    mu_.Lock();
    pending_bytes_ -= inflight_.bytes.size();
    if (!status.ok() && failed_.ok()) {
      failed_ = status;
      OBX_LOG_ERROR("{}; the WAL refuses appends until restarted", Str(status.message()));
    }
    mu_.Unlock();

    for (Waiter& w : inflight_.waiters) {
      if (status.ok()) {
        std::move(w.done)(w.lsn);
      } else {
        std::move(w.done)(status);
      }
    }
    inflight_.Clear();
    mu_.Lock();
  }
  mu_.Unlock();
}

// ---- Public operations ---------------------------------------------------------------------

uint64_t WalImpl::UncheckpointedLocked() const {
  Lsn floor = checkpoint_lsn_;
  if (!segments_.empty()) floor = std::max(floor, segments_.front().base);
  return next_lsn_ > floor ? next_lsn_ - floor : 0;
}

absl::Status WalImpl::AdmitLocked(uint64_t entry_bytes) const {
  if (closing_) {
    return absl::FailedPreconditionError(fmt::format("wal: {} is closed", options_.dir.string()));
  }
  if (!failed_.ok()) return failed_;
  if (pending_bytes_ + entry_bytes > options_.max_pending_bytes) {
    return absl::ResourceExhaustedError(
        fmt::format("wal: max_pending_bytes budget full: {} bytes queued + {} would exceed {}",
                    pending_bytes_, entry_bytes, options_.max_pending_bytes));
  }
  const uint64_t unckpt = UncheckpointedLocked();
  if (unckpt + entry_bytes > options_.max_uncheckpointed_bytes) {
    return absl::ResourceExhaustedError(fmt::format(
        "wal: max_uncheckpointed_bytes budget full: {} bytes since checkpoint LSN {} + {} "
        "would exceed {}",
        unckpt, checkpoint_lsn_, entry_bytes, options_.max_uncheckpointed_bytes));
  }
  return absl::OkStatus();
}

void WalImpl::AppendAsync(std::string payload, int64_t timestamp_unix_nanos, AppendCallback done) {
  if (payload.size() > kMaxEntryPayloadBytes) {
    std::move(done)(absl::InvalidArgumentError(
        fmt::format("wal: payload of {} bytes exceeds the entry maximum of {}", payload.size(),
                    kMaxEntryPayloadBytes)));
    return;
  }
  // The checksum does not depend on the LSN, so it is computed before taking the lock.
  const uint32_t crc = format::EntryCrc(timestamp_unix_nanos, payload);
  char header[kEntryHeaderBytes];
  format::EncodeEntryHeader(header, static_cast<uint32_t>(payload.size()), crc,
                            timestamp_unix_nanos);
  const uint64_t n = kEntryHeaderBytes + payload.size();
  absl::Status refusal;
  {
    absl::MutexLock l(&mu_);
    refusal = AdmitLocked(n);
    if (refusal.ok()) {
      const Lsn lsn = next_lsn_;
      next_lsn_ += n;
      pending_bytes_ += n;
      if (filling_.waiters.empty()) {
        filling_.first_lsn = lsn;
        work_cv_.Signal();
      }
      filling_.bytes.append(header, sizeof(header));
      filling_.bytes.append(payload);
      filling_.waiters.push_back(Waiter{lsn, std::move(done)});
      return;
    }
  }
  std::move(done)(std::move(refusal));
}

bool WalImpl::HasRoomFor(uint64_t bytes) const {
  if (bytes > kMaxEntryPayloadBytes) return false;
  absl::MutexLock l(&mu_);
  return AdmitLocked(kEntryHeaderBytes + bytes).ok();
}

absl::Status WalImpl::Checkpoint(Lsn lsn) {
  absl::MutexLock ck(&checkpoint_mu_);
  {
    absl::MutexLock l(&mu_);
    if (lsn > next_lsn_) {
      return absl::InvalidArgumentError(
          fmt::format("wal: checkpoint LSN {} is beyond the end of the log ({})", lsn, next_lsn_));
    }
    if (lsn <= checkpoint_lsn_) return absl::OkStatus();
  }
  // Persist first: a crash before the deletions below only leaves files that the next
  // Open deletes; the other order could lose the checkpoint and keep a gap.
  if (auto s = format::WriteCheckpointFile(options_.dir, lsn, options_.fsync); !s.ok()) {
    return s;
  }
  std::vector<std::filesystem::path> doomed;
  {
    absl::MutexLock l(&mu_);
    checkpoint_lsn_ = lsn;
    while (segments_.size() > 1 && WhollyBelow(segments_.front(), lsn)) {
      doomed.push_back(segments_.front().path);
      segments_.pop_front();
    }
  }
  return DeleteFiles(doomed);
}

absl::Status WalImpl::Replay(Lsn from,
                             absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn) {
  std::vector<SegmentInfo> segs;
  {
    absl::MutexLock l(&mu_);
    segs.assign(segments_.begin(), segments_.end());
  }
  for (const SegmentInfo& seg : segs) {
    if (seg.base + seg.size <= from || seg.size == 0) continue;
    if (seg.has_entries && seg.last_entry_lsn < from) continue;
    Fd fd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      if (err == ENOENT) {
        absl::MutexLock l(&mu_);
        if (segments_.empty() || segments_.front().base > seg.base) continue;  // checkpointed away
      }
      return format::ErrnoStatus(err, "open", seg.path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return format::ErrnoStatus(errno, "stat", seg.path);
    // Only what the segment held when the snapshot was taken: fsynced, and never again
    // written, so concurrent appends beyond it do not matter.
    const uint64_t limit = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), seg.size);
    format::ScanOptions opts;
    opts.emit_from = from;
    // Resume at `from` when it lies inside this segment: a tailing consumer asks for the
    // entry after the last one it read, and re-reading the segment's head would make each
    // poll cost the whole segment.
    if (from > seg.base) opts.start_offset = from - seg.base;
    format::SegmentScan scan;
    auto s = format::ScanSegment(
        fd.get(), seg.path, seg.base, limit, opts, fn,
        [&](Lsn begin, Lsn end, std::string_view reason) {
          OBX_LOG_DEBUG("wal: replay skips corrupt LSN range [{}, {}) in {}: {}", begin, end,
                        seg.path.string(), reason);
        },
        [](uint64_t) {}, &scan);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

WalStats WalImpl::stats() const {
  absl::MutexLock l(&mu_);
  WalStats s;
  s.next_lsn = next_lsn_;
  s.checkpoint_lsn = checkpoint_lsn_;
  s.uncheckpointed_bytes = UncheckpointedLocked();
  s.pending_bytes = pending_bytes_;
  s.segments = segments_.size();
  return s;
}

void WalImpl::Close() {
  {
    absl::MutexLock l(&mu_);
    if (std::this_thread::get_id() == commit_thread_id_) {
      // From a callback: the commit thread cannot join itself. Stop accepting; it drains
      // and exits, and the destructor's Close joins it.
      closing_ = true;
      return;
    }
  }
  absl::MutexLock c(&close_mu_);
  if (closed_) return;
  {
    absl::MutexLock l(&mu_);
    closing_ = true;
    work_cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
  // A clean shutdown leaves the active segment at its exact size, no zero fill.
  if (active_fd_.valid() && active_file_size_ > active_size_) {
    if (::ftruncate(active_fd_.get(), static_cast<off_t>(active_size_)) != 0 ||
        (options_.fsync && ::fsync(active_fd_.get()) != 0)) {
      OBX_LOG_WARN("wal: trimming {} on close failed: {}", active_path_.string(),
                   std::system_category().message(errno));
    } else {
      active_file_size_ = active_size_;
    }
  }
  active_fd_.reset();
  closed_ = true;
}

// Shared by VerifyDir and ReadDir: scans every segment, the newest one with torn-tail
// rules, modifying nothing.
absl::Status ScanDirReadOnly(const std::filesystem::path& dir, format::EntryFn fn,
                             VerifyReport* rep) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(fmt::format("wal: {} is not a directory", dir.string()));
  }
  auto ck = format::ReadCheckpointFile(dir);
  if (!ck.ok()) {
    OBX_LOG_WARN("{}", Str(ck.status().message()));
  } else if (ck->has_value()) {
    rep->checkpoint_lsn = **ck;
  }
  auto segs = format::ListSegments(dir);
  if (!segs.ok()) return segs.status();
  for (size_t i = 0; i < segs->size(); ++i) {
    const auto& seg = (*segs)[i];
    Fd fd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return format::ErrnoStatus(errno, "open", seg.path);
    std::optional<Lsn> next_base;
    if (i + 1 < segs->size()) next_base = (*segs)[i + 1].base;
    format::SegmentScan scan;
    auto s = ScanListed(
        fd.get(), seg, next_base, 0, fn,
        [&](Lsn begin, Lsn end, std::string_view reason) {
          OBX_LOG_WARN("wal: corrupt LSN range [{}, {}) ({} bytes) in {}: {}", begin, end,
                       end - begin, seg.path.string(), reason);
        },
        [](uint64_t) {}, &scan);
    if (!s.ok()) return s;
    ++rep->segments;
    rep->entries += scan.entries;
    rep->bytes += next_base ? *next_base - seg.base : scan.good_end;
    rep->corrupt_ranges += scan.corrupt_ranges;
    rep->corrupt_bytes += scan.corrupt_bytes;
    rep->torn_tail_bytes += scan.torn_bytes;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(WalOptions options, RecoveryProgress progress,
                                               RecoveryReport* report) {
  if (options.dir.empty()) return absl::InvalidArgumentError("wal: options.dir is empty");
  if (options.segment_bytes == 0) {
    return absl::InvalidArgumentError("wal: options.segment_bytes must be positive");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("wal: cannot create {}: {}", options.dir.string(), ec.message()));
  }
  const auto lock_path = options.dir / format::kLockFileName;
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) return format::ErrnoStatus(errno, "open", lock_path);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(fmt::format(
          "wal: {} is in use by another open Wal (its LOCK file is held)", options.dir.string()));
    }
    return format::ErrnoStatus(errno, "lock", lock_path);
  }
  auto wal = std::make_unique<WalImpl>(std::move(options), std::move(lock));
  if (auto s = wal->Recover(progress, report); !s.ok()) return s;
  wal->Start();
  return std::unique_ptr<Wal>(std::move(wal));
}

absl::StatusOr<Lsn> Wal::Append(std::string payload, int64_t timestamp_unix_nanos) {
  absl::Notification done;
  absl::StatusOr<Lsn> result;
  AppendAsync(std::move(payload), timestamp_unix_nanos, [&](absl::StatusOr<Lsn> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

absl::StatusOr<VerifyReport> VerifyDir(const std::filesystem::path& dir) {
  VerifyReport rep;
  auto s = ScanDirReadOnly(
      dir, [](Lsn, int64_t, std::string_view) { return absl::OkStatus(); }, &rep);
  if (!s.ok()) return s;
  return rep;
}

absl::Status ReadDir(const std::filesystem::path& dir,
                     absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn) {
  VerifyReport rep;
  return ScanDirReadOnly(dir, fn, &rep);
}

}  // namespace observex::wal
