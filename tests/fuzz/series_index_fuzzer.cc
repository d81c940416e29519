// Feeds arbitrary bytes to the series index as its log file (storage/series_index.h).
// Invariants: Open never fails on damaged content (a bad tail is cut, a damaged batch
// whole); every id it loaded has labels; a new series gets the next id; reopening yields
// the same series, so the cut left a log that appends cleanly and closing the index wrote
// its pending batch (or snapshot). Seeds: single-entry records (three_series) and one
// compressed batch of 10,000 series (batch_10k_series, from bench/storage_size_bench).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "spdlog/spdlog.h"
#include "storage/series_index.h"

namespace {

namespace fs = std::filesystem;
using observex::storage::SeriesIndex;

fs::path Dir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "obx_series_fuzz_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) abort();
    return fs::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spdlog::set_level(spdlog::level::off);
  const fs::path path = Dir() / "series.log";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto index = SeriesIndex::Open(path, /*fsync=*/false);
  if (!index.ok()) abort();
  const size_t n = (*index)->size();
  for (size_t id = 1; id <= n; ++id) {
    if ((*index)->LabelsOf(static_cast<int64_t>(id)).empty()) abort();
  }
  observex::query::Labels extra({{"__name__", "fuzz_extra_series"}, {"n", std::to_string(n)}});
  const observex::query::Labels* p = &extra;
  auto ids = (*index)->Resolve({&p, 1});
  if (!ids.ok()) abort();
  // A fresh label set can only be new if no loaded series has exactly these labels.
  if ((*ids)[0] != static_cast<int64_t>(n) + 1 &&
      (*index)->LabelsOf((*ids)[0]) != extra) {
    abort();
  }
  const size_t after = (*index)->size();
  index->reset();
  auto reopened = SeriesIndex::Open(path, false);
  if (!reopened.ok() || (*reopened)->size() != after) abort();
  return 0;
}
