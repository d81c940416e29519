// Writes the seed corpus of wal_recovery_fuzzer: small WALs made by the real writer, in the
// fuzzer's input layout (4 control bytes, then segment bytes; see wal_recovery_fuzzer.cc).
// Run once by hand: wal_fuzz_seed_gen tests/fuzz/corpus/wal_recovery_fuzzer
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "spdlog/spdlog.h"
#include "wal/wal.h"

namespace {

namespace fs = std::filesystem;
using observex::wal::Lsn;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Appends `n` entries to a fresh WAL and returns the single segment's bytes and LSNs.
std::string MakeLog(const fs::path& dir, int n, std::vector<Lsn>* lsns) {
  fs::remove_all(dir);
  observex::wal::WalOptions o;
  o.dir = dir;
  o.fsync = false;
  o.preallocate = false;
  auto wal = observex::wal::Wal::Open(o);
  if (!wal.ok()) {
    std::fprintf(stderr, "%s\n", std::string(wal.status().message()).c_str());
    std::exit(1);
  }
  for (int i = 0; i < n; ++i) {
    std::string payload =
        "entry-" + std::to_string(i) + std::string(static_cast<size_t>(i * 3), 'x');
    auto lsn = (*wal)->Append(payload, 1700000000000000000 + i);
    if (!lsn.ok()) std::exit(1);
    lsns->push_back(*lsn);
  }
  (*wal)->Close();
  wal->reset();
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") return ReadFile(e.path());
  }
  std::exit(1);
}

void WriteSeed(const fs::path& out, const std::string& name, uint8_t flags, uint16_t split,
               uint8_t gap, const std::string& body) {
  std::string bytes;
  bytes.push_back(static_cast<char>(flags));
  bytes.push_back(static_cast<char>(split & 0xFF));
  bytes.push_back(static_cast<char>(split >> 8));
  bytes.push_back(static_cast<char>(gap));
  bytes += body;
  std::ofstream(out / name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::off);
  const fs::path out = argv[1];
  fs::create_directories(out);
  char tmpl[] = "/tmp/obx_wal_seed_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const fs::path work = fs::path(tmpl) / "wal";

  std::vector<Lsn> lsns;
  const std::string log = MakeLog(work, 6, &lsns);
  WriteSeed(out, "one_segment", 0, 0, 0, log);
  WriteSeed(out, "two_segments", 1, static_cast<uint16_t>(lsns[3]), 0, log);
  WriteSeed(out, "two_segments_base_4096", 3, static_cast<uint16_t>(lsns[2]), 0, log);
  WriteSeed(out, "short_first_segment", 5, static_cast<uint16_t>(lsns[4] - 7), 7, log);
  WriteSeed(out, "torn_tail", 0, 0, 0, log.substr(0, lsns[5] + 11));
  std::string flipped = log;
  flipped[lsns[1] + 25] ^= 0x20;
  WriteSeed(out, "bit_flip_in_sealed", 1, static_cast<uint16_t>(lsns[4]), 0, flipped);
  WriteSeed(out, "zero_tail", 0, 0, 0, log + std::string(64, '\0'));
  WriteSeed(out, "empty", 0, 0, 0, "");
  fs::remove_all(tmpl);
  return 0;
}
