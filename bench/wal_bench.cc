// WAL micro-benchmarks: CRC-32C speed, and sustained group-commit throughput with ack
// latency percentiles under many concurrent appenders (fsync on, on the data disk).
//   wal_bench --benchmark_filter=Commit   (set OBX_WAL_BENCH_DIR to choose the disk)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "spdlog/spdlog.h"
#include "wal/crc32c.h"
#include "wal/wal.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void BM_Crc32c(benchmark::State& state, bool hardware) {
  std::string buf(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    uint32_t c = hardware
                     ? observex::wal::crc32c::internal::ExtendHardware(0, buf.data(), buf.size())
                     : observex::wal::crc32c::internal::ExtendSoftware(0, buf.data(), buf.size());
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK_CAPTURE(BM_Crc32c, software, false)->Arg(4096)->Arg(1 << 20);
BENCHMARK_CAPTURE(BM_Crc32c, sse42, true)->Arg(4096)->Arg(1 << 20);

// Producers each keep up to `window` appends in flight, like receivers holding requests
// until their ack, for 3 seconds. Args: producers, window, payload bytes, offered load in
// MB/s (0 = as fast as acks allow; otherwise each producer paces its share).
void BM_GroupCommit(benchmark::State& state) {
  spdlog::set_level(spdlog::level::err);
  const int producers = static_cast<int>(state.range(0));
  const int window = static_cast<int>(state.range(1));
  const size_t payload_bytes = static_cast<size_t>(state.range(2));
  const double offered_mbps = static_cast<double>(state.range(3));
  const char* env = std::getenv("OBX_WAL_BENCH_DIR");
  const fs::path root = env != nullptr ? fs::path(env) : fs::temp_directory_path();
  const fs::path dir = root / ("obx_wal_bench_" + std::to_string(::getpid()));
  const auto duration = std::chrono::seconds(3);
  // Time between one producer's appends at the offered load.
  const auto gap = offered_mbps > 0
                       ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                             payload_bytes * producers / (offered_mbps * 1e6)))
                       : Clock::duration::zero();

  std::vector<double> latencies_ms;
  double seconds = 0;
  for (auto _ : state) {
    fs::remove_all(dir);
    observex::wal::WalOptions o;
    o.dir = dir;
    if (const char* v = std::getenv("OBX_WAL_BENCH_PREALLOCATE")) o.preallocate = v[0] == '1';
    if (const char* v = std::getenv("OBX_WAL_BENCH_SEGMENT_MB")) {
      o.segment_bytes = std::strtoull(v, nullptr, 10) << 20;
    }
    auto wal = observex::wal::Wal::Open(o);
    if (!wal.ok()) {
      state.SkipWithError(std::string(wal.status().message()).c_str());
      return;
    }
    std::mutex lat_mu;
    std::atomic<int> failures{0};
    const auto t0 = Clock::now();
    const auto stop = t0 + duration;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&] {
        std::mutex mu;
        std::condition_variable cv;
        int in_flight = 0;
        std::vector<double> mine;
        const std::string payload(payload_bytes, 'p');
        auto next = Clock::now();
        for (int64_t i = 0; Clock::now() < stop; ++i) {
          if (gap > Clock::duration::zero()) {
            std::this_thread::sleep_until(next);
            next += gap;
          }
          {
            std::unique_lock<std::mutex> l(mu);
            cv.wait(l, [&] { return in_flight < window; });
            ++in_flight;
          }
          const auto start = Clock::now();
          (*wal)->AppendAsync(payload, i, [&, start](absl::StatusOr<observex::wal::Lsn> r) {
            if (!r.ok()) failures++;
            const double ms =
                std::chrono::duration<double, std::milli>(Clock::now() - start).count();
            std::lock_guard<std::mutex> l(mu);
            mine.push_back(ms);
            --in_flight;
            cv.notify_one();
          });
        }
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return in_flight == 0; });
        std::lock_guard<std::mutex> g(lat_mu);
        latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : threads) t.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(s);
    seconds += s;
    (*wal)->Close();
    wal->reset();
    fs::remove_all(dir);
    if (failures.load() > 0) state.SkipWithError("appends failed (budget refusals?)");
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double q) {
    return latencies_ms.empty()
               ? 0.0
               : latencies_ms[std::min(latencies_ms.size() - 1,
                                       static_cast<size_t>(q * latencies_ms.size()))];
  };
  const double bytes = static_cast<double>(latencies_ms.size()) * payload_bytes;
  state.counters["MB/s"] = bytes / seconds / 1e6;
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p99_ms"] = pct(0.99);
  state.counters["max_ms"] = latencies_ms.empty() ? 0 : latencies_ms.back();
}
BENCHMARK(BM_GroupCommit)
    ->ArgNames({"producers", "window", "bytes", "offered_MBps"})
    ->Args({16, 4, 64 << 10, 0})
    ->Args({64, 4, 16 << 10, 0})
    ->Args({64, 8, 32 << 10, 130})
    ->Args({256, 2, 4 << 10, 130})
    ->Args({4, 1, 4 << 10, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
