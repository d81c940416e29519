#include "wal/wal.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace observex::wal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kTs0 = 0x0102030405060708;

// Deterministic payload with no zero byte and no copy of the entry magic (consecutive bytes
// always differ by 7 mod 251, and the magic's bytes do not).
std::string Payload(uint32_t i, size_t n) {
  std::string s(n, '\0');
  for (size_t k = 0; k < n; ++k) s[k] = static_cast<char>(1 + (i * 31 + k * 7) % 251);
  return s;
}
size_t SizeFor(uint32_t i) { return 10 + (i * 37) % 120; }

struct Entry {
  Lsn lsn;
  int64_t ts;
  std::string payload;
  bool operator==(const Entry&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Entry& e) {
  return os << "{lsn=" << e.lsn << " ts=" << e.ts << " len=" << e.payload.size() << "}";
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void WriteFile(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<fs::path> SegmentPaths(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out[e.path().filename().string()] = ReadFile(e.path());
  }
  return out;
}

std::vector<Entry> ReplayAll(Wal& wal, Lsn from = 0) {
  std::vector<Entry> out;
  absl::Status s = wal.Replay(from, [&](Lsn lsn, int64_t ts, std::string_view p) {
    out.push_back(Entry{lsn, ts, std::string(p)});
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

class CountingObserver : public WalObserver {
 public:
  void OnWrite(double seconds, uint64_t bytes) override {
    writes++;
    written_bytes += bytes;
  }
  void OnFsync(double seconds, uint64_t entries) override {
    fsyncs++;
    fsynced_entries += entries;
  }
  void OnCorruptBytes(uint64_t bytes) override { corrupt_bytes += bytes; }
  std::atomic<uint64_t> writes{0}, written_bytes{0}, fsyncs{0}, fsynced_entries{0},
      corrupt_bytes{0};
};

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obx_wal_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ / "wal";
  }
  void TearDown() override { fs::remove_all(root_); }

  WalOptions Options(const fs::path& dir) const {
    WalOptions o;
    o.dir = dir;
    o.segment_bytes = 1024;
    o.fsync = false;
    o.preallocate = false;
    return o;
  }
  WalOptions Options() const { return Options(dir_); }

  std::unique_ptr<Wal> OpenOk(WalOptions o, RecoveryReport* report = nullptr,
                              RecoveryProgress progress = nullptr) {
    auto w = Wal::Open(std::move(o), std::move(progress), report);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }

  // Appends entries [first, first + n) one at a time; returns what was written.
  std::vector<Entry> AppendMany(Wal& wal, uint32_t first, uint32_t n) {
    std::vector<Entry> out;
    for (uint32_t i = first; i < first + n; ++i) {
      Entry e{0, kTs0 + i, Payload(i, SizeFor(i))};
      auto lsn = wal.Append(e.payload, e.ts);
      EXPECT_TRUE(lsn.ok()) << lsn.status();
      if (!lsn.ok()) break;
      e.lsn = *lsn;
      out.push_back(e);
    }
    return out;
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(WalTest, AppendReplayRoundTripAcrossSegmentRotation) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 200);
    ASSERT_EQ(written.size(), 200u);
    EXPECT_EQ(written[0].lsn, 0u);
    for (size_t i = 1; i < written.size(); ++i) {
      EXPECT_EQ(written[i].lsn,
                written[i - 1].lsn + kEntryHeaderBytes + written[i - 1].payload.size());
    }
    EXPECT_EQ(ReplayAll(*wal), written);
    const WalStats st = wal->stats();
    EXPECT_EQ(st.next_lsn, written.back().lsn + kEntryHeaderBytes + written.back().payload.size());
    EXPECT_GT(st.segments, 5u);
    EXPECT_EQ(st.segments, SegmentPaths(dir_).size());
    EXPECT_EQ(st.pending_bytes, 0u);
    EXPECT_EQ(st.uncheckpointed_bytes, st.next_lsn);

    // From the middle, and from just past an entry's first byte.
    std::vector<Entry> tail(written.begin() + 120, written.end());
    EXPECT_EQ(ReplayAll(*wal, written[120].lsn), tail);
    tail.erase(tail.begin());
    EXPECT_EQ(ReplayAll(*wal, written[120].lsn + 1), tail);
    EXPECT_TRUE(ReplayAll(*wal, st.next_lsn).empty());
  }
  // Segment files are named by their first LSN and hold whole entries.
  const auto paths = SegmentPaths(dir_);
  for (size_t i = 0; i + 1 < paths.size(); ++i) {
    const Lsn base = std::stoull(paths[i].stem().string());
    const Lsn next = std::stoull(paths[i + 1].stem().string());
    EXPECT_EQ(fs::file_size(paths[i]), next - base) << paths[i];
    EXPECT_LE(fs::file_size(paths[i]), 1024u) << paths[i];
  }

  RecoveryReport rep;
  auto wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(rep.entries, 200u);
  EXPECT_EQ(rep.segments, paths.size());
  EXPECT_EQ(rep.corrupt_ranges, 0u);
  EXPECT_EQ(rep.truncated_tail_bytes, 0u);
  EXPECT_EQ(rep.next_lsn, wal->stats().next_lsn);
  EXPECT_EQ(ReplayAll(*wal), written);
  auto more = AppendMany(*wal, 200, 3);
  ASSERT_EQ(more.size(), 3u);
  EXPECT_EQ(more[0].lsn, rep.next_lsn);
  written.insert(written.end(), more.begin(), more.end());
  EXPECT_EQ(ReplayAll(*wal), written);
}

TEST_F(WalTest, EmptyPayloadAndFsyncAndPreallocationRoundTrip) {
  WalOptions o = Options();
  o.fsync = true;
  o.preallocate = true;
  o.segment_bytes = 4096;
  std::vector<Entry> written;
  {
    auto wal = OpenOk(o);
    ASSERT_NE(wal, nullptr);
    auto lsn = wal->Append("", -5);
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    written.push_back(Entry{*lsn, -5, ""});
    auto more = AppendMany(*wal, 1, 100);
    written.insert(written.end(), more.begin(), more.end());
    EXPECT_EQ(ReplayAll(*wal), written);
  }
  // A clean close leaves no zero fill behind, so the offline verifier sees a clean log.
  auto v = VerifyDir(dir_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->entries, written.size());
  EXPECT_EQ(v->corrupt_ranges, 0u);
  EXPECT_EQ(v->torn_tail_bytes, 0u);
  const auto paths = SegmentPaths(dir_);
  EXPECT_EQ(fs::file_size(paths.back()) + std::stoull(paths.back().stem().string()),
            written.back().lsn + kEntryHeaderBytes + written.back().payload.size());
  RecoveryReport rep;
  auto wal = OpenOk(o, &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(rep.truncated_tail_bytes, 0u);
  EXPECT_EQ(ReplayAll(*wal), written);
}

TEST_F(WalTest, CrashWithPreallocatedSegmentRecoversAllAcknowledgedEntries) {
  WalOptions o = Options();
  o.preallocate = true;
  o.segment_bytes = 64 << 10;
  auto wal = OpenOk(o);
  ASSERT_NE(wal, nullptr);
  auto written = AppendMany(*wal, 0, 50);
  // Copying the files while the Wal is open is what a kill -9 leaves behind: acknowledged
  // bytes followed by the zero-filled rest of the preallocated segment.
  const fs::path copy = root_ / "crashed";
  fs::create_directories(copy);
  for (const auto& p : SegmentPaths(dir_)) fs::copy_file(p, copy / p.filename());
  ASSERT_EQ(fs::file_size(SegmentPaths(copy).back()), 64u << 10);

  RecoveryReport rep;
  auto recovered = OpenOk(Options(copy), &rep);
  ASSERT_NE(recovered, nullptr);
  EXPECT_EQ(rep.entries, 50u);
  EXPECT_EQ(rep.truncated_tail_bytes, 0u) << "zero fill is not a torn write";
  EXPECT_EQ(rep.corrupt_ranges, 0u);
  EXPECT_EQ(ReplayAll(*recovered), written);
  EXPECT_EQ(fs::file_size(SegmentPaths(copy).back()), wal->stats().next_lsn);
}

TEST_F(WalTest, ReplayStopsAtTheCallbacksError) {
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  AppendMany(*wal, 0, 10);
  int calls = 0;
  absl::Status s = wal->Replay(0, [&](Lsn, int64_t, std::string_view) {
    return ++calls == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 3);
}

TEST_F(WalTest, ConcurrentAppendsAreEachAcknowledgedOnceInLsnOrder) {
  WalOptions o = Options();
  o.fsync = true;
  o.preallocate = true;
  o.segment_bytes = 64 << 10;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 400;
  struct Ack {
    int thread;
    int seq;
    Lsn lsn;
  };
  std::mutex mu;
  std::vector<Ack> acks;  // in callback order
  std::atomic<int> failures{0};
  {
    auto wal = OpenOk(o);
    ASSERT_NE(wal, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string payload = std::to_string(t) + ":" + std::to_string(i) + ":" +
                                Payload(static_cast<uint32_t>(i), 1 + (i % 200));
          wal->AppendAsync(std::move(payload), kTs0 + i, [&, t, i](absl::StatusOr<Lsn> r) {
            if (!r.ok()) {
              failures++;
              return;
            }
            std::lock_guard<std::mutex> l(mu);
            acks.push_back(Ack{t, i, *r});
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    wal->Close();
  }
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(acks.size(), static_cast<size_t>(kThreads * kPerThread));
  std::map<std::pair<int, int>, Lsn> by_entry;
  std::vector<int> next_seq(kThreads, 0);
  for (size_t i = 0; i < acks.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(acks[i].lsn, acks[i - 1].lsn) << "callbacks run in LSN order";
    }
    EXPECT_EQ(acks[i].seq, next_seq[acks[i].thread]++) << "a thread's entries keep its order";
    EXPECT_TRUE(by_entry.emplace(std::make_pair(acks[i].thread, acks[i].seq), acks[i].lsn).second);
  }

  auto wal = OpenOk(o);
  ASSERT_NE(wal, nullptr);
  auto replayed = ReplayAll(*wal);
  ASSERT_EQ(replayed.size(), acks.size());
  for (const Entry& e : replayed) {
    const size_t c1 = e.payload.find(':');
    const size_t c2 = e.payload.find(':', c1 + 1);
    const int t = std::stoi(e.payload.substr(0, c1));
    const int i = std::stoi(e.payload.substr(c1 + 1, c2 - c1 - 1));
    EXPECT_EQ(by_entry.at({t, i}), e.lsn);
    EXPECT_EQ(e.ts, kTs0 + i);
    EXPECT_EQ(e.payload.substr(c2 + 1), Payload(static_cast<uint32_t>(i), 1 + (i % 200)));
  }
}

TEST_F(WalTest, TornLastEntryIsTruncatedAtEveryOffset) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 6);  // 6 small entries: one segment
  }
  const auto paths = SegmentPaths(dir_);
  ASSERT_EQ(paths.size(), 1u);
  const std::string full = ReadFile(paths[0]);
  const Entry& last = written.back();
  const size_t start = last.lsn;
  ASSERT_EQ(full.size(), start + kEntryHeaderBytes + last.payload.size());
  const std::vector<Entry> kept(written.begin(), written.end() - 1);

  for (size_t cut = start; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const fs::path d = root_ / ("torn" + std::to_string(cut));
    fs::create_directories(d);
    WriteFile(d / paths[0].filename(), full.substr(0, cut));
    RecoveryReport rep;
    auto wal = OpenOk(Options(d), &rep);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(rep.entries, kept.size());
    EXPECT_EQ(rep.corrupt_ranges, 0u);
    const size_t nonzero_end = full.substr(0, cut).find_last_not_of('\0') + 1;
    EXPECT_EQ(rep.truncated_tail_bytes, std::max(nonzero_end, start) - start);
    EXPECT_EQ(rep.next_lsn, start);
    EXPECT_EQ(fs::file_size(d / paths[0].filename()), start);
    EXPECT_EQ(ReplayAll(*wal), kept);
    auto lsn = wal->Append(last.payload, last.ts);
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    EXPECT_EQ(*lsn, start);
    wal.reset();
    auto again = OpenOk(Options(d));
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(ReplayAll(*again), written);
    again.reset();
    fs::remove_all(d);
  }
}

TEST_F(WalTest, GarbageAndZeroTailsAreTruncated) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 5);
  }
  const fs::path seg = SegmentPaths(dir_)[0];
  const std::string good = ReadFile(seg);
  // A header whose length fits but whose payload never made it: a classic torn entry.
  std::string bad_header = good.substr(written[1].lsn, kEntryHeaderBytes + 4);
  bad_header[kEntryHeaderBytes] ^= 0x40;
  const std::vector<std::pair<std::string, std::string>> tails = {
      {"garbage", std::string(300, '\x5A')},
      {"zeros", std::string(4096, '\0')},
      {"garbage then zeros", std::string(17, '\x33') + std::string(100, '\0')},
      {"header with bad crc", bad_header},
      {"lone magic", std::string("\x1E\xC7\xD5\xA3", 4)},
  };
  for (const auto& [name, tail] : tails) {
    SCOPED_TRACE(name);
    WriteFile(seg, good + tail);
    RecoveryReport rep;
    auto wal = OpenOk(Options(), &rep);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(rep.entries, written.size());
    EXPECT_EQ(rep.corrupt_ranges, 0u);
    EXPECT_EQ(rep.truncated_tail_bytes, tail.find_last_not_of('\0') == std::string::npos
                                            ? 0
                                            : tail.find_last_not_of('\0') + 1);
    EXPECT_EQ(fs::file_size(seg), good.size());
    EXPECT_EQ(ReplayAll(*wal), written);
  }
}

// Flips one byte of entry 5 in a sealed segment, at each field of the entry.
TEST_F(WalTest, CorruptEntryInSealedSegmentIsSkippedAndCounted) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 60);
  }
  const auto paths = SegmentPaths(dir_);
  ASSERT_GE(paths.size(), 3u);
  const Lsn seg_base = std::stoull(paths[1].stem().string());
  const Lsn seg_end = std::stoull(paths[2].stem().string());
  // The third entry of the second segment has neighbours in the same segment.
  size_t victim = 0;
  while (written[victim].lsn < seg_base) ++victim;
  victim += 2;
  ASSERT_LT(written[victim + 1].lsn, seg_end);
  const Entry& v = written[victim];
  const uint64_t entry_bytes = kEntryHeaderBytes + v.payload.size();
  const std::string original = ReadFile(paths[1]);

  const std::vector<std::pair<std::string, size_t>> spots = {
      {"magic", 0},
      {"length", 5},
      {"length high byte", 7},
      {"crc", 9},
      {"timestamp", 14},
      {"payload", kEntryHeaderBytes + 3},
      {"last payload byte", entry_bytes - 1}};
  for (const auto& [field, at] : spots) {
    SCOPED_TRACE(field);
    std::string bytes = original;
    bytes[v.lsn - seg_base + at] ^= 0x10;
    WriteFile(paths[1], bytes);
    CountingObserver obs;
    WalOptions o = Options();
    o.observer = &obs;
    RecoveryReport rep;
    auto wal = OpenOk(o, &rep);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(rep.corrupt_ranges, 1u);
    EXPECT_EQ(rep.corrupt_bytes, entry_bytes);
    EXPECT_EQ(obs.corrupt_bytes.load(), entry_bytes);
    EXPECT_EQ(rep.entries, written.size() - 1);
    EXPECT_EQ(rep.truncated_tail_bytes, 0u);
    std::vector<Entry> expected = written;
    expected.erase(expected.begin() + static_cast<ptrdiff_t>(victim));
    // LSNs after the hole are unchanged: they are byte offsets, not sequence numbers.
    EXPECT_EQ(ReplayAll(*wal), expected);
    EXPECT_EQ(fs::file_size(paths[1]), original.size()) << "sealed segments are not modified";
    wal.reset();
  }
}

TEST_F(WalTest, CorruptionInsideTheNewestSegmentKeepsTheEntriesAfterIt) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 8);
  }
  const fs::path seg = SegmentPaths(dir_)[0];
  std::string bytes = ReadFile(seg);
  bytes[written[3].lsn + kEntryHeaderBytes + 1] ^= 0x01;
  WriteFile(seg, bytes);
  RecoveryReport rep;
  auto wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(rep.corrupt_ranges, 1u);
  EXPECT_EQ(rep.corrupt_bytes, kEntryHeaderBytes + written[3].payload.size());
  EXPECT_EQ(rep.truncated_tail_bytes, 0u) << "acknowledged entries after the flip survive";
  std::vector<Entry> expected = written;
  expected.erase(expected.begin() + 3);
  EXPECT_EQ(ReplayAll(*wal), expected);
  auto lsn = wal->Append("after", 1);
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, written.back().lsn + kEntryHeaderBytes + written.back().payload.size());
}

TEST_F(WalTest, TruncatedSealedSegmentLosesOnlyItsCutEntries) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 60);
  }
  const auto paths = SegmentPaths(dir_);
  ASSERT_GE(paths.size(), 3u);
  const Lsn next_base = std::stoull(paths[2].stem().string());
  // The last entry of segment 1, cut 10 bytes short of its end.
  size_t victim = 0;
  while (victim + 1 < written.size() && written[victim + 1].lsn < next_base) ++victim;
  const uint64_t victim_bytes = kEntryHeaderBytes + written[victim].payload.size();
  fs::resize_file(paths[1], fs::file_size(paths[1]) - 10);

  RecoveryReport rep;
  auto wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(rep.corrupt_ranges, 2u) << "the cut entry, then the missing bytes";
  EXPECT_EQ(rep.corrupt_bytes, victim_bytes);
  std::vector<Entry> expected = written;
  expected.erase(expected.begin() + static_cast<ptrdiff_t>(victim));
  EXPECT_EQ(ReplayAll(*wal), expected);

  // A segment file truncated to nothing loses exactly its own span.
  wal.reset();
  fs::resize_file(paths[1], 0);
  wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(rep.corrupt_bytes, next_base - std::stoull(paths[1].stem().string()));
  for (const Entry& e : ReplayAll(*wal)) {
    EXPECT_TRUE(e.lsn < std::stoull(paths[1].stem().string()) || e.lsn >= next_base);
  }
}

TEST_F(WalTest, CheckpointDeletesSegmentsAndSurvivesReopen) {
  std::vector<Entry> written;
  Lsn ckpt = 0;
  size_t segments_before = 0;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 100);
    segments_before = wal->stats().segments;
    ckpt = written[60].lsn;  // entries below 60 are durable elsewhere
    ASSERT_TRUE(wal->Checkpoint(ckpt).ok());
    const WalStats st = wal->stats();
    EXPECT_EQ(st.checkpoint_lsn, ckpt);
    EXPECT_LT(st.segments, segments_before);
    EXPECT_EQ(st.segments, SegmentPaths(dir_).size());
    EXPECT_EQ(st.uncheckpointed_bytes, st.next_lsn - ckpt);
    // The oldest remaining segment still holds entry 60; nothing wholly below is left.
    const Lsn oldest = std::stoull(SegmentPaths(dir_)[0].stem().string());
    EXPECT_LE(oldest, ckpt);
    auto it = std::find_if(written.begin(), written.end(),
                           [&](const Entry& e) { return e.lsn >= oldest; });
    ASSERT_NE(it, written.end());
    EXPECT_LT(it->lsn, ckpt + 1);
    std::vector<Entry> tail(written.begin() + 60, written.end());
    EXPECT_EQ(ReplayAll(*wal, ckpt), tail);

    // Monotonic: an older checkpoint is a no-op; a future one is refused.
    ASSERT_TRUE(wal->Checkpoint(ckpt - 1).ok());
    EXPECT_EQ(wal->stats().checkpoint_lsn, ckpt);
    auto future = wal->Checkpoint(st.next_lsn + 1);
    EXPECT_EQ(future.code(), absl::StatusCode::kInvalidArgument) << future;
  }
  RecoveryReport rep;
  auto wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->stats().checkpoint_lsn, ckpt);
  std::vector<Entry> tail(written.begin() + 60, written.end());
  EXPECT_EQ(ReplayAll(*wal, wal->stats().checkpoint_lsn), tail);

  // Checkpointing everything leaves only the active segment, and the log goes on.
  const Lsn end = wal->stats().next_lsn;
  ASSERT_TRUE(wal->Checkpoint(end).ok());
  EXPECT_EQ(wal->stats().segments, 1u);
  EXPECT_EQ(wal->stats().uncheckpointed_bytes, 0u);
  auto more = AppendMany(*wal, 100, 2);
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].lsn, end);
  EXPECT_EQ(ReplayAll(*wal, end), more);
}

TEST_F(WalTest, ReopenDeletesSegmentsLeftBelowTheCheckpoint) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 80);
  }
  const auto all = Snapshot(dir_);
  Lsn ckpt = written[50].lsn;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    ASSERT_TRUE(wal->Checkpoint(ckpt).ok());
  }
  const size_t after_checkpoint = SegmentPaths(dir_).size();
  // As if the process died after persisting the checkpoint but before deleting files.
  for (const auto& [name, bytes] : all) {
    if (name.ends_with(".wal") && !fs::exists(dir_ / name)) WriteFile(dir_ / name, bytes);
  }
  ASSERT_GT(SegmentPaths(dir_).size(), after_checkpoint);
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(SegmentPaths(dir_).size(), after_checkpoint);
  EXPECT_EQ(wal->stats().checkpoint_lsn, ckpt);
  EXPECT_EQ(ReplayAll(*wal, ckpt), std::vector<Entry>(written.begin() + 50, written.end()));
}

TEST_F(WalTest, UnreadableCheckpointFileFallsBackToReplayingEverything) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 5);
    ASSERT_TRUE(wal->Checkpoint(written[3].lsn).ok());
  }
  WriteFile(dir_ / "CHECKPOINT", "not a checkpoint");
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->stats().checkpoint_lsn, 0u);
  EXPECT_EQ(ReplayAll(*wal), written) << "losing a checkpoint replays more, never less";
}

// Holds the commit thread inside the first entry's callback so later entries stay queued.
struct CommitGate {
  absl::Notification entered, release;
  Wal::AppendCallback Callback() {
    return [this](absl::StatusOr<Lsn> r) {
      entered.Notify();
      release.WaitForNotification();
    };
  }
};

TEST_F(WalTest, PendingBudgetRefusesAndHasRoomForAgrees) {
  WalOptions o = Options();
  o.max_pending_bytes = 1000;
  auto wal = OpenOk(o);
  ASSERT_NE(wal, nullptr);
  CommitGate gate;
  wal->AppendAsync("first", 1, gate.Callback());
  gate.entered.WaitForNotification();

  // 9 entries of 100 bytes (80 payload + 20 header) are queued behind the held commit.
  std::atomic<int> ok{0};
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(wal->HasRoomFor(80));
    wal->AppendAsync(std::string(80, 'p'), 1, [&](absl::StatusOr<Lsn> r) { ok += r.ok(); });
  }
  EXPECT_EQ(wal->stats().pending_bytes, 900u);
  EXPECT_TRUE(wal->HasRoomFor(80));
  EXPECT_FALSE(wal->HasRoomFor(81));
  absl::Status refused;
  wal->AppendAsync(std::string(81, 'q'), 1, [&](absl::StatusOr<Lsn> r) { refused = r.status(); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("max_pending_bytes"));
  EXPECT_FALSE(wal->HasRoomFor(kMaxEntryPayloadBytes + 1));

  gate.release.Notify();
  auto lsn = wal->Append(std::string(80, 'r'), 1);
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(ok.load(), 9);
  EXPECT_EQ(wal->stats().pending_bytes, 0u);
  EXPECT_TRUE(wal->HasRoomFor(900));
}

TEST_F(WalTest, UncheckpointedBudgetRefusesUntilACheckpoint) {
  WalOptions o = Options();
  o.max_uncheckpointed_bytes = 1000;
  Lsn last_ok = 0;
  {
    auto wal = OpenOk(o);
    ASSERT_NE(wal, nullptr);
    for (int i = 0; i < 10; ++i) {
      auto lsn = wal->Append(std::string(80, 'a'), 1);  // 100 bytes each
      ASSERT_TRUE(lsn.ok()) << i << ": " << lsn.status();
      last_ok = *lsn;
    }
    EXPECT_EQ(wal->stats().uncheckpointed_bytes, 1000u);
    EXPECT_FALSE(wal->HasRoomFor(0));
    auto refused = wal->Append("x", 1);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("max_uncheckpointed_bytes"));
  }
  {
    // The budget is state, not a counter: it is just as full after a restart.
    auto wal = OpenOk(o);
    ASSERT_NE(wal, nullptr);
    EXPECT_FALSE(wal->HasRoomFor(0));
    ASSERT_TRUE(wal->Checkpoint(last_ok).ok());  // all but the last entry consumed
    EXPECT_EQ(wal->stats().uncheckpointed_bytes, 100u);
    EXPECT_TRUE(wal->HasRoomFor(880));
    EXPECT_FALSE(wal->HasRoomFor(881));
    EXPECT_TRUE(wal->Append(std::string(880, 'b'), 1).ok());
    EXPECT_FALSE(wal->Append("", 1).ok());
  }
}

TEST_F(WalTest, CloseDrainsEveryQueuedEntry) {
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  CommitGate gate;
  wal->AppendAsync("first", 1, gate.Callback());
  gate.entered.WaitForNotification();
  std::atomic<int> acked{0};
  for (int i = 0; i < 100; ++i) {
    wal->AppendAsync(Payload(i, 50), kTs0 + i, [&](absl::StatusOr<Lsn> r) {
      EXPECT_TRUE(r.ok()) << r.status();
      acked++;
    });
  }
  std::thread closer([&] { wal->Close(); });
  // Close first stops admission; only then is the held commit let go.
  // (The budgets are far from full, so only closing makes HasRoomFor false.)
  while (wal->HasRoomFor(1)) std::this_thread::yield();
  gate.release.Notify();
  closer.join();
  EXPECT_EQ(acked.load(), 100);
  EXPECT_EQ(wal->stats().pending_bytes, 0u);

  // Everything stays readable after Close; appends are refused.
  const size_t entries = ReplayAll(*wal).size();
  EXPECT_EQ(entries, 101u);
  EXPECT_FALSE(wal->HasRoomFor(1));
  absl::Status after;
  wal->AppendAsync("x", 1, [&](absl::StatusOr<Lsn> r) { after = r.status(); });
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition);
  wal->Close();  // idempotent
  wal.reset();
  auto reopened = OpenOk(Options());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(ReplayAll(*reopened).size(), entries);
}

TEST_F(WalTest, DestructorRunsEveryCallback) {
  std::atomic<int> acked{0};
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    for (int i = 0; i < 200; ++i) {
      wal->AppendAsync(Payload(i, 30), 1, [&](absl::StatusOr<Lsn> r) { acked += r.ok(); });
    }
  }
  EXPECT_EQ(acked.load(), 200);
}

TEST_F(WalTest, CloseFromACallbackDoesNotDeadlock) {
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  Wal* w = wal.get();
  absl::Notification done;
  wal->AppendAsync("x", 1, [&](absl::StatusOr<Lsn> r) {
    w->Close();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_FALSE(wal->HasRoomFor(1));
  wal.reset();  // joins the commit thread
}

TEST_F(WalTest, ObserverSeesEveryWriteAndFsync) {
  CountingObserver obs;
  WalOptions o = Options();
  o.fsync = true;
  o.observer = &obs;
  auto wal = OpenOk(o);
  ASSERT_NE(wal, nullptr);
  auto written = AppendMany(*wal, 0, 20);
  uint64_t bytes = 0;
  for (const auto& e : written) bytes += kEntryHeaderBytes + e.payload.size();
  wal->Close();
  EXPECT_EQ(obs.written_bytes.load(), bytes);
  EXPECT_EQ(obs.fsynced_entries.load(), 20u);
  EXPECT_EQ(obs.writes.load(), obs.fsyncs.load());
  EXPECT_GE(obs.writes.load(), 1u);
  EXPECT_EQ(obs.corrupt_bytes.load(), 0u);
}

TEST_F(WalTest, RecoveryReportsProgressEvery64MiBAndAtTheEnd) {
  WalOptions o = Options();
  o.segment_bytes = 32 << 20;
  {
    auto wal = OpenOk(o);
    ASSERT_NE(wal, nullptr);
    const std::string mib(1 << 20, 'm');
    for (int i = 0; i < 70; ++i) ASSERT_TRUE(wal->Append(mib, i).ok());
  }
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> calls;
  RecoveryReport rep;
  auto wal = OpenOk(o, &rep, [&](uint64_t done, uint64_t total, uint64_t entries) {
    calls.emplace_back(done, total, entries);
  });
  ASSERT_NE(wal, nullptr);
  ASSERT_GE(calls.size(), 2u);
  const uint64_t total = 70 * ((1 << 20) + kEntryHeaderBytes);
  EXPECT_GE(std::get<0>(calls.front()), 64u << 20);
  EXPECT_LT(std::get<0>(calls.front()), total);
  EXPECT_EQ(calls.back(), std::make_tuple(total, total, uint64_t{70}));
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GE(std::get<0>(calls[i]), std::get<0>(calls[i - 1]));
  }
  EXPECT_EQ(rep.entries, 70u);
}

// A file-size limit makes the commit's write fail with EFBIG, standing in for a full or
// failing disk.
TEST_F(WalTest, WriteErrorFailsPendingAppendsAndStopsTheLog) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 5);
    ASSERT_EQ(written.size(), 5u);

    struct rlimit old_limit;
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old_limit;
    small.rlim_cur = 1024;  // the segment already holds most of this
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    auto failed = wal->Append(std::string(2000, 'f'), 1);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    std::signal(SIGXFSZ, old_handler);

    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
    EXPECT_THAT(std::string(failed.status().message()), HasSubstr(".wal"));
    // Sticky: even with room on disk again, nothing more is accepted until reopened.
    auto after = wal->Append("small", 1);
    EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable) << after.status();
    EXPECT_FALSE(wal->HasRoomFor(1));
    EXPECT_EQ(ReplayAll(*wal), written);
  }
  RecoveryReport rep;
  auto wal = OpenOk(Options(), &rep);
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(ReplayAll(*wal), written);
  auto lsn = wal->Append("again", 1);
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(*lsn, rep.next_lsn);
}

TEST_F(WalTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto wal = OpenOk(Options());
  ASSERT_NE(wal, nullptr);
  auto second = Wal::Open(Options());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  wal.reset();
  EXPECT_TRUE(Wal::Open(Options()).ok());
}

TEST_F(WalTest, OpenRejectsBadOptions) {
  WalOptions o = Options();
  o.dir.clear();
  EXPECT_EQ(Wal::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options();
  o.segment_bytes = 0;
  EXPECT_EQ(Wal::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WalTest, VerifyDirReportsCorruptionWithoutModifyingFiles) {
  std::vector<Entry> written;
  {
    auto wal = OpenOk(Options());
    ASSERT_NE(wal, nullptr);
    written = AppendMany(*wal, 0, 60);
    ASSERT_TRUE(wal->Checkpoint(written[2].lsn).ok());
  }
  const auto paths = SegmentPaths(dir_);
  ASSERT_GE(paths.size(), 3u);
  const Lsn base1 = std::stoull(paths[1].stem().string());
  auto victim =
      std::find_if(written.begin(), written.end(), [&](const Entry& e) { return e.lsn >= base1; });
  std::string seg1 = ReadFile(paths[1]);
  seg1[victim->lsn - base1 + kEntryHeaderBytes] ^= 0x08;
  WriteFile(paths[1], seg1);
  std::string newest = ReadFile(paths.back());
  WriteFile(paths.back(), newest + std::string(33, '\x77') + std::string(64, '\0'));
  const auto before = Snapshot(dir_);

  auto rep = VerifyDir(dir_);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->segments, paths.size());
  EXPECT_EQ(rep->entries, written.size() - 1);
  EXPECT_EQ(rep->corrupt_ranges, 1u);
  EXPECT_EQ(rep->corrupt_bytes, kEntryHeaderBytes + victim->payload.size());
  EXPECT_EQ(rep->torn_tail_bytes, 33u);
  EXPECT_EQ(rep->checkpoint_lsn, written[2].lsn);

  std::vector<Entry> read;
  ASSERT_TRUE(ReadDir(dir_, [&](Lsn lsn, int64_t ts, std::string_view p) {
                read.push_back(Entry{lsn, ts, std::string(p)});
                return absl::OkStatus();
              }).ok());
  std::vector<Entry> expected = written;
  expected.erase(victim - written.begin() + expected.begin());
  EXPECT_EQ(read, expected);
  int calls = 0;
  EXPECT_EQ(ReadDir(dir_,
                    [&](Lsn, int64_t, std::string_view) {
                      return ++calls == 2 ? absl::AbortedError("stop") : absl::OkStatus();
                    })
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 2);

  EXPECT_EQ(Snapshot(dir_), before) << "verification must not touch the files";
  EXPECT_EQ(VerifyDir(root_ / "missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace observex::wal
