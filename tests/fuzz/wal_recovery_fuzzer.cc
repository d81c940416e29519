// Feeds arbitrary bytes to WAL recovery as segment files and checks what comes back.
//
// Input: 4 control bytes, then segment bytes.
//   byte 0 bit 0: split the bytes into two segments at the u16 in bytes 1-2 (little-endian,
//                 clamped); bit 1: the first segment's base LSN is 4096 instead of 0;
//                 bit 2: the second segment's base is byte 3 further on, so the first file
//                 is shorter than its LSN span.
// Invariants: Open succeeds; every replayed entry is a byte-exact, CRC-correct entry of the
// input at its LSN; LSNs increase without overlap; the report's counts agree; an append
// lands at next_lsn; reopening yields the same entries plus that append.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spdlog/spdlog.h"
#include "wal/format.h"
#include "wal/wal.h"

namespace {

namespace fs = std::filesystem;
using observex::wal::Lsn;

struct Entry {
  Lsn lsn;
  int64_t ts;
  std::string payload;
  bool operator==(const Entry&) const = default;
};

struct Segment {
  Lsn base;
  std::string bytes;
};

#define FUZZ_CHECK(cond)                                                         \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                   \
    }                                                                            \
  } while (0)

// One scratch directory per process, removed at exit.
struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/obx_wal_fuzz_XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

const fs::path& Root() {
  static const ScratchDir dir;
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  return dir.path;
}

std::vector<Entry> ReplayAll(observex::wal::Wal& wal) {
  std::vector<Entry> out;
  auto s = wal.Replay(0, [&](Lsn lsn, int64_t ts, std::string_view p) {
    out.push_back(Entry{lsn, ts, std::string(p)});
    return absl::OkStatus();
  });
  FUZZ_CHECK(s.ok());
  return out;
}

// The entry must be exactly what the input holds at its LSN, with a matching CRC.
void CheckAgainstInput(const Entry& e, const std::vector<Segment>& segs) {
  namespace f = observex::wal::format;
  const Segment* seg = nullptr;
  for (const auto& s : segs) {
    if (s.base <= e.lsn) seg = &s;
  }
  FUZZ_CHECK(seg != nullptr);
  const uint64_t off = e.lsn - seg->base;
  FUZZ_CHECK(off + f::kEntryHeaderBytes + e.payload.size() <= seg->bytes.size());
  const char* h = seg->bytes.data() + off;
  uint32_t magic, len, crc;
  int64_t ts;
  std::memcpy(&magic, h, 4);
  std::memcpy(&len, h + 4, 4);
  std::memcpy(&crc, h + 8, 4);
  std::memcpy(&ts, h + 12, 8);
  FUZZ_CHECK(magic == f::kEntryMagic);
  FUZZ_CHECK(len == e.payload.size());
  FUZZ_CHECK(ts == e.ts);
  FUZZ_CHECK(crc == f::EntryCrc(e.ts, e.payload));
  FUZZ_CHECK(std::memcmp(h + f::kEntryHeaderBytes, e.payload.data(), len) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t ctl[4] = {0, 0, 0, 0};
  std::memcpy(ctl, data, std::min<size_t>(size, 4));
  const size_t skip = std::min<size_t>(size, 4);
  const std::string body(reinterpret_cast<const char*>(data) + skip, size - skip);

  std::vector<Segment> segs;
  const Lsn base0 = (ctl[0] & 2) ? 4096 : 0;
  if (ctl[0] & 1) {
    const size_t split = std::min<size_t>(body.size(), ctl[1] | (ctl[2] << 8));
    const Lsn gap = (ctl[0] & 4) ? ctl[3] : 0;
    segs.push_back({base0, body.substr(0, split)});
    segs.push_back({base0 + split + gap, body.substr(split)});
  } else {
    segs.push_back({base0, body});
  }

  const fs::path dir = Root() / "wal";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& s : segs) {
    std::ofstream out(dir / observex::wal::format::SegmentFileName(s.base), std::ios::binary);
    out.write(s.bytes.data(), static_cast<std::streamsize>(s.bytes.size()));
  }

  observex::wal::WalOptions o;
  o.dir = dir;
  o.fsync = false;
  o.preallocate = false;
  o.segment_bytes = 4096;
  std::vector<Entry> entries;
  Lsn appended_at = 0;
  {
    observex::wal::RecoveryReport rep;
    auto wal = observex::wal::Wal::Open(o, nullptr, &rep);
    FUZZ_CHECK(wal.ok());
    entries = ReplayAll(**wal);
    FUZZ_CHECK(entries.size() == rep.entries);
    Lsn min_next = 0;
    for (const Entry& e : entries) {
      FUZZ_CHECK(e.lsn >= min_next);
      CheckAgainstInput(e, segs);
      min_next = e.lsn + observex::wal::kEntryHeaderBytes + e.payload.size();
    }
    FUZZ_CHECK(min_next <= rep.next_lsn);
    FUZZ_CHECK((*wal)->stats().next_lsn == rep.next_lsn);
    auto lsn = (*wal)->Append("fuzz", 42);
    FUZZ_CHECK(lsn.ok());
    FUZZ_CHECK(*lsn == rep.next_lsn);
    appended_at = *lsn;
    (*wal)->Close();
  }
  {
    observex::wal::RecoveryReport rep;
    auto wal = observex::wal::Wal::Open(o, nullptr, &rep);
    FUZZ_CHECK(wal.ok());
    FUZZ_CHECK(rep.truncated_tail_bytes == 0);
    auto again = ReplayAll(**wal);
    FUZZ_CHECK(!again.empty());
    FUZZ_CHECK(again.back() == (Entry{appended_at, 42, "fuzz"}));
    again.pop_back();
    FUZZ_CHECK(again == entries);
  }
  fs::remove_all(dir);
  return 0;
}
