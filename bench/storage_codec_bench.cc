// Storage codec benchmarks on generated metric samples (15 s interval, one day per series,
// rows sorted by (series, time) and cut into blocks of 8,192 as in a part).
//   storage_codec_bench --benchmark_filter=Decode
// Reports samples/s ("samples" counter) and bytes per sample ("bytes_per_sample": stored
// bytes of the time and value columns, block headers included, over samples). Blocks are
// encoded as the part writer stores samples (kSegmented, one run per series in a block); the
// *_v2 variants use part format 2's per-block kDelta / kDecimal for comparison.
//
// Data sets (200 series x 5,760 samples):
//   realistic  45 % counters (Poisson increments, rate log-uniform in 0.001-300/s), 20 %
//              gauges that change about once an hour (sizes, limits, up), 15 % integer gauges
//              (memory in 4 KiB pages, random walk), 10 % two-decimal gauges (temperatures),
//              10 % full-precision ratios (CPU utilisation, random walk).
//   counters   only counters as above.
//   ratios     only full-precision ratios (the float encoding's worst realistic case).
// Timestamps are in ms; each series has its own phase and 10 % of its scrapes land 1-2 ms
// early or late.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/attributes.h"
#include "storage/codec.h"
#include "storage/part.h"
#include "storage/scan.h"
#include "storage/schema.h"
#include "wal/crc32c.h"

namespace {

using observex::storage::BlockCompressor;
using observex::storage::BlockDecompressor;
using observex::storage::Column;
using observex::storage::ColumnType;
using observex::storage::Compression;
using observex::storage::Encoding;
namespace crc32c = observex::wal::crc32c;

constexpr size_t kBlockRows = 8192;
constexpr int kSamplesPerSeries = 5760;  // one day at 15 s
constexpr size_t kBlockHeaderBytes = 20;

enum class Mix { kRealistic, kCounters, kRatios };

struct Samples {
  std::vector<int64_t> t;
  std::vector<double> v;
};

Samples Generate(int series, Mix mix, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  std::uniform_real_distribution<double> unit(0, 1);
  Samples s;
  s.t.reserve(static_cast<size_t>(series) * kSamplesPerSeries);
  s.v.reserve(s.t.capacity());
  const int64_t day_start = 1'700'006'400'000;  // ms, a UTC midnight
  for (int k = 0; k < series; ++k) {
    // 0 counter, 1 hourly-changing gauge, 2 integer gauge, 3 two-decimal gauge, 4 ratio
    int kind;
    const double r = unit(rng);
    switch (mix) {
      case Mix::kCounters:
        kind = 0;
        break;
      case Mix::kRatios:
        kind = 4;
        break;
      default:
        kind = r < 0.45 ? 0 : r < 0.65 ? 1 : r < 0.80 ? 2 : r < 0.90 ? 3 : 4;
        break;
    }
    const int64_t offset = static_cast<int64_t>(rng() % 15000);
    std::poisson_distribution<int64_t> increments(15 * std::pow(10.0, -3 + 5.5 * unit(rng)));
    double v;
    switch (kind) {
      case 0:
        v = static_cast<double>(rng() % 1000000);
        break;
      case 1:
        v = static_cast<double>(rng() % 100000);
        break;
      case 2:
        v = 4096.0 * static_cast<double>(1000 + rng() % 100000);
        break;
      case 3:
        v = 21.5;
        break;
      default:
        v = unit(rng);
        break;
    }
    for (int i = 0; i < kSamplesPerSeries; ++i) {
      int64_t jitter = 0;
      if (rng() % 10 == 0) jitter = static_cast<int64_t>(rng() % 5) - 2;
      s.t.push_back(day_start + offset + 15000LL * i + jitter);
      switch (kind) {
        case 0:
          v += static_cast<double>(increments(rng));
          break;
        case 1:
          if (rng() % 240 == 0) v = static_cast<double>(rng() % 100000);
          break;
        case 2:
          v = std::max(0.0, v + 4096.0 * static_cast<double>(static_cast<int>(rng() % 21) - 10));
          break;
        case 3:
          v = std::round((22 + 3 * std::sin(i / 200.0) + 0.3 * noise(rng)) * 100) / 100;
          break;
        default:
          v = std::clamp(v + 0.01 * noise(rng), 0.0, 1.0);
          break;
      }
      s.v.push_back(v);
    }
  }
  return s;
}

struct StoredBlock {
  uint32_t rows;
  Encoding encoding;
  Compression compression;
  uint32_t raw_len;
  uint32_t crc;
  std::string bytes;
};

struct Encoded {
  std::vector<StoredBlock> t, v;
  size_t samples = 0;
  size_t stored_bytes = 0;
  size_t time_bytes = 0;
};

StoredBlock Store(const Column& col, size_t begin, size_t end, Encoding pref, BlockCompressor& comp,
                  const std::vector<uint32_t>& runs) {
  std::string raw;
  StoredBlock b;
  b.rows = static_cast<uint32_t>(end - begin);
  b.encoding = observex::storage::EncodeColumn(col, begin, end, pref, &raw, runs);
  b.raw_len = static_cast<uint32_t>(raw.size());
  b.compression = comp.Compress(raw, &b.bytes);
  b.crc = crc32c::Value(b.bytes.data(), b.bytes.size());
  return b;
}

enum class Format { kSegmented, kV2 };

Encoded EncodeAll(const Samples& s, Format format) {
  BlockCompressor comp;
  Encoded e;
  const Column t(s.t), v(s.v);
  for (size_t b = 0; b < s.t.size(); b += kBlockRows) {
    const size_t end = std::min(s.t.size(), b + kBlockRows);
    std::vector<uint32_t> runs;  // one per series (kSamplesPerSeries rows each)
    for (size_t r = b; r < end;) {
      const size_t next = std::min(end, (r / kSamplesPerSeries + 1) * kSamplesPerSeries);
      runs.push_back(static_cast<uint32_t>(next - r));
      r = next;
    }
    if (format == Format::kSegmented) {
      e.t.push_back(Store(t, b, end, Encoding::kSegmented, comp, runs));
      e.v.push_back(Store(v, b, end, Encoding::kSegmented, comp, runs));
    } else {
      e.t.push_back(Store(t, b, end, Encoding::kDelta, comp, {}));
      e.v.push_back(Store(v, b, end, Encoding::kDecimal, comp, {}));
    }
    e.stored_bytes += e.t.back().bytes.size() + e.v.back().bytes.size() + 2 * kBlockHeaderBytes;
    e.time_bytes += e.t.back().bytes.size() + kBlockHeaderBytes;
  }
  e.samples = s.t.size();
  return e;
}

const Samples& Data(Mix mix) {
  static const std::array<Samples, 3> data = {Generate(200, Mix::kRealistic, 42),
                                              Generate(200, Mix::kCounters, 43),
                                              Generate(200, Mix::kRatios, 44)};
  return data[static_cast<size_t>(mix)];
}

void BM_EncodeSamples(benchmark::State& state, Mix mix, Format format) {
  const Samples& s = Data(mix);
  Encoded e;
  for (auto _ : state) {
    e = EncodeAll(s, format);
    benchmark::DoNotOptimize(e.stored_bytes);
  }
  state.counters["samples"] = benchmark::Counter(static_cast<double>(e.samples),
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_sample"] =
      static_cast<double>(e.stored_bytes) / static_cast<double>(e.samples);
  state.counters["time_bytes_per_sample"] =
      static_cast<double>(e.time_bytes) / static_cast<double>(e.samples);
}

// The full-scan decode path of one core: checksum, decompress and decode both columns of
// every block into reused column buffers.
void BM_DecodeSamples(benchmark::State& state, Mix mix, Format format) {
  const Encoded e = EncodeAll(Data(mix), format);
  BlockDecompressor dt, dv;
  Column tc = std::vector<int64_t>(), vc = std::vector<double>();
  double checksum = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < e.t.size(); ++b) {
      for (int c = 0; c < 2; ++c) {
        const StoredBlock& blk = c == 0 ? e.t[b] : e.v[b];
        if (crc32c::Value(blk.bytes.data(), blk.bytes.size()) != blk.crc) {
          state.SkipWithError("checksum mismatch");
          return;
        }
        std::string_view raw;
        auto st = (c == 0 ? dt : dv).Decompress(blk.bytes, blk.compression, blk.raw_len, &raw);
        if (st.ok()) {
          st = observex::storage::DecodeColumn(raw,
                                               c == 0 ? ColumnType::kInt64 : ColumnType::kFloat64,
                                               blk.encoding, blk.rows, c == 0 ? &tc : &vc);
        }
        if (!st.ok()) {
          state.SkipWithError(std::string(st.message()).c_str());
          return;
        }
      }
      checksum += std::get<1>(vc).back() + static_cast<double>(std::get<0>(tc).back());
    }
    benchmark::DoNotOptimize(checksum);
  }
  state.counters["samples"] = benchmark::Counter(static_cast<double>(e.samples),
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_sample"] =
      static_cast<double>(e.stored_bytes) / static_cast<double>(e.samples);
}

// The same samples as a part on disk (series_id, time, value; the page cache warm), scanned
// in sort-key order projecting time and value: file reads, checksums, decompression,
// decoding and batch assembly. "bytes_per_sample" here is the whole part directory
// (all three column files and the manifest) over samples.
void BM_ScanPartSamples(benchmark::State& state, Mix mix) {
  namespace fs = std::filesystem;
  using namespace observex::storage;
  const Samples& s = Data(mix);
  const char* env = std::getenv("OBX_STORAGE_BENCH_DIR");
  const fs::path root = (env != nullptr ? fs::path(env) : fs::temp_directory_path()) /
                        ("obx_storage_bench_" + std::to_string(::getpid()));
  fs::remove_all(root);
  ColumnBatch rows = SamplesSchema().NewBatch();
  auto& ids = std::get<0>(rows.columns[0]);
  for (size_t i = 0; i < s.t.size(); ++i)
    ids.push_back(static_cast<int64_t>(i / kSamplesPerSeries));
  std::get<0>(rows.columns[1]) = s.t;
  std::get<1>(rows.columns[2]) = s.v;
  PartWriteOptions o;
  o.tenant_id = 1;
  o.day = SamplesSchema().DayOf(s.t.front());
  o.name = "bench";
  o.fsync = false;
  auto m = WritePart(root, SamplesSchema(), rows, o);
  if (!m.ok()) {
    state.SkipWithError(std::string(m.status().message()).c_str());
    return;
  }
  const fs::path dir = DayDir(root, 1, Table::kSamples, o.day) / "bench";
  uint64_t disk = 0;
  for (const auto& e : fs::directory_iterator(dir)) disk += e.file_size();
  auto part = PartReader::Open(dir, SamplesSchema(), 1);
  if (!part.ok()) {
    state.SkipWithError(std::string(part.status().message()).c_str());
    return;
  }
  uint64_t total = 0;
  for (auto _ : state) {
    ScanOptions so;
    so.columns = {"time", "value"};
    so.order = ScanOrder::kSortKey;
    auto scan = PartScan::Create(*part, so);
    ColumnBatch batch;
    uint64_t n = 0;
    while (true) {
      auto more = (*scan)->Next(&batch);
      if (!more.ok()) {
        state.SkipWithError(std::string(more.status().message()).c_str());
        break;
      }
      if (!*more) break;
      n += batch.rows();
    }
    total = n;
    benchmark::DoNotOptimize(n);
  }
  fs::remove_all(root);
  state.counters["samples"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_sample"] = static_cast<double>(disk) / static_cast<double>(total);
}

// Writing a spans part (no fsync) from generated spans: 12 services x 30 operations,
// 16-byte trace ids shared by 8 spans each, log-normal durations, attribute maps drawn from
// 200 variants, resource attributes per service. Reports spans/s and bytes per span on disk.
void BM_WritePartSpans(benchmark::State& state) {
  namespace fs = std::filesystem;
  using namespace observex::storage;
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dur(15.0, 1.5);
  const TableSchema& schema = SpansSchema();
  ColumnBatch rows = schema.NewBatch();
  std::vector<std::string> attrs;
  for (int i = 0; i < 200; ++i) {
    AttributesWriter w;
    w.AddString("http.method", i % 3 ? "GET" : "POST");
    w.AddInt("http.status_code", i % 17 ? 200 : 500);
    w.AddString("http.route", "/api/v1/items/" + std::to_string(i % 40));
    w.AddString("user.id", "u" + std::to_string(i));
    attrs.push_back(w.Finish());
  }
  const int64_t day0 = int64_t{19'700} * 86'400'000'000'000;
  std::string trace(16, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) {
      for (auto& c : trace) c = static_cast<char>(rng());
    }
    std::string span(8, '\0');
    for (auto& c : span) c = static_cast<char>(rng());
    const int svc = static_cast<int>(rng() % 12);
    std::get<2>(rows.columns[0]).push_back("service-" + std::to_string(svc));
    std::get<2>(rows.columns[1]).push_back("op-" + std::to_string(rng() % 30));
    std::get<0>(rows.columns[2])
        .push_back(day0 + static_cast<int64_t>(i) * 200'000 +
                   static_cast<int64_t>(rng() % 100'000));
    std::get<0>(rows.columns[3]).push_back(static_cast<int64_t>(dur(rng)));
    std::get<2>(rows.columns[4]).push_back(trace);
    std::get<2>(rows.columns[5]).push_back(span);
    std::get<2>(rows.columns[6]).push_back(i % 8 == 0 ? std::string() : span);
    std::get<2>(rows.columns[7]).push_back("");
    std::get<0>(rows.columns[8]).push_back(static_cast<int64_t>(1 + rng() % 3));
    std::get<0>(rows.columns[9]).push_back(rng() % 50 == 0 ? 2 : 0);
    std::get<2>(rows.columns[10]).push_back(rng() % 50 == 0 ? "internal error" : "");
    std::get<0>(rows.columns[11]).push_back(1);
    std::get<2>(rows.columns[12]).push_back("io.opentelemetry.http");
    std::get<2>(rows.columns[13]).push_back("1.32.0");
    std::get<2>(rows.columns[14]).push_back(attrs[rng() % attrs.size()]);
    AttributesWriter res;
    res.AddString("service.name", "service-" + std::to_string(svc));
    res.AddString("host.name", "host-" + std::to_string(svc % 4));
    std::get<2>(rows.columns[15]).push_back(res.Finish());
    std::get<2>(rows.columns[16]).push_back("");
    std::get<2>(rows.columns[17]).push_back("");
    std::get<0>(rows.columns[18]).push_back(0);
    std::get<0>(rows.columns[19]).push_back(0);
    std::get<0>(rows.columns[20]).push_back(0);
    std::get<1>(rows.columns[21]).push_back(1.0);
  }
  const char* env = std::getenv("OBX_STORAGE_BENCH_DIR");
  const fs::path root = (env != nullptr ? fs::path(env) : fs::temp_directory_path()) /
                        ("obx_storage_bench_spans_" + std::to_string(::getpid()));
  uint64_t seq = 0, disk = 0;
  for (auto _ : state) {
    PartWriteOptions o;
    o.tenant_id = 1;
    o.day = 19'700;
    o.name = PartName(seq++);
    o.fsync = false;
    auto m = WritePart(root, schema, rows, o);
    if (!m.ok()) {
      state.SkipWithError(std::string(m.status().message()).c_str());
      break;
    }
    disk = 0;
    for (const auto& c : m->columns) disk += c.file_bytes;
  }
  fs::remove_all(root);
  state.counters["spans"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_span"] = static_cast<double>(disk) / static_cast<double>(n);
}

BENCHMARK(BM_WritePartSpans)->Arg(200'000)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_EncodeSamples, realistic, Mix::kRealistic, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeSamples, counters, Mix::kCounters, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeSamples, ratios, Mix::kRatios, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeSamples, realistic_v2, Mix::kRealistic, Format::kV2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, realistic, Mix::kRealistic, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, counters, Mix::kCounters, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, ratios, Mix::kRatios, Format::kSegmented)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, realistic_v2, Mix::kRealistic, Format::kV2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, counters_v2, Mix::kCounters, Format::kV2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeSamples, ratios_v2, Mix::kRatios, Format::kV2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ScanPartSamples, realistic, Mix::kRealistic)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ScanPartSamples, counters, Mix::kCounters)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
