// Bytes on disk against peers. Generates one seeded data set of metric samples, spans and log
// records, writes it as ObserveX parts (storage::WritePart: one part per table and UTC day,
// blocks of 8,192 rows, zstd at its default level, as the engine writes them) and writes the
// same rows as the input files the peers load. bench/storage_peers.sh runs this program, loads
// the files into Prometheus, VictoriaMetrics and ClickHouse and compares the sizes.
//
//   storage_size_bench --out DIR [--series 10000] [--hours 6] [--spans 1000000]
//                      [--logs 1000000] [--seed 1]
//   storage_size_bench --out DIR --samples-text-only [--hours 24] [--chunk-bytes N] ...
//
// --observex-only skips the peers' sample files (samples.om, samples.prom: gigabytes), for
// quick size iterations with --spans 0 --logs 0; allows up to 24 hours.
// --counters-and-gauges keeps only the counter and gauge series of the generated set (no
// histogram or summary series), with their values and times unchanged.
// --samples-text-only writes only the peers' sample files (no parts, spans or logs) and allows
// up to 24 hours; bench/promql_peers.sh loads them into every system it queries. With
// --chunk-bytes, the Prometheus text goes to samples-prom/NNNNN.prom instead of samples.prom:
// files of at most N bytes, cut between series (each series lies wholly in one file, so
// loading files in parallel never delivers a series' samples out of order), each starting
// with its family's TYPE line. In that mode stdout also gets a line "phases_ms P1 P2 ..." with
// every target's scrape phase (offset of its scrapes from the 15 s grid, before jitter).
//
// Files in DIR:
//   observex/        the part root (tenant 1); observex.txt lists rows and bytes per table, the
//                    manifest's bytes per column and where the samples' bytes go
//   samples.om       OpenMetrics text, timestamps in seconds, ends with "# EOF" (promtool)
//   samples.prom     Prometheus text format, timestamps in ms (VictoriaMetrics' import API)
//   clickhouse.sql   CREATE TABLE statements for ClickHouse 18.16 (which has no Map type, so
//                    attribute maps are parallel key and value arrays)
//   spans.tsv, logs.tsv  the spans and log records, TabSeparated, in those tables' column order
//
// Metric samples: `--series` series scraped every 15 s for `--hours` hours from 2023-11-16
// 00:00 UTC, stored as the engine stores them: series_id (sequential per tenant), time in ms,
// value. Series belong to targets (one job and instance each, 203 series per target, own
// scrape phase, 10 % of scrapes 1-2 ms off the grid, 0.1 % of scrapes missed, 10 % of targets
// restart once and reset their process counters). Per target:
//   http request counters per route and status (Poisson traffic, log-uniform rates), a
//   latency histogram per route (12 buckets, _sum accumulates full-precision seconds),
//   process and per-CPU-mode CPU counters (1/100 s ticks), memory and filesystem gauges in
//   bytes (pages, sawtooth heap), goroutine, fd, queue-depth and pool gauges (small integers),
//   load averages (2 decimals), temperatures (1 decimal), network byte counters, a Go GC
//   summary (quantiles in ns/1e9, _sum full precision), two utilisation ratios computed at
//   full precision, up and a build-info series. About 5 % of series hold full-precision
//   floats, which no decimal encoding shortens.
// Spans: traces over a small shop (10 services, 3 instances each): HTTP and gRPC server and
// client spans, database and cache client spans, a Kafka producer and consumer (linked),
// internal spans; semantic-convention attributes (routes, paths with ids, status codes,
// statements), per-instance resource attributes, log-normal durations, 1-2 % errors with an
// exception event and a stack trace, a few other events. Random 16-byte trace and 8-byte span
// ids.
// Logs: templated messages with variable parts (ids, durations, IPs, amounts, the odd stack
// trace), DEBUG/INFO/WARN/ERROR, logger and thread attributes, 60 % carrying a trace context.
//
// Spans and log records reach ObserveX as OTLP requests turned into rows by the writer
// (writer/otlp_rows.h), exactly the rows the engine stores. ClickHouse gets the same fields in
// the compact forms its user would choose: ids as binary FixedString, times as UInt64 ns,
// attribute maps, events and links as parallel arrays.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "query/labels.h"
#include "storage/codec.h"
#include "storage/column.h"
#include "storage/part.h"
#include "storage/schema.h"
#include "storage/series_index.h"
#include "writer/otlp_rows.h"

namespace {

namespace fs = std::filesystem;
namespace st = observex::storage;
namespace otlp_common = opentelemetry::proto::common::v1;
namespace otlp_trace = opentelemetry::proto::trace::v1;
namespace otlp_logs = opentelemetry::proto::logs::v1;
using KeyValueList = google::protobuf::RepeatedPtrField<otlp_common::KeyValue>;

constexpr int64_t kDayMs = 86'400'000;
// 2023-11-16 00:00 UTC: a midnight that is also a multiple of 18 h since the epoch, so the
// window lies in one Prometheus block of the largest size Prometheus compacts to under its
// default 15-day retention.
constexpr int64_t kStartMs = 19677 * kDayMs;
constexpr int64_t kIntervalMs = 15'000;
constexpr int64_t kTenant = 1;

struct Options {
  fs::path out;
  int series = 10000;
  double hours = 6;
  bool observex_only = false;  // no sample files for the peers
  int64_t spans = 1'000'000;
  int64_t logs = 1'000'000;
  uint64_t seed = 1;
  bool samples_text_only = false;
  int64_t chunk_bytes = 0;           // 0: one samples.prom file
  bool counters_and_gauges = false;  // drop the histogram and summary series
};

void Usage() {
  std::fprintf(stderr,
               "usage: storage_size_bench --out DIR [--series N] [--hours H] [--spans N] "
               "[--logs N] [--seed S]\n"
               "       storage_size_bench --out DIR --observex-only [--hours H] ... (no peer "
               "sample files)\n"
               "       storage_size_bench --out DIR --samples-text-only [--series N] [--hours H] "
               "[--chunk-bytes N] [--seed S]\n"
               "  --counters-and-gauges (any mode) keeps only the counter and gauge series\n");
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--samples-text-only") {
      o->samples_text_only = true;
      continue;
    }
    if (a == "--observex-only") {
      o->observex_only = true;
      continue;
    }
    if (a == "--counters-and-gauges") {
      o->counters_and_gauges = true;
      continue;
    }
    if (i + 1 >= argc) {
      Usage();
      return false;
    }
    const char* v = argv[++i];
    if (a == "--out") {
      o->out = v;
    } else if (a == "--series") {
      o->series = std::atoi(v);
    } else if (a == "--hours") {
      o->hours = std::atof(v);
    } else if (a == "--spans") {
      o->spans = std::atoll(v);
    } else if (a == "--logs") {
      o->logs = std::atoll(v);
    } else if (a == "--chunk-bytes") {
      o->chunk_bytes = std::atoll(v);
    } else if (a == "--seed") {
      o->seed = std::strtoull(v, nullptr, 10);
    } else {
      Usage();
      return false;
    }
  }
  // The text for the peers, or ObserveX's parts alone, may cover the whole day (the scrapes
  // of its last minute that fall after midnight go to a second part).
  const double max_hours = o->samples_text_only || o->observex_only ? 24 : 23;
  if (o->out.empty() || o->series <= 0 || o->hours <= 0 || o->hours > max_hours || o->spans < 0 ||
      o->logs < 0 || o->chunk_bytes < 0 || (o->chunk_bytes > 0 && !o->samples_text_only) ||
      (o->observex_only && o->samples_text_only)) {
    Usage();
    return false;
  }
  return true;
}

// A text output file written in large chunks.
class OutFile {
 public:
  explicit OutFile(const fs::path& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (f_ == nullptr) std::fprintf(stderr, "cannot create %s\n", path.c_str());
    buf_.reserve(kChunk + 4096);
  }
  ~OutFile() { Close(); }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  bool ok() const { return f_ != nullptr && ok_; }
  std::string& buf() { return buf_; }
  // Call after each record: writes when the buffer is full.
  void MaybeFlush() {
    if (buf_.size() >= kChunk) Flush();
  }
  bool Close() {
    if (f_ == nullptr) return false;
    Flush();
    if (std::fclose(f_) != 0) ok_ = false;
    f_ = nullptr;
    if (!ok_) std::fprintf(stderr, "write to %s failed\n", path_.c_str());
    return ok_;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  void Flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) ok_ = false;
    buf_.clear();
  }
  fs::path path_;
  FILE* f_;
  bool ok_ = true;
  std::string buf_;
};

void AppendInt(std::string& s, int64_t v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  s.append(b, r.ptr);
}

// Shortest text that reads back as the same double (both peers' parsers accept it).
void AppendDouble(std::string& s, double v) {
  char b[32];
  auto r = std::to_chars(b, b + sizeof b, v);
  s.append(b, r.ptr);
}

std::string DoubleText(double v) {
  std::string s;
  AppendDouble(s, v);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Metric samples

enum Fam {
  kHttpRequests,
  kHttpDuration,
  kActive,
  kProcCpu,
  kRss,
  kFds,
  kStartTime,
  kGoroutines,
  kHeap,
  kGc,
  kNodeCpu,
  kLoad1,
  kLoad5,
  kLoad15,
  kMemAvail,
  kFsAvail,
  kNetRx,
  kNetTx,
  kTemp,
  kQueue,
  kPool,
  kCpuUtil,
  kMemUtil,
  kUp,
  kBuildInfo,
  kNumFams
};

struct FamilyDef {
  const char* name;
  const char* type;  // OpenMetrics type
};

constexpr std::array<FamilyDef, kNumFams> kFamilies = {{
    {"http_server_requests", "counter"},
    {"http_server_request_duration_seconds", "histogram"},
    {"http_server_active_requests", "gauge"},
    {"process_cpu_seconds", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_open_fds", "gauge"},
    {"process_start_time_seconds", "gauge"},
    {"go_goroutines", "gauge"},
    {"go_memstats_heap_alloc_bytes", "gauge"},
    {"go_gc_duration_seconds", "summary"},
    {"node_cpu_seconds", "counter"},
    {"node_load1", "gauge"},
    {"node_load5", "gauge"},
    {"node_load15", "gauge"},
    {"node_memory_MemAvailable_bytes", "gauge"},
    {"node_filesystem_avail_bytes", "gauge"},
    {"node_network_receive_bytes", "counter"},
    {"node_network_transmit_bytes", "counter"},
    {"node_hwmon_temp_celsius", "gauge"},
    {"app_queue_depth", "gauge"},
    {"db_pool_connections", "gauge"},
    {"system_cpu_utilization_ratio", "gauge"},
    {"container_memory_utilization_ratio", "gauge"},
    {"up", "gauge"},
    {"app_build_info", "gauge"},
}};

struct SeriesDef {
  int family;
  std::string name;    // sample name: family name plus _total/_bucket/_sum/_count
  std::string labels;  // inside the braces
  int target;
  bool always;  // present even in a missed scrape (up)
  bool full_precision;
};

constexpr std::array<double, 11> kLe = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr std::array<const char*, 12> kLeText = {"0.005", "0.01", "0.025", "0.05", "0.1",  "0.25",
                                                 "0.5",   "1.0",  "2.5",   "5.0",  "10.0", "+Inf"};
constexpr std::array<const char*, 8> kCpuModes = {"idle",    "iowait", "irq",    "nice",
                                                  "softirq", "steal",  "system", "user"};
constexpr int kCpus = 4;

// Collects a target's series on its first scrape and their values on every scrape, in the same
// order each time.
class ScrapeSink {
 public:
  ScrapeSink(std::vector<SeriesDef>* defs, int target) : defs_(defs), target_(target) {}
  void Begin(double* values) {
    values_ = values;
    next_ = 0;
  }
  void Add(int fam, const char* suffix, const std::string& labels, double v,
           bool full_precision = false, bool always = false) {
    if (defining_) {
      defs_->push_back(SeriesDef{fam, std::string(kFamilies[fam].name) + suffix, labels, target_,
                                 always, full_precision});
    } else {
      values_[next_] = v;
    }
    ++next_;
  }
  size_t count() const { return next_; }
  void EndDefinition() { defining_ = false; }

 private:
  std::vector<SeriesDef>* defs_;
  int target_;
  bool defining_ = true;
  double* values_ = nullptr;
  size_t next_ = 0;
};

constexpr std::array<const char*, 10> kServices = {
    "frontend", "api-gateway", "orders", "payments",      "inventory",
    "users",    "catalog",     "cart",   "notifications", "shipping"};

class Target {
 public:
  Target(int index, std::mt19937_64& rng) : rng_(rng()) {
    std::uniform_real_distribution<double> u(0, 1);
    job_ = kServices[index % kServices.size()];
    instance_ =
        "10.1." + std::to_string(index / 200) + "." + std::to_string(index % 200 + 10) + ":8080";
    base_ = "job=\"" + job_ + "\",instance=\"" + instance_ + "\"";
    phase_ms_ = static_cast<int64_t>(rng() % kIntervalMs);
    static constexpr std::array<const char*, 8> kRoutes = {
        "/api/v1/orders",     "/api/v1/orders/{id}", "/api/v1/products/{id}", "/api/v1/products",
        "/api/v1/cart/items", "/api/v1/users/{id}",  "/api/v1/search",        "/healthz"};
    for (size_t r = 0; r < kRoutes.size(); ++r) {
      Route rt;
      rt.method = (r == 0 || r == 4) ? "POST" : "GET";
      rt.rate = std::pow(10.0, -1.3 + 3 * u(rng));  // 0.05 to 50 requests/s
      rt.mu = std::log(0.004 + 0.3 * u(rng) * u(rng));
      rt.sigma = 0.5 + 0.6 * u(rng);
      rt.err = 0.001 + 0.02 * u(rng) * u(rng);
      const std::string rl = base_ + ",method=\"" + rt.method + "\",route=\"" + kRoutes[r] + "\"";
      const std::array<const char*, 3> codes = {"200", rt.method == "GET" ? "404" : "400", "500"};
      for (int c = 0; c < 3; ++c) rt.code_labels[c] = rl + ",code=\"" + codes[c] + "\"";
      rt.hist_labels = rl;
      for (size_t b = 0; b < kLeText.size(); ++b) {
        rt.le_labels[b] = rl + ",le=\"" + kLeText[b] + "\"";
      }
      routes_.push_back(std::move(rt));
    }
    for (int c = 0; c < kCpus; ++c) {
      for (const char* m : kCpuModes) {
        cpu_labels_.push_back(base_ + ",cpu=\"" + std::to_string(c) + "\",mode=\"" + m + "\"");
      }
    }
    for (const char* q : {"0", "0.25", "0.5", "0.75", "1"}) {
      quantile_labels_.push_back(base_ + ",quantile=\"" + q + "\"");
    }
    mounts_ = {base_ + ",mountpoint=\"/\"", base_ + ",mountpoint=\"/data\""};
    devices_ = {base_ + ",device=\"eth0\"", base_ + ",device=\"lo\""};
    sensors_ = {base_ + ",sensor=\"temp1\"", base_ + ",sensor=\"temp2\""};
    queues_ = {base_ + ",queue=\"orders\"", base_ + ",queue=\"emails\"",
               base_ + ",queue=\"webhooks\""};
    pool_ = {base_ + ",state=\"idle\"", base_ + ",state=\"in_use\""};
    build_ = base_ + ",version=\"1.4." + std::to_string(index % 3) + "\",goversion=\"go1.21.5\"";

    busy_ = 0.05 + 0.5 * u(rng);
    rss_pages_ = 20000 + static_cast<int64_t>(rng() % 200000);
    fds_ = 20 + static_cast<int64_t>(rng() % 200);
    goroutines_ = 40 + static_cast<int64_t>(rng() % 400);
    heap_live_ = std::floor(8e6 + 2e8 * u(rng));
    heap_ = heap_live_;
    start_time_ = 1700000000 + static_cast<double>(rng() % 8000000) / 100;
    mem_avail_kb_ = 2'000'000 + static_cast<int64_t>(rng() % 14'000'000);
    fs_avail_pages_ = {static_cast<int64_t>(1'000'000 + rng() % 9'000'000),
                       static_cast<int64_t>(10'000'000 + rng() % 90'000'000)};
    net_rate_ = {2e4 + 5e6 * u(rng) * u(rng), 1e4 + 3e6 * u(rng) * u(rng)};
    temp_base_ = {38 + 20 * u(rng), 35 + 15 * u(rng)};
    pool_open_ = 5 + static_cast<int>(rng() % 16);
    gc_interval_s_ = 5 + 120 * u(rng);
    mem_limit_ = static_cast<double>(rss_pages_) * 4096 * (1.5 + 3 * u(rng));
    restart_step_ = (rng() % 10 == 0) ? static_cast<int>(rng() % 1000000) : -1;
  }

  int64_t phase_ms() const { return phase_ms_; }
  bool restarts_at(int step, int steps) const {
    return restart_step_ >= 0 && restart_step_ % steps == step && step > 0;
  }

  // One scrape: advances the state by 15 s and reports every series' value.
  void Scrape(int step, int steps, ScrapeSink& sink) {
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> n01(0, 1);
    const double hour = step * 15.0 / 3600;
    const double diurnal =
        1 + 0.3 * std::sin(2 * std::numbers::pi * (hour / 24 + job_.size() * 0.07));
    if (restarts_at(step, steps)) Restart();

    // HTTP traffic, one route at a time.
    double total_rate = 0, busy_requests = 0;
    for (auto& rt : routes_) {
      const double lambda = rt.rate * 15 * diurnal;
      const int64_t n = std::poisson_distribution<int64_t>(lambda)(rng_);
      const int64_t n5 = n == 0 ? 0 : std::binomial_distribution<int64_t>(n, rt.err)(rng_);
      const int64_t n4 = n - n5 == 0 ? 0 : std::binomial_distribution<int64_t>(n - n5, 0.02)(rng_);
      rt.codes[0] += n - n5 - n4;
      rt.codes[1] += n4;
      rt.codes[2] += n5;
      // Bucket counts of n log-normal latencies: successive conditional binomials.
      int64_t left = n;
      double p_left = 1, cdf_prev = 0;
      for (size_t b = 0; b < kLe.size() && left > 0; ++b) {
        const double cdf =
            0.5 * std::erfc(-(std::log(kLe[b]) - rt.mu) / (rt.sigma * std::numbers::sqrt2));
        const double p = std::clamp((cdf - cdf_prev) / p_left, 0.0, 1.0);
        const int64_t k = std::binomial_distribution<int64_t>(left, p)(rng_);
        rt.bucket[b] += k;
        left -= k;
        p_left -= cdf - cdf_prev;
        cdf_prev = cdf;
        if (p_left <= 0) break;
      }
      rt.bucket[kLe.size()] += left;  // beyond the largest finite bound
      rt.count += n;
      const double mean = std::exp(rt.mu + rt.sigma * rt.sigma / 2);
      for (int64_t i = 0; i < std::min<int64_t>(n, 4); ++i) {
        rt.sum += mean * static_cast<double>(n) / std::min<int64_t>(n, 4) *
                  std::exp(0.3 * n01(rng_) - 0.045);
      }
      total_rate += lambda / 15;
      busy_requests += lambda / 15 * mean;
    }
    for (auto& rt : routes_) {
      for (int c = 0; c < 3; ++c) {
        sink.Add(kHttpRequests, "_total", rt.code_labels[c], static_cast<double>(rt.codes[c]));
      }
    }
    for (auto& rt : routes_) {
      int64_t cum = 0;
      for (size_t b = 0; b < kLeText.size(); ++b) {
        cum += rt.bucket[b];
        sink.Add(kHttpDuration, "_bucket", rt.le_labels[b], static_cast<double>(cum));
      }
      sink.Add(kHttpDuration, "_sum", rt.hist_labels, rt.sum, /*full_precision=*/true);
      sink.Add(kHttpDuration, "_count", rt.hist_labels, static_cast<double>(rt.count));
    }
    sink.Add(kActive, "", base_,
             static_cast<double>(std::poisson_distribution<int64_t>(busy_requests + 0.01)(rng_)));

    // CPU: per-mode ticks of 1/100 s on each CPU; the process gets part of the busy time.
    const double busy = std::clamp(busy_ * diurnal + 0.05 * n01(rng_), 0.01, 0.98);
    int64_t busy_ticks = 0;
    for (int c = 0; c < kCpus; ++c) {
      const double b = std::clamp(busy + 0.05 * n01(rng_), 0.0, 1.0);
      const std::array<double, 8> share = {0, 0.02, 0.005, b > 0.5 ? 0.01 : 0, 0.02, 0, 0.25, 0.7};
      int64_t used = 0;
      std::array<int64_t, 8> ticks{};
      for (size_t m = 1; m < kCpuModes.size(); ++m) {
        const double mean = 1500 * b * share[m];
        ticks[m] = mean <= 0 ? 0 : std::poisson_distribution<int64_t>(mean)(rng_);
        used += ticks[m];
      }
      ticks[0] = std::max<int64_t>(0, 1500 - used);
      for (size_t m = 0; m < kCpuModes.size(); ++m) cpu_ticks_[c][m] += ticks[m];
      busy_ticks += used;
    }
    proc_ticks_ += std::poisson_distribution<int64_t>(0.8 * busy_ticks + 1)(rng_);
    sink.Add(kProcCpu, "_total", base_, static_cast<double>(proc_ticks_) / 100);

    rss_pages_ = std::max<int64_t>(5000, rss_pages_ + static_cast<int64_t>(rng_() % 401) - 200);
    sink.Add(kRss, "", base_, static_cast<double>(rss_pages_) * 4096);
    if (rng_() % 4 == 0) fds_ = std::max<int64_t>(10, fds_ + static_cast<int64_t>(rng_() % 5) - 2);
    sink.Add(kFds, "", base_, static_cast<double>(fds_));
    sink.Add(kStartTime, "", base_, start_time_);
    goroutines_ = std::max<int64_t>(8, goroutines_ + static_cast<int64_t>(rng_() % 7) - 3);
    sink.Add(kGoroutines, "", base_, static_cast<double>(goroutines_));

    // Heap: grows with traffic, drops to the live size at each GC.
    heap_ += std::floor((2e4 + 3e3 * total_rate) * 15 * (0.5 + u(rng_)));
    const int64_t gcs = std::poisson_distribution<int64_t>(15 / gc_interval_s_)(rng_);
    if (gcs > 0 || heap_ > 2 * heap_live_) {
      heap_ = std::floor(heap_live_ * (1 + 0.1 * u(rng_)));
      gc_count_ += std::max<int64_t>(gcs, 1);
      for (int64_t i = 0; i < std::max<int64_t>(gcs, 1); ++i) {
        const int64_t pause_ns = 15000 + static_cast<int64_t>(std::exp(10 + 0.8 * n01(rng_)));
        gc_sum_ += static_cast<double>(pause_ns) / 1e9;
        pauses_[gc_count_ % pauses_.size()] = pause_ns;
      }
    }
    sink.Add(kHeap, "", base_, heap_);
    std::array<int64_t, 8> sorted = pauses_;
    std::sort(sorted.begin(), sorted.end());
    const std::array<int, 5> qi = {0, 2, 4, 6, 7};
    for (size_t q = 0; q < qi.size(); ++q) {
      sink.Add(kGc, "", quantile_labels_[q], static_cast<double>(sorted[qi[q]]) / 1e9);
    }
    sink.Add(kGc, "_sum", base_, gc_sum_, /*full_precision=*/true);
    sink.Add(kGc, "_count", base_, static_cast<double>(gc_count_));

    for (int c = 0; c < kCpus; ++c) {
      for (size_t m = 0; m < kCpuModes.size(); ++m) {
        sink.Add(kNodeCpu, "_total", cpu_labels_[c * kCpuModes.size() + m],
                 static_cast<double>(cpu_ticks_[c][m]) / 100);
      }
    }
    const double runnable = kCpus * busy + std::abs(n01(rng_)) * 0.5;
    load_[0] += (runnable - load_[0]) * (1 - std::exp(-15.0 / 60));
    load_[1] += (runnable - load_[1]) * (1 - std::exp(-15.0 / 300));
    load_[2] += (runnable - load_[2]) * (1 - std::exp(-15.0 / 900));
    for (int l = 0; l < 3; ++l) {
      sink.Add(kLoad1 + l, "", base_, std::round(load_[l] * 100) / 100);
    }
    mem_avail_kb_ =
        std::max<int64_t>(100000, mem_avail_kb_ + static_cast<int64_t>(rng_() % 20001) - 10000);
    sink.Add(kMemAvail, "", base_, static_cast<double>(mem_avail_kb_) * 1024);
    for (int f = 0; f < 2; ++f) {
      fs_avail_pages_[f] -= std::poisson_distribution<int64_t>(f == 0 ? 2 : 40)(rng_);
      if (rng_() % 2000 == 0) fs_avail_pages_[f] += static_cast<int64_t>(rng_() % 500000);
      sink.Add(kFsAvail, "", mounts_[f], static_cast<double>(fs_avail_pages_[f]) * 4096);
    }
    for (int d = 0; d < 2; ++d) {
      const double scale = d == 0 ? diurnal : 0.01;
      rx_[d] += std::floor(net_rate_[0] * scale * 15 * std::exp(0.3 * n01(rng_)));
      tx_[d] += std::floor(net_rate_[1] * scale * 15 * std::exp(0.3 * n01(rng_)));
    }
    for (int d = 0; d < 2; ++d) sink.Add(kNetRx, "_total", devices_[d], rx_[d]);
    for (int d = 0; d < 2; ++d) sink.Add(kNetTx, "_total", devices_[d], tx_[d]);
    for (int t = 0; t < 2; ++t) {
      sink.Add(kTemp, "", sensors_[t],
               std::round((temp_base_[t] + 8 * busy + 0.4 * n01(rng_)) * 10) / 10);
    }
    for (size_t q = 0; q < queues_.size(); ++q) {
      if (queue_[q] == 0 && rng_() % 200 == 0) queue_[q] = 1 + static_cast<int64_t>(rng_() % 50);
      if (queue_[q] > 0) {
        queue_[q] = std::max<int64_t>(0, queue_[q] + static_cast<int64_t>(rng_() % 11) - 6);
      }
      sink.Add(kQueue, "", queues_[q], static_cast<double>(queue_[q]));
    }
    const int64_t in_use = std::min<int64_t>(
        pool_open_, std::poisson_distribution<int64_t>(busy_requests * 0.5 + 0.2)(rng_));
    sink.Add(kPool, "", pool_[0], static_cast<double>(pool_open_ - in_use));
    sink.Add(kPool, "", pool_[1], static_cast<double>(in_use));
    cpu_util_ = std::clamp(0.8 * cpu_util_ + 0.2 * busy + 0.01 * n01(rng_), 0.0, 1.0);
    sink.Add(kCpuUtil, "", base_, cpu_util_, /*full_precision=*/true);
    sink.Add(kMemUtil, "", base_, static_cast<double>(rss_pages_) * 4096 / mem_limit_,
             /*full_precision=*/true);
    sink.Add(kUp, "", base_, 1, false, /*always=*/true);
    sink.Add(kBuildInfo, "", build_, 1);
  }

 private:
  struct Route {
    std::string method;
    double rate = 0, mu = 0, sigma = 0, err = 0;
    std::array<std::string, 3> code_labels;
    std::string hist_labels;
    std::array<std::string, 12> le_labels;
    std::array<int64_t, 3> codes{};
    std::array<int64_t, 12> bucket{};
    int64_t count = 0;
    double sum = 0;
  };

  void Restart() {
    for (auto& rt : routes_) {
      rt.codes = {};
      rt.bucket = {};
      rt.count = 0;
      rt.sum = 0;
    }
    proc_ticks_ = 0;
    gc_count_ = 0;
    gc_sum_ = 0;
    heap_ = heap_live_;
    start_time_ =
        static_cast<double>(kStartMs) / 1000 + static_cast<double>(rng_() % 2160000) / 100;
  }

  std::mt19937_64 rng_;
  std::string job_, instance_, base_;
  int64_t phase_ms_ = 0;
  std::vector<Route> routes_;
  std::vector<std::string> cpu_labels_, quantile_labels_;
  std::array<std::string, 2> mounts_, devices_, sensors_, pool_;
  std::array<std::string, 3> queues_;
  std::string build_;
  double busy_ = 0, cpu_util_ = 0.2;
  std::array<std::array<int64_t, 8>, kCpus> cpu_ticks_{};
  int64_t proc_ticks_ = 0;
  int64_t rss_pages_ = 0, fds_ = 0, goroutines_ = 0;
  double heap_live_ = 0, heap_ = 0;
  double start_time_ = 0;
  int64_t gc_count_ = 0;
  double gc_sum_ = 0, gc_interval_s_ = 30;
  std::array<int64_t, 8> pauses_ = {30000, 32000, 35000, 40000, 45000, 50000, 60000, 80000};
  std::array<double, 3> load_ = {0.5, 0.5, 0.5};
  int64_t mem_avail_kb_ = 0;
  std::array<int64_t, 2> fs_avail_pages_{};
  std::array<double, 2> net_rate_{}, rx_{}, tx_{}, temp_base_{};
  std::array<int64_t, 3> queue_{};
  int64_t pool_open_ = 10;
  double mem_limit_ = 1;
  int restart_step_ = -1;
};

struct SampleData {
  std::vector<SeriesDef> series;
  int steps = 0;
  std::vector<int64_t> phases_ms;           // [target]
  std::vector<std::vector<int64_t>> times;  // [target][step], -1 for a missed scrape
  std::vector<double> values;               // [series * steps + step]
  int64_t samples = 0;
};

SampleData GenerateSamples(const Options& o, std::mt19937_64& rng) {
  SampleData d;
  d.steps = static_cast<int>(o.hours * 3600 * 1000 / kIntervalMs);
  std::vector<Target> targets;
  std::vector<size_t> first;  // first series index of each target
  while (static_cast<int>(d.series.size()) < o.series) {
    const int t = static_cast<int>(targets.size());
    targets.emplace_back(t, rng);
    first.push_back(d.series.size());
    ScrapeSink probe(&d.series, t);
    std::vector<double> scratch(1024);
    probe.Begin(scratch.data());
    Target copy = targets.back();  // defining must not advance the real state
    copy.Scrape(0, d.steps, probe);
  }
  d.series.resize(o.series);
  d.values.assign(d.series.size() * d.steps, 0);
  d.times.assign(targets.size(), std::vector<int64_t>(d.steps));
  for (const Target& t : targets) d.phases_ms.push_back(t.phase_ms());
  std::vector<double> scratch(1024);
  for (size_t t = 0; t < targets.size(); ++t) {
    ScrapeSink sink(nullptr, static_cast<int>(t));
    sink.EndDefinition();
    const size_t begin = first[t];
    const size_t end = t + 1 < targets.size() ? first[t + 1] : d.series.size();
    const size_t count = std::min(end, d.series.size()) - begin;
    for (int s = 0; s < d.steps; ++s) {
      int64_t jitter = 0;
      if (rng() % 10 == 0) jitter = (rng() % 2 == 0 ? -1 : 1) * static_cast<int64_t>(1 + rng() % 2);
      const bool missed = rng() % 1000 == 0;
      const int64_t time = kStartMs + targets[t].phase_ms() + kIntervalMs * s + jitter;
      d.times[t][s] = missed ? -time : time;
      sink.Begin(scratch.data());
      targets[t].Scrape(s, d.steps, sink);
      for (size_t k = 0; k < count; ++k) {
        double v = scratch[k];
        if (missed && d.series[begin + k].always) v = 0;  // up = 0 for a failed scrape
        d.values[(begin + k) * d.steps + s] = v;
      }
    }
  }
  for (const auto& sd : d.series) {
    for (int s = 0; s < d.steps; ++s) {
      if (d.times[sd.target][s] > 0 || sd.always) ++d.samples;
    }
  }
  return d;
}

// Keeps only the series of counter and gauge families (the same values and times as in the
// full set): what "bytes per sample of counters and gauges" measures.
void KeepCountersAndGauges(SampleData* d) {
  std::vector<SeriesDef> kept;
  std::vector<double> values;
  d->samples = 0;
  for (size_t i = 0; i < d->series.size(); ++i) {
    const std::string_view type = kFamilies[d->series[i].family].type;
    if (type != "counter" && type != "gauge") continue;
    kept.push_back(d->series[i]);
    const auto row = d->values.begin() + static_cast<ptrdiff_t>(i * d->steps);
    values.insert(values.end(), row, row + d->steps);
    for (int s = 0; s < d->steps; ++s) {
      if (d->times[d->series[i].target][s] > 0 || d->series[i].always) ++d->samples;
    }
  }
  d->series = std::move(kept);
  d->values = std::move(values);
}

// A sample exists when the scrape succeeded, or for `up` always; a missed scrape's time is
// stored negated.
bool SampleTime(const SampleData& d, const SeriesDef& sd, int step, int64_t* t) {
  const int64_t raw = d.times[sd.target][step];
  if (raw > 0) {
    *t = raw;
    return true;
  }
  if (!sd.always) return false;
  *t = -raw;
  return true;
}

// The Prometheus text as one file, or (chunk_bytes > 0) as numbered files of at most
// chunk_bytes each, cut between series, each opening with the current family's TYPE line.
class PromTextOut {
 public:
  PromTextOut(const fs::path& dir, int64_t chunk_bytes)
      : dir_(chunk_bytes > 0 ? dir / "samples-prom" : dir), chunk_bytes_(chunk_bytes) {
    if (chunk_bytes_ > 0) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      fs::create_directories(dir_, ec);
      ok_ = !ec;
    } else {
      file_ = std::make_unique<OutFile>(dir_ / "samples.prom");
    }
  }
  bool ok() const { return ok_ && (file_ == nullptr || file_->ok()); }
  void Family(const std::string& type_line) {
    type_line_ = type_line;
    if (chunk_bytes_ == 0)
      file_->buf() += type_line;
    else if (file_ != nullptr)
      Add(type_line);
  }
  // One series' lines; never split across files.
  void Series(const std::string& text) {
    if (chunk_bytes_ > 0 &&
        (file_ == nullptr || in_file_ + static_cast<int64_t>(text.size()) > chunk_bytes_)) {
      if (file_ != nullptr) ok_ = file_->Close() && ok_;
      char name[32];
      std::snprintf(name, sizeof name, "%05d.prom", files_++);
      file_ = std::make_unique<OutFile>(dir_ / name);
      in_file_ = 0;
      Add(type_line_);
    }
    Add(text);
  }
  bool Close() { return file_ == nullptr ? ok_ : (file_->Close() && ok_); }

 private:
  void Add(const std::string& text) {
    file_->buf() += text;
    in_file_ += static_cast<int64_t>(text.size());
    file_->MaybeFlush();
  }
  fs::path dir_;
  int64_t chunk_bytes_;
  bool ok_ = true;
  std::unique_ptr<OutFile> file_;
  int64_t in_file_ = 0;
  int files_ = 0;
  std::string type_line_;
};

bool WriteSampleFiles(const SampleData& d, const fs::path& dir, int64_t chunk_bytes) {
  OutFile om(dir / "samples.om");
  PromTextOut prom(dir, chunk_bytes);
  if (!om.ok() || !prom.ok()) return false;
  std::vector<std::vector<size_t>> by_family(kNumFams);
  for (size_t i = 0; i < d.series.size(); ++i) by_family[d.series[i].family].push_back(i);
  std::string pb;
  for (int f = 0; f < kNumFams; ++f) {
    if (by_family[f].empty()) continue;
    const std::string type_line =
        std::string("# TYPE ") + kFamilies[f].name + ' ' + kFamilies[f].type + '\n';
    om.buf() += type_line;
    prom.Family(type_line);
    for (size_t i : by_family[f]) {
      const SeriesDef& sd = d.series[i];
      std::string head = sd.name + "{" + sd.labels + "} ";
      pb.clear();
      for (int s = 0; s < d.steps; ++s) {
        int64_t t;
        if (!SampleTime(d, sd, s, &t)) continue;
        std::string val;
        AppendDouble(val, d.values[i * d.steps + s]);
        auto& ob = om.buf();
        ob += head;
        ob += val;
        ob += ' ';
        AppendInt(ob, t / 1000);
        ob += '.';
        const int64_t ms = t % 1000;
        ob += static_cast<char>('0' + ms / 100);
        ob += static_cast<char>('0' + ms / 10 % 10);
        ob += static_cast<char>('0' + ms % 10);
        ob += '\n';
        pb += head;
        pb += val;
        pb += ' ';
        AppendInt(pb, t);
        pb += '\n';
        om.MaybeFlush();
      }
      prom.Series(pb);
    }
  }
  om.buf() += "# EOF\n";
  const bool om_ok = om.Close();
  return prom.Close() && om_ok;
}

// Registers every series in the tenant's series index as the engine does (ids sequential from
// 1, the day each series has samples in) and returns the ids in series order. The index's log
// file is part of what ObserveX keeps for the samples, as Prometheus's index and
// VictoriaMetrics's indexdb are for theirs.
absl::StatusOr<std::vector<int64_t>> IndexSeries(const fs::path& root, const SampleData& d,
                                                 uint64_t* bytes) {
  const fs::path dir = root / std::to_string(kTenant);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError("cannot create " + dir.string() + ": " + ec.message());
  auto index = st::SeriesIndex::Open(dir / st::kSeriesLogFileName, /*fsync=*/false);
  if (!index.ok()) return index.status();
  std::vector<observex::query::Labels> labels;
  labels.reserve(d.series.size());
  for (const SeriesDef& sd : d.series) {
    // sd.labels is name="value",... and no value holds a quote.
    std::vector<observex::query::Label> items = {{"__name__", sd.name}};
    for (size_t at = 0; at < sd.labels.size();) {
      const size_t eq = sd.labels.find("=\"", at);
      const size_t close = sd.labels.find('"', eq + 2);
      items.push_back({sd.labels.substr(at, eq - at), sd.labels.substr(eq + 2, close - eq - 2)});
      at = close + 2;  // past the quote and the comma
    }
    labels.emplace_back(std::move(items));
  }
  std::vector<const observex::query::Labels*> ptrs;
  for (const auto& l : labels) ptrs.push_back(&l);
  auto ids = (*index)->Resolve(ptrs);
  if (!ids.ok()) return ids.status();
  if (auto s = (*index)->NoteDay(*ids, st::SamplesSchema().DayOf(kStartMs)); !s.ok()) return s;
  if (auto s = (*index)->Sync(); !s.ok()) return s;
  index->reset();
  *bytes = fs::file_size(dir / st::kSeriesLogFileName, ec);
  if (ec) return absl::UnavailableError("cannot stat the series log: " + ec.message());
  return ids;
}

st::ColumnBatch SampleRows(const SampleData& d, const std::vector<int64_t>& series_ids) {
  st::ColumnBatch b = st::SamplesSchema().NewBatch();
  auto& ids = std::get<std::vector<int64_t>>(b.columns[st::SamplesSchema().IndexOf("series_id")]);
  auto& ts = std::get<std::vector<int64_t>>(b.columns[st::SamplesSchema().IndexOf("time")]);
  auto& vs = std::get<std::vector<double>>(b.columns[st::SamplesSchema().IndexOf("value")]);
  ids.reserve(d.samples);
  ts.reserve(d.samples);
  vs.reserve(d.samples);
  for (size_t i = 0; i < d.series.size(); ++i) {
    for (int s = 0; s < d.steps; ++s) {
      int64_t t;
      if (!SampleTime(d, d.series[i], s, &t)) continue;
      ids.push_back(series_ids[i]);
      ts.push_back(t);
      vs.push_back(d.values[i * d.steps + s]);
    }
  }
  return b;
}

// Lengths of the runs of equal ids in ids[begin, end): one series each, as the part writer
// passes them to the segmented encoding.
std::vector<uint32_t> SeriesRuns(const std::vector<int64_t>& ids, size_t begin, size_t end) {
  std::vector<uint32_t> runs;
  for (size_t r = begin; r < end;) {
    size_t e = r;
    while (e < end && ids[e] == ids[r]) ++e;
    runs.push_back(static_cast<uint32_t>(e - r));
    r = e;
  }
  return runs;
}

// Where the samples' bytes go, for the report: `rows` is in part order (series, time).
//  - the time and value columns in the segmented encoding, as the part writer stores them
//    (one sub-encoding per series run inside each block of 8,192 rows; for the time column
//    without the part's shared time sequences, i.e. as part format 3 stored it), against
//    part format 2's choice of one encoding per column per block (kDelta; kDecimal, which falls
//    back to kGorilla for the whole block when one value in it is not a short decimal).
//  - the value column with every value rounded to 12 significant digits, which is what
//    VictoriaMetrics keeps (it is not bit-exact; ObserveX and Prometheus are), to compare
//    like with like.
//  - the samples of each metric name (family plus _total/_bucket/_sum/_count suffix) encoded
//    on their own (time + value, segmented), so the kinds of series that dominate are visible.
std::string AnalyzeSamples(const SampleData& d, const std::vector<int64_t>& series_ids,
                           const st::ColumnBatch& rows) {
  const st::TableSchema& schema = st::SamplesSchema();
  const auto& ids = std::get<std::vector<int64_t>>(rows.columns[schema.IndexOf("series_id")]);
  const st::Column& tc = rows.columns[schema.IndexOf("time")];
  const st::Column& vc = rows.columns[schema.IndexOf("value")];
  const size_t n = ids.size();
  st::BlockCompressor comp;
  std::string raw, stored;
  auto block_bytes = [&](const std::string& encoded) {
    comp.Compress(encoded, &stored);
    return stored.size() + st::kBlockHeaderBytes;
  };
  auto encoded_bytes = [&](const st::Column& c, size_t begin, size_t end, st::Encoding e,
                           const std::vector<uint32_t>& runs, st::Encoding* used = nullptr) {
    raw.clear();
    const st::Encoding u = st::EncodeColumn(c, begin, end, e, &raw, runs);
    if (used != nullptr) *used = u;
    return block_bytes(raw);
  };
  // The same value column rounded to 12 significant digits.
  std::vector<double> rounded_values;
  rounded_values.reserve(n);
  for (double v : std::get<std::vector<double>>(vc)) {
    char b[40];
    std::snprintf(b, sizeof b, "%.12g", v);
    rounded_values.push_back(std::strtod(b, nullptr));
  }
  const st::Column rc(std::move(rounded_values));
  uint64_t time_v2 = 0, value_v2 = 0, time_seg = 0, value_seg = 0, rounded_seg = 0;
  // The segmented value column compressed at higher zstd levels than the default 3.
  static constexpr int kWhatIfLevels[] = {9, 19};
  std::vector<std::unique_ptr<st::BlockCompressor>> level_comps;
  for (int l : kWhatIfLevels) level_comps.push_back(std::make_unique<st::BlockCompressor>(l));
  uint64_t value_levels[std::size(kWhatIfLevels)] = {};
  size_t blocks = 0, gorilla_blocks = 0;
  for (size_t b = 0; b < n; b += st::kDefaultBlockRows) {
    const size_t end = std::min(n, b + st::kDefaultBlockRows);
    const std::vector<uint32_t> runs = SeriesRuns(ids, b, end);
    ++blocks;
    st::Encoding used;
    time_v2 += encoded_bytes(tc, b, end, st::Encoding::kDelta, {});
    value_v2 += encoded_bytes(vc, b, end, st::Encoding::kDecimal, {}, &used);
    if (used == st::Encoding::kGorilla) ++gorilla_blocks;
    time_seg += encoded_bytes(tc, b, end, st::Encoding::kSegmented, runs);
    value_seg += encoded_bytes(vc, b, end, st::Encoding::kSegmented, runs);
    for (size_t l = 0; l < std::size(kWhatIfLevels); ++l) {
      value_levels[l] += level_comps[l]->Compress(raw, &stored) == st::Compression::kNone
                             ? raw.size() + st::kBlockHeaderBytes
                             : stored.size() + st::kBlockHeaderBytes;
    }
    rounded_seg += encoded_bytes(rc, b, end, st::Encoding::kSegmented, runs);
  }
  auto per = [n](uint64_t bytes) { return std::to_string(static_cast<double>(bytes) / n); };
  std::string out;
  out += "whatif samples blocks " + std::to_string(blocks) + " v2_gorilla_fallback " +
         std::to_string(gorilla_blocks) + "\n";
  // Parts now store the time sequences a target's series share once (the column file's
  // bytes above); this is the segmented time column without them, as part format 3 had it.
  out += "whatif samples time format3_segmented " + std::to_string(time_seg) + " " + per(time_seg) +
         " v2_delta_per_block " + std::to_string(time_v2) + " " + per(time_v2) + "\n";
  out += "whatif samples value segmented " + std::to_string(value_seg) + " " + per(value_seg) +
         " v2_decimal_per_block " + std::to_string(value_v2) + " " + per(value_v2) + "\n";
  out += "whatif samples value_12_digits segmented " + std::to_string(rounded_seg) + " " +
         per(rounded_seg) + "\n";
  for (size_t l = 0; l < std::size(kWhatIfLevels); ++l) {
    out += "whatif samples value segmented_zstd_" + std::to_string(kWhatIfLevels[l]) + " " +
           std::to_string(value_levels[l]) + " " + per(value_levels[l]) + "\n";
  }

  // Per metric name: its samples in part order, cut into blocks of 8,192.
  std::vector<std::string> names;
  std::vector<std::vector<size_t>> rows_of;
  std::vector<size_t> name_of(*std::max_element(series_ids.begin(), series_ids.end()) + 1);
  for (size_t i = 0; i < d.series.size(); ++i) {
    const auto it = std::find(names.begin(), names.end(), d.series[i].name);
    name_of[series_ids[i]] = static_cast<size_t>(it - names.begin());
    if (it == names.end()) names.push_back(d.series[i].name);
  }
  rows_of.resize(names.size());
  for (size_t r = 0; r < n; ++r) rows_of[name_of[ids[r]]].push_back(r);
  for (size_t f = 0; f < names.size(); ++f) {
    const auto& fr = rows_of[f];
    if (fr.empty()) continue;
    std::vector<int64_t> ft, fid;
    std::vector<double> fv;
    for (size_t r : fr) {
      fid.push_back(ids[r]);
      ft.push_back(std::get<std::vector<int64_t>>(tc)[r]);
      fv.push_back(std::get<std::vector<double>>(vc)[r]);
    }
    const st::Column ftc(std::move(ft)), fvc(std::move(fv));
    uint64_t tb = 0, vb = 0;
    for (size_t b = 0; b < fr.size(); b += st::kDefaultBlockRows) {
      const size_t end = std::min(fr.size(), b + st::kDefaultBlockRows);
      const std::vector<uint32_t> runs = SeriesRuns(fid, b, end);
      tb += encoded_bytes(ftc, b, end, st::Encoding::kSegmented, runs);
      vb += encoded_bytes(fvc, b, end, st::Encoding::kSegmented, runs);
    }
    out += "metric " + names[f] + " " + std::to_string(fr.size()) + " " + std::to_string(tb) + " " +
           std::to_string(vb) + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Spans and log records: shared pieces

// Appends `s` escaped for ClickHouse's TabSeparated format, inside or outside array literals.
void AppendTsv(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\'':
        out += "\\'";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += c;
    }
  }
}

struct KeyValues {
  std::vector<std::string> keys, values;  // values as text, for ClickHouse
};

// One attribute map built for both systems: OTLP key-values for ObserveX's writer and text
// key/value arrays for ClickHouse.
class Attrs {
 public:
  void Str(std::string_view k, std::string_view v) {
    Add(k)->set_string_value(std::string(v));
    text_.values.emplace_back(v);
  }
  void Int(std::string_view k, int64_t v) {
    Add(k)->set_int_value(v);
    text_.values.push_back(std::to_string(v));
  }
  void Double(std::string_view k, double v) {
    Add(k)->set_double_value(v);
    text_.values.push_back(DoubleText(v));
  }
  size_t size() const { return text_.keys.size(); }
  const KeyValues& text() const { return text_; }
  const KeyValueList& otlp() const { return otlp_; }

 private:
  otlp_common::AnyValue* Add(std::string_view k) {
    text_.keys.emplace_back(k);
    otlp_common::KeyValue* kv = otlp_.Add();
    kv->set_key(std::string(k));
    return kv->mutable_value();
  }
  KeyValueList otlp_;
  KeyValues text_;
};

void AppendStringArray(std::string& out, const std::vector<std::string>& v) {
  out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += '\'';
    AppendTsv(out, v[i]);
    out += '\'';
  }
  out += ']';
}

void AppendNestedArray(std::string& out, const std::vector<std::vector<std::string>>& v) {
  out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    AppendStringArray(out, v[i]);
  }
  out += ']';
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t r = rng();
    std::memcpy(s.data() + i, &r, std::min<size_t>(8, n - i));
  }
  return s;
}

struct Instance {
  int service;
  Attrs resource;
};

constexpr std::array<const char*, 10> kLanguages = {"nodejs", "go", "java",   "go",     "java",
                                                    "python", "go", "dotnet", "python", "java"};

std::vector<Instance> MakeInstances(std::mt19937_64& rng) {
  std::vector<Instance> out;
  static constexpr std::array<const char*, 6> kSdkVersions = {"1.21.0", "1.24.0", "1.32.0",
                                                              "1.7.0",  "1.22.0", "1.6.0"};
  for (size_t s = 0; s < kServices.size(); ++s) {
    for (int i = 0; i < 3; ++i) {
      Instance in;
      in.service = static_cast<int>(s);
      const std::string hash = RandomBytes(rng, 4);
      char pod[64];
      std::snprintf(pod, sizeof pod, "%s-%02x%02x%02x%02x-%c%c%c%c%c", kServices[s],
                    static_cast<unsigned char>(hash[0]), static_cast<unsigned char>(hash[1]),
                    static_cast<unsigned char>(hash[2]), static_cast<unsigned char>(hash[3]),
                    'a' + static_cast<char>(rng() % 26), 'a' + static_cast<char>(rng() % 26),
                    'a' + static_cast<char>(rng() % 26), 'a' + static_cast<char>(rng() % 26),
                    'a' + static_cast<char>(rng() % 26));
      char uuid[40];
      std::snprintf(uuid, sizeof uuid, "%08x-%04x-%04x-%04x-%012llx",
                    static_cast<unsigned>(rng() & 0xffffffff),
                    static_cast<unsigned>(rng() & 0xffff),
                    static_cast<unsigned>(0x4000 | (rng() & 0x0fff)),
                    static_cast<unsigned>(0x8000 | (rng() & 0x3fff)),
                    static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
      Attrs a;
      a.Str("service.name", kServices[s]);
      a.Str("service.namespace", "shop");
      a.Str("service.version", "1.4." + std::to_string(s % 3));
      a.Str("service.instance.id", uuid);
      a.Str("deployment.environment.name", "production");
      a.Str("host.name", "node-" + std::to_string(rng() % 12));
      a.Str("k8s.namespace.name", "shop-prod");
      a.Str("k8s.pod.name", pod);
      a.Str("k8s.node.name", "ip-10-0-" + std::to_string(rng() % 4) + "-" +
                                 std::to_string(rng() % 250) + ".ec2.internal");
      a.Str("telemetry.sdk.name", "opentelemetry");
      a.Str("telemetry.sdk.language", kLanguages[s]);
      a.Str("telemetry.sdk.version", kSdkVersions[s % kSdkVersions.size()]);
      in.resource = std::move(a);
      out.push_back(std::move(in));
    }
  }
  return out;
}

constexpr std::array<const char*, 5> kStackTemplates = {
    "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
    "request timed out after 30000ms.\n\tat "
    "com.zaxxer.hikari.pool.HikariPool.createTimeoutException"
    "(HikariPool.java:696)\n\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:"
    "181)\n\tat com.shop.orders.OrderRepository.save(OrderRepository.java:{L})\n\tat "
    "com.shop.orders.OrderService.placeOrder(OrderService.java:88)\n\tat "
    "com.shop.orders.OrderController.create(OrderController.java:41)",
    "Traceback (most recent call last):\n  File \"/app/users/handlers.py\", line {L}, in get_user\n"
    "    row = await db.fetch_one(query, values={\"id\": user_id})\n  File "
    "\"/usr/local/lib/python3.11/site-packages/databases/core.py\", line 172, in fetch_one\n"
    "asyncpg.exceptions.QueryCanceledError: canceling statement due to statement timeout",
    "goroutine 1337 [running]:\nmain.(*server).Charge(0xc0001a2000, {0x1029e40, 0xc000312f30})\n"
    "\t/src/payments/server.go:{L} +0x1a5\ngoogle.golang.org/grpc.(*Server).processUnaryRPC("
    "0xc000188000)\n\t/go/pkg/mod/google.golang.org/grpc@v1.60.1/server.go:1372 +0xe03",
    "Error: connect ECONNREFUSED 10.2.1.11:8080\n    at TCPConnectWrap.afterConnect [as "
    "oncomplete] "
    "(node:net:1555:16)\n    at /app/server/routes/product.js:{L}:19\n    at "
    "processTicksAndRejections "
    "(node:internal/process/task_queues:95:5)",
    "System.TimeoutException: The operation has timed out.\n   at Shop.Cart.RedisStore.GetAsync("
    "String key) in /src/Cart/RedisStore.cs:line {L}\n   at Shop.Cart.CartService.AddItem("
    "AddItemRequest request, ServerCallContext context) in /src/Cart/CartService.cs:line 57",
};

std::string StackTrace(std::mt19937_64& rng, int which) {
  std::string s = kStackTemplates[which % kStackTemplates.size()];
  const size_t at = s.find("{L}");
  s.replace(at, 3, std::to_string(20 + rng() % 400));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Spans

enum Proto { kHttpServer, kGrpcServer, kInternal, kDb, kCache, kExternal, kProducer, kConsumer };

struct Call {
  int op;
  double prob;
  int min_n, max_n;
};

struct Op {
  int service;
  Proto proto;
  std::string method;  // HTTP method, or the SQL/Redis operation
  std::string route;   // HTTP route, gRPC full method, table, key prefix or internal name
  double median_ms;    // own time
  double err;
  std::vector<Call> calls;
};

// Span kinds (OTLP numbering).
constexpr int kKindInternal = 1, kKindServer = 2, kKindClient = 3, kKindProducer = 4,
              kKindConsumer = 5;

struct SpanEvent {
  int64_t time;
  std::string name;
  Attrs attrs;
};

struct SpanLink {
  std::string trace_id, span_id;
  Attrs attrs;
  uint32_t flags;
};

struct SpanRow {
  int instance;
  std::string name;
  int64_t start = 0, duration = 0;
  std::string trace_id, span_id, parent;
  int kind = kKindInternal;
  int status = 0;  // 0 unset, 2 error
  std::string status_message;
  uint32_t flags = 0x101;
  std::string scope_name, scope_version;
  Attrs attrs;
  std::vector<SpanEvent> events;
  std::vector<SpanLink> links;
};

class SpanGenerator {
 public:
  SpanGenerator(std::mt19937_64& rng, const std::vector<Instance>& instances)
      : rng_(rng()), instances_(instances) {
    for (int i = 0; i < 5000; ++i) {
      client_ips_.push_back(std::to_string(11 + rng_() % 200) + "." + std::to_string(rng_() % 256) +
                            "." + std::to_string(rng_() % 256) + "." +
                            std::to_string(1 + rng_() % 254));
    }
    DefineOps();
  }

  // Appends one trace's spans to *out, starting at `start_ns`.
  void Trace(int64_t start_ns, std::vector<SpanRow>* out) {
    trace_id_ = RandomBytes(rng_, 16);
    const double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    const int root = r < 0.3 ? roots_[0] : r < 0.7 ? roots_[1] : r < 0.9 ? roots_[2] : roots_[3];
    user_id_ = 1 + static_cast<int64_t>(rng_() % 200000);
    product_id_ = 1 + static_cast<int64_t>(rng_() % 50000);
    order_id_ = ++orders_;
    bool error = false;
    Server(root, "", start_ns, true, out, &error);
  }

 private:
  int Add(Op op) {
    ops_.push_back(std::move(op));
    return static_cast<int>(ops_.size()) - 1;
  }

  void DefineOps() {
    enum { fe, gw, orders, payments, inventory, users, catalog, cart, notif, shipping };
    const int db_products = Add({catalog, kDb, "SELECT", "products", 2.0, 0.001, {}});
    const int db_reviews = Add({catalog, kDb, "SELECT", "reviews", 3.0, 0.001, {}});
    const int cache_product = Add({catalog, kCache, "GET", "product", 0.3, 0.0005, {}});
    const int list = Add({catalog,
                          kGrpcServer,
                          "",
                          "catalog.CatalogService/ListFeatured",
                          1.5,
                          0.001,
                          {{cache_product, 1, 1, 6}, {db_products, 0.3, 1, 1}}});
    const int get_product =
        Add({catalog,
             kGrpcServer,
             "",
             "catalog.CatalogService/GetProduct",
             0.8,
             0.001,
             {{cache_product, 1, 1, 1}, {db_products, 0.25, 1, 1}, {db_reviews, 0.5, 1, 1}}});
    const int db_stock = Add({inventory, kDb, "SELECT", "stock", 1.5, 0.001, {}});
    const int db_stock_upd = Add({inventory, kDb, "UPDATE", "stock", 2.5, 0.002, {}});
    const int get_stock = Add({inventory,
                               kGrpcServer,
                               "",
                               "inventory.InventoryService/GetStock",
                               0.5,
                               0.001,
                               {{db_stock, 1, 1, 1}}});
    const int reserve = Add({inventory,
                             kGrpcServer,
                             "",
                             "inventory.InventoryService/Reserve",
                             0.7,
                             0.003,
                             {{db_stock_upd, 1, 1, 5}}});
    const int db_user = Add({users, kDb, "SELECT", "users", 1.2, 0.001, {}});
    const int cache_session = Add({users, kCache, "GET", "session", 0.2, 0.0005, {}});
    const int get_user = Add({users,
                              kHttpServer,
                              "GET",
                              "/users/{id}",
                              1.0,
                              0.001,
                              {{cache_session, 1, 1, 1}, {db_user, 0.4, 1, 1}}});
    const int cache_cart = Add({cart, kCache, "HSET", "cart", 0.3, 0.001, {}});
    const int add_item = Add({cart,
                              kGrpcServer,
                              "",
                              "cart.CartService/AddItem",
                              0.6,
                              0.002,
                              {{get_stock, 1, 1, 1}, {cache_cart, 1, 1, 2}}});
    const int fraud = Add({payments, kInternal, "", "fraud check", 4.0, 0.0, {}});
    const int charge_ext = Add({payments, kExternal, "POST", "/v1/charges", 180, 0.02, {}});
    const int db_payment = Add({payments, kDb, "INSERT", "payments", 2.0, 0.001, {}});
    const int charge = Add({payments,
                            kGrpcServer,
                            "",
                            "payments.PaymentService/Charge",
                            1.0,
                            0.002,
                            {{fraud, 1, 1, 1}, {charge_ext, 1, 1, 1}, {db_payment, 1, 1, 1}}});
    const int email_ext = Add({notif, kExternal, "POST", "/v3/mail/send", 90, 0.01, {}});
    const int render = Add({notif, kInternal, "", "render template", 3.0, 0.0, {}});
    const int consume = Add({notif,
                             kConsumer,
                             "process",
                             "order-events",
                             0.5,
                             0.001,
                             {{render, 1, 1, 1}, {email_ext, 1, 1, 1}}});
    const int publish =
        Add({orders, kProducer, "publish", "order-events", 1.5, 0.001, {{consume, 1, 1, 1}}});
    const int validate = Add({orders, kInternal, "", "validate order", 0.8, 0.0, {}});
    const int db_order = Add({orders, kDb, "INSERT", "orders", 2.5, 0.002, {}});
    const int db_items = Add({orders, kDb, "INSERT", "order_items", 1.5, 0.001, {}});
    const int quote = Add({shipping, kHttpServer, "POST", "/quotes", 6.0, 0.002, {}});
    const int place = Add({orders,
                           kGrpcServer,
                           "",
                           "orders.OrderService/PlaceOrder",
                           1.2,
                           0.002,
                           {{validate, 1, 1, 1},
                            {reserve, 1, 1, 1},
                            {quote, 1, 1, 1},
                            {charge, 1, 1, 1},
                            {db_order, 1, 1, 1},
                            {db_items, 1, 1, 6},
                            {publish, 1, 1, 1}}});
    const int gw_featured =
        Add({gw, kHttpServer, "GET", "/api/v1/catalog/featured", 0.4, 0.0005, {{list, 1, 1, 1}}});
    const int gw_me =
        Add({gw, kHttpServer, "GET", "/api/v1/users/me", 0.4, 0.0005, {{get_user, 1, 1, 1}}});
    const int gw_product = Add({gw,
                                kHttpServer,
                                "GET",
                                "/api/v1/products/{id}",
                                0.4,
                                0.0005,
                                {{get_product, 1, 1, 1}, {get_stock, 1, 1, 1}}});
    const int gw_cart = Add({gw,
                             kHttpServer,
                             "POST",
                             "/api/v1/cart/items",
                             0.4,
                             0.0005,
                             {{get_user, 1, 1, 1}, {add_item, 1, 1, 1}}});
    const int gw_order = Add({gw,
                              kHttpServer,
                              "POST",
                              "/api/v1/orders",
                              0.5,
                              0.0005,
                              {{get_user, 1, 1, 1}, {place, 1, 1, 1}}});
    roots_ = {Add({fe,
                   kHttpServer,
                   "GET",
                   "/",
                   3.0,
                   0.0005,
                   {{gw_featured, 1, 1, 1}, {gw_me, 0.8, 1, 1}}}),
              Add({fe,
                   kHttpServer,
                   "GET",
                   "/product/{id}",
                   2.5,
                   0.0005,
                   {{gw_product, 1, 1, 1}, {gw_me, 0.8, 1, 1}}}),
              Add({fe, kHttpServer, "POST", "/cart", 2.0, 0.001, {{gw_cart, 1, 1, 1}}}),
              Add({fe, kHttpServer, "POST", "/checkout", 4.0, 0.001, {{gw_order, 1, 1, 1}}})};
  }

  int64_t LogNormalNs(double median_ms, double sigma) {
    const double x = median_ms * std::exp(sigma * std::normal_distribution<double>(0, 1)(rng_));
    return std::max<int64_t>(1000, static_cast<int64_t>(x * 1e6));
  }

  int PickInstance(int service) { return service * 3 + static_cast<int>(rng_() % 3); }

  std::string Path(const std::string& route) {
    std::string p = route;
    const size_t at = p.find("{id}");
    if (at != std::string::npos) {
      const int64_t id = route.find("users") != std::string::npos     ? user_id_
                         : route.find("product") != std::string::npos ? product_id_
                                                                      : order_id_;
      p.replace(at, 4, std::to_string(id));
    }
    return p;
  }

  void Scope(SpanRow& s, const char* what) {
    const std::string lang = kLanguages[instances_[s.instance].service];
    if (lang == "go") {
      s.scope_name = std::string("go.opentelemetry.io/contrib/instrumentation/") + what;
      s.scope_version = "0.46.1";
    } else if (lang == "java") {
      s.scope_name = std::string("io.opentelemetry.") + what;
      s.scope_version = "1.32.0-alpha";
    } else if (lang == "python") {
      s.scope_name = std::string("opentelemetry.instrumentation.") + what;
      s.scope_version = "0.43b0";
    } else if (lang == "nodejs") {
      s.scope_name = std::string("@opentelemetry/instrumentation-") + what;
      s.scope_version = "0.45.0";
    } else {
      s.scope_name = std::string("OpenTelemetry.Instrumentation.") + what;
      s.scope_version = "1.6.0-beta.3";
    }
  }

  SpanRow NewSpan(int instance, std::string name, int kind, const std::string& parent) {
    SpanRow s;
    s.instance = instance;
    s.name = std::move(name);
    s.kind = kind;
    s.trace_id = trace_id_;
    s.span_id = RandomBytes(rng_, 8);
    s.parent = parent;
    // Bit 0x200: the parent is remote (a server or consumer span of a propagated context).
    const bool remote = !parent.empty() && (kind == kKindServer || kind == kKindConsumer);
    s.flags = remote ? 0x301 : 0x101;
    return s;
  }

  void AddEvent(SpanRow& s, int64_t time, std::string name, Attrs a) {
    s.events.push_back(SpanEvent{time, std::move(name), std::move(a)});
  }

  void MaybeError(SpanRow& s, const Op& op, bool* error) {
    if (!*error && std::uniform_real_distribution<double>(0, 1)(rng_) >= op.err) return;
    *error = true;
    s.status = 2;
    static constexpr std::array<const char*, 5> kMessages = {
        "connection reset by peer", "context deadline exceeded", "upstream request timeout",
        "too many connections", "card declined"};
    const int which = static_cast<int>(rng_() % kMessages.size());
    s.status_message = kMessages[which];
    Attrs a;
    a.Str("exception.type", which == 4 ? "PaymentDeclinedError" : "TimeoutError");
    a.Str("exception.message", s.status_message);
    a.Str("exception.stacktrace", StackTrace(rng_, instances_[s.instance].service));
    const int64_t at = s.start + s.duration - 1000 * static_cast<int64_t>(rng_() % 500);
    AddEvent(s, std::max(s.start, at), "exception", std::move(a));
  }

  // A SERVER (or CONSUMER) span of `op_index` and its subtree; returns the end time.
  int64_t Server(int op_index, const std::string& parent, int64_t start, bool root,
                 std::vector<SpanRow>* out, bool* error) {
    const Op& op = ops_[op_index];
    const int inst = PickInstance(op.service);
    const bool http = op.proto == kHttpServer;
    const int kind = op.proto == kConsumer ? kKindConsumer : kKindServer;
    const std::string name = http                    ? op.method + " " + op.route
                             : op.proto == kConsumer ? op.route + " " + op.method
                                                     : op.route;
    SpanRow s = NewSpan(inst, name, kind, parent);
    s.start = start;
    bool child_error = false;
    const int64_t end = Children(op, inst, s.span_id, start + LogNormalNs(op.median_ms * 0.3, 0.5),
                                 out, &child_error);
    s.duration = end - start + LogNormalNs(op.median_ms * 0.7, 0.6);
    Attrs a;
    if (http) {
      Scope(s, "http");
      const bool err = child_error && rng_() % 10 < 7;
      const int code = err ? 500 : (rng_() % 100 == 0 ? 404 : 200);
      a.Str("http.request.method", op.method);
      a.Str("url.scheme", "http");
      a.Str("url.path", Path(op.route));
      a.Str("http.route", op.route);
      a.Int("http.response.status_code", code);
      a.Str("server.address", kServices[op.service]);
      a.Int("server.port", 8080);
      a.Str("network.protocol.version", "1.1");
      if (root) {
        a.Str("client.address", client_ips_[rng_() % client_ips_.size()]);
        static constexpr std::array<const char*, 5> kAgents = {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.1 Safari/605.1.15",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.43 Mobile Safari/537.36"};
        a.Str("user_agent.original", kAgents[rng_() % kAgents.size()]);
      } else {
        a.Str("client.address", "10.2.1." + std::to_string(10 + rng_() % 3));
      }
      if (err) {
        s.status = 2;
        *error = true;
      }
    } else if (op.proto == kConsumer) {
      Scope(s, "kafka");
      a.Str("messaging.system", "kafka");
      a.Str("messaging.operation.type", "process");
      a.Str("messaging.destination.name", op.route);
      a.Str("messaging.consumer.group.name", "notifications");
      a.Int("messaging.destination.partition.id", static_cast<int64_t>(order_id_ % 12));
      a.Str("messaging.kafka.message.key", std::to_string(order_id_));
      a.Int("messaging.kafka.offset", order_id_ * 3 / 12 + 1000000);
    } else {
      Scope(s, "grpc");
      const size_t slash = op.route.find('/');
      a.Str("rpc.system", "grpc");
      a.Str("rpc.service", op.route.substr(0, slash));
      a.Str("rpc.method", op.route.substr(slash + 1));
      a.Int("rpc.grpc.status_code", child_error ? 14 : 0);
      a.Str("server.address", kServices[op.service]);
      a.Int("server.port", 50051);
      if (child_error) {
        s.status = 2;
        s.status_message = "upstream unavailable";
        *error = true;
      }
    }
    if (op.route.find("Order") != std::string::npos) a.Int("app.order.id", order_id_);
    if (op.route.find("{id}") != std::string::npos && op.route.find("users") != std::string::npos) {
      a.Int("app.user.id", user_id_);
    }
    if (s.status != 2) MaybeError(s, op, error);
    s.attrs = std::move(a);
    const int64_t end_time = s.start + s.duration;
    out->push_back(std::move(s));
    return end_time;
  }

  // Calls from `op` made by instance `inst` in span `parent`, sequentially from `t`.
  int64_t Children(const Op& op, int inst, const std::string& parent, int64_t t,
                   std::vector<SpanRow>* out, bool* error) {
    std::uniform_real_distribution<double> u(0, 1);
    for (const Call& c : op.calls) {
      if (u(rng_) >= c.prob) continue;
      const int n = c.min_n + static_cast<int>(rng_() % (c.max_n - c.min_n + 1));
      for (int i = 0; i < n; ++i) t = Client(c.op, inst, parent, t, out, error) + 20'000;
    }
    return t;
  }

  // A CLIENT or PRODUCER span from `inst` calling `op_index`, and the callee's subtree.
  int64_t Client(int op_index, int inst, const std::string& parent, int64_t start,
                 std::vector<SpanRow>* out, bool* error) {
    const Op& op = ops_[op_index];
    Attrs a;
    SpanRow s = NewSpan(inst, "", kKindClient, parent);
    s.start = start;
    bool child_error = false;
    switch (op.proto) {
      case kHttpServer: {
        s.name = op.method;
        Scope(s, "http");
        const int64_t end =
            Server(op_index, s.span_id, start + 150'000 + static_cast<int64_t>(rng_() % 300'000),
                   false, out, &child_error);
        s.duration = end - start + 100'000 + static_cast<int64_t>(rng_() % 300'000);
        a.Str("http.request.method", op.method);
        a.Str("url.full",
              "http://" + std::string(kServices[op.service]) + ":8080" + Path(op.route));
        a.Str("server.address", kServices[op.service]);
        a.Int("server.port", 8080);
        a.Int("http.response.status_code", child_error ? 500 : 200);
        if (child_error) s.status = 2;
        break;
      }
      case kGrpcServer: {
        s.name = op.route;
        Scope(s, "grpc");
        const int64_t end =
            Server(op_index, s.span_id, start + 100'000 + static_cast<int64_t>(rng_() % 200'000),
                   false, out, &child_error);
        s.duration = end - start + 80'000 + static_cast<int64_t>(rng_() % 200'000);
        const size_t slash = op.route.find('/');
        a.Str("rpc.system", "grpc");
        a.Str("rpc.service", op.route.substr(0, slash));
        a.Str("rpc.method", op.route.substr(slash + 1));
        a.Int("rpc.grpc.status_code", child_error ? 14 : 0);
        a.Str("server.address", kServices[op.service]);
        a.Int("server.port", 50051);
        if (child_error) {
          s.status = 2;
          s.status_message = "upstream unavailable";
        }
        break;
      }
      case kDb: {
        s.name = op.method + " shop." + op.route;
        Scope(s, "jdbc");
        s.duration = LogNormalNs(op.median_ms, 0.7);
        a.Str("db.system", "postgresql");
        a.Str("db.namespace", "shop");
        a.Str("db.operation.name", op.method);
        a.Str("db.collection.name", op.route);
        std::string q;
        if (op.method == "SELECT") {
          q = "SELECT * FROM " + op.route + " WHERE id = $1";
        } else if (op.method == "INSERT") {
          q = "INSERT INTO " + op.route + " (id, created_at, payload) VALUES ($1, $2, $3)";
        } else {
          q = "UPDATE " + op.route + " SET reserved = reserved + $1 WHERE product_id = $2";
        }
        a.Str("db.query.text", q);
        a.Str("server.address", "postgres-primary.shop-prod.svc");
        a.Int("server.port", 5432);
        break;
      }
      case kCache: {
        s.name = op.method;
        Scope(s, "redis");
        s.duration = LogNormalNs(op.median_ms, 0.6);
        a.Str("db.system", "redis");
        a.Str("db.operation.name", op.method);
        const int64_t id = op.route == "product"   ? product_id_
                           : op.route == "session" ? user_id_
                                                   : user_id_ * 7 + 3;
        a.Str("db.query.text", op.method + " " + op.route + ":" + std::to_string(id));
        a.Str("server.address", "redis.shop-prod.svc");
        a.Int("server.port", 6379);
        if (op.route == "product" && rng_() % 4 == 0) {
          Attrs e;
          e.Str("cache.key", "product:" + std::to_string(id));
          AddEvent(s, start + s.duration / 2, "cache miss", std::move(e));
        }
        break;
      }
      case kExternal: {
        s.name = op.method;
        Scope(s, "http");
        s.duration = LogNormalNs(op.median_ms, 0.5);
        const bool mail = op.route.find("mail") != std::string::npos;
        const std::string host = mail ? "api.mailer.example" : "api.payments.example";
        a.Str("http.request.method", op.method);
        a.Str("url.full", "https://" + host + op.route);
        a.Str("server.address", host);
        a.Int("server.port", 443);
        const bool fail = std::uniform_real_distribution<double>(0, 1)(rng_) < op.err;
        a.Int("http.response.status_code", fail ? (mail ? 503 : 402) : 200);
        if (fail) {
          Attrs e;
          e.Int("http.request.resend_count", 1);
          AddEvent(s, start + s.duration / 3, "retry", std::move(e));
        }
        break;
      }
      case kProducer: {
        s.kind = kKindProducer;
        s.name = op.route + " publish";
        Scope(s, "kafka");
        s.duration = LogNormalNs(op.median_ms, 0.5);
        a.Str("messaging.system", "kafka");
        a.Str("messaging.operation.type", "publish");
        a.Str("messaging.destination.name", op.route);
        a.Str("messaging.kafka.message.key", std::to_string(order_id_));
        // The consumer runs later and is linked to (and a child of) the producer span.
        const int64_t consume_at = start + s.duration + LogNormalNs(20, 1.0);
        const size_t before = out->size();
        bool ignored = false;
        for (const Call& c : op.calls) {
          Server(c.op, s.span_id, consume_at, false, out, &ignored);
        }
        for (size_t i = before; i < out->size(); ++i) {
          SpanRow& cons = (*out)[i];
          if (cons.kind != kKindConsumer) continue;
          Attrs la;
          la.Str("messaging.operation.type", "publish");
          cons.links.push_back(SpanLink{s.trace_id, s.span_id, std::move(la), 0x301});
        }
        break;
      }
      case kInternal:
      case kConsumer: {
        s.kind = kKindInternal;
        s.name = op.route;
        Scope(s, "manual");
        s = InternalSpan(op, s, start, out, &child_error);
        break;
      }
    }
    if (s.status == 2) *error = true;
    if (s.status != 2 && op.proto != kHttpServer && op.proto != kGrpcServer) {
      MaybeError(s, op, error);
    }
    if (child_error) *error = true;
    if (s.attrs.size() == 0) s.attrs = std::move(a);
    const int64_t end = s.start + s.duration;
    out->push_back(std::move(s));
    return end;
  }

  SpanRow InternalSpan(const Op& op, SpanRow s, int64_t start, std::vector<SpanRow>* out,
                       bool* error) {
    const int64_t end = Children(op, s.instance, s.span_id, start, out, error);
    s.duration = end - start + LogNormalNs(op.median_ms, 0.8);
    Attrs a;
    a.Str("code.function", op.route == "fraud check"      ? "checkFraud"
                           : op.route == "validate order" ? "validateOrder"
                                                          : "renderTemplate");
    a.Str("code.namespace", "com.shop." + std::string(kServices[instances_[s.instance].service]));
    if (op.route == "fraud check") a.Double("app.fraud.score", std::round(rng_() % 1000) / 1000);
    if (op.route == "validate order")
      a.Int("app.order.items", 1 + static_cast<int64_t>(rng_() % 6));
    s.attrs = std::move(a);
    return s;
  }

  std::mt19937_64 rng_;
  const std::vector<Instance>& instances_;
  std::vector<std::string> client_ips_;
  std::vector<Op> ops_;
  std::array<int, 4> roots_{};
  std::string trace_id_;
  int64_t user_id_ = 0, product_id_ = 0, order_id_ = 0, orders_ = 100000;
};

std::string SpansDdl() {
  return "CREATE TABLE spans (\n"
         "  service String, name String, start_time UInt64, duration UInt64,\n"
         "  trace_id FixedString(16), span_id FixedString(8), parent_span_id FixedString(8),\n"
         "  trace_state String, kind UInt8, status_code UInt8, status_message String,\n"
         "  flags UInt32, scope_name String, scope_version String,\n"
         "  attr_keys Array(String), attr_values Array(String),\n"
         "  res_keys Array(String), res_values Array(String),\n"
         "  event_times Array(UInt64), event_names Array(String),\n"
         "  event_attr_keys Array(Array(String)), event_attr_values Array(Array(String)),\n"
         "  link_trace_ids Array(FixedString(16)), link_span_ids Array(FixedString(8)),\n"
         "  link_trace_states Array(String),\n"
         "  link_attr_keys Array(Array(String)), link_attr_values Array(Array(String)),\n"
         "  dropped_attributes UInt32, dropped_events UInt32, dropped_links UInt32,\n"
         "  sampling_probability Float64\n"
         ") ENGINE = MergeTree\n"
         "PARTITION BY toDate(toDateTime(intDiv(start_time, 1000000000)))\n"
         "ORDER BY (service, name, start_time)\n"
         "SETTINGS index_granularity = 8192;\n";
}

std::string LogsDdl() {
  return "CREATE TABLE logs (\n"
         "  service String, severity_number UInt8, severity_text String,\n"
         "  time UInt64, observed_time UInt64, body String,\n"
         "  trace_id FixedString(16), span_id FixedString(8), flags UInt32,\n"
         "  event_name String, scope_name String,\n"
         "  attr_keys Array(String), attr_values Array(String),\n"
         "  res_keys Array(String), res_values Array(String)\n"
         ") ENGINE = MergeTree\n"
         "PARTITION BY toDate(toDateTime(intDiv(time, 1000000000)))\n"
         "ORDER BY (service, severity_number, time)\n"
         "SETTINGS index_granularity = 8192;\n";
}

void AppendSpanTsv(const SpanRow& s, const Instance& in, std::string& tsv) {
  auto field = [&tsv](std::string_view v) {
    AppendTsv(tsv, v);
    tsv += '\t';
  };
  auto num = [&tsv](int64_t v) {
    AppendInt(tsv, v);
    tsv += '\t';
  };
  auto array = [&tsv](const std::vector<std::string>& v) {
    AppendStringArray(tsv, v);
    tsv += '\t';
  };
  auto nested = [&tsv](const std::vector<std::vector<std::string>>& v) {
    AppendNestedArray(tsv, v);
    tsv += '\t';
  };
  field(kServices[in.service]);
  field(s.name);
  num(s.start);
  num(s.duration);
  field(s.trace_id);
  field(s.span_id);
  field(s.parent);
  field("");
  num(s.kind);
  num(s.status);
  field(s.status_message);
  num(s.flags);
  field(s.scope_name);
  field(s.scope_version);
  array(s.attrs.text().keys);
  array(s.attrs.text().values);
  array(in.resource.text().keys);
  array(in.resource.text().values);
  std::vector<std::string> names, ids, span_ids, states;
  std::vector<std::vector<std::string>> keys, values;
  tsv += '[';
  for (size_t i = 0; i < s.events.size(); ++i) {
    if (i > 0) tsv += ',';
    AppendInt(tsv, s.events[i].time);
    names.push_back(s.events[i].name);
    keys.push_back(s.events[i].attrs.text().keys);
    values.push_back(s.events[i].attrs.text().values);
  }
  tsv += "]\t";
  array(names);
  nested(keys);
  nested(values);
  keys.clear();
  values.clear();
  for (const SpanLink& l : s.links) {
    ids.push_back(l.trace_id);
    span_ids.push_back(l.span_id);
    states.emplace_back();
    keys.push_back(l.attrs.text().keys);
    values.push_back(l.attrs.text().values);
  }
  array(ids);
  array(span_ids);
  array(states);
  nested(keys);
  nested(values);
  tsv += "0\t0\t0\t1\n";
}

// Collects spans as an OTLP request (one ResourceSpans per instance, one ScopeSpans per scope)
// and hands it to the writer, which appends the rows the engine stores.
class SpanRequest {
 public:
  void Add(const SpanRow& s, const Instance& in) {
    auto [rit, new_resource] = resources_.try_emplace(s.instance, nullptr);
    if (new_resource) {
      rit->second = request_.add_resource_spans();
      *rit->second->mutable_resource()->mutable_attributes() = in.resource.otlp();
    }
    auto [sit, new_scope] = scopes_.try_emplace({s.instance, s.scope_name}, nullptr);
    if (new_scope) {
      sit->second = rit->second->add_scope_spans();
      sit->second->mutable_scope()->set_name(s.scope_name);
      sit->second->mutable_scope()->set_version(s.scope_version);
    }
    otlp_trace::Span* sp = sit->second->add_spans();
    sp->set_trace_id(s.trace_id);
    sp->set_span_id(s.span_id);
    sp->set_parent_span_id(s.parent);
    sp->set_flags(s.flags);
    sp->set_name(s.name);
    sp->set_kind(static_cast<otlp_trace::Span::SpanKind>(s.kind));
    sp->set_start_time_unix_nano(static_cast<uint64_t>(s.start));
    sp->set_end_time_unix_nano(static_cast<uint64_t>(s.start + s.duration));
    *sp->mutable_attributes() = s.attrs.otlp();
    for (const SpanEvent& e : s.events) {
      otlp_trace::Span::Event* pe = sp->add_events();
      pe->set_time_unix_nano(static_cast<uint64_t>(e.time));
      pe->set_name(e.name);
      *pe->mutable_attributes() = e.attrs.otlp();
    }
    for (const SpanLink& l : s.links) {
      otlp_trace::Span::Link* pl = sp->add_links();
      pl->set_trace_id(l.trace_id);
      pl->set_span_id(l.span_id);
      pl->set_flags(l.flags);
      *pl->mutable_attributes() = l.attrs.otlp();
    }
    // SDK exporters always send a status, so the writer stores nothing extra for it.
    sp->mutable_status()->set_code(static_cast<otlp_trace::Status::StatusCode>(s.status));
    sp->mutable_status()->set_message(s.status_message);
    ++spans_;
  }
  size_t spans() const { return spans_; }
  bool Flush(st::ColumnBatch* batch) {
    if (spans_ == 0) return true;
    auto n = observex::writer::AppendSpanRows(request_, batch);
    if (!n.ok()) {
      std::fprintf(stderr, "AppendSpanRows: %s\n", std::string(n.status().message()).c_str());
      return false;
    }
    request_.Clear();
    resources_.clear();
    scopes_.clear();
    spans_ = 0;
    return true;
  }

 private:
  observex::writer::TracesRequest request_;
  std::map<int, otlp_trace::ResourceSpans*> resources_;
  std::map<std::pair<int, std::string>, otlp_trace::ScopeSpans*> scopes_;
  size_t spans_ = 0;
};

// Writes spans.tsv and returns the ObserveX rows of the same spans.
bool GenerateSpans(const Options& o, std::mt19937_64& rng, const std::vector<Instance>& instances,
                   st::ColumnBatch* batch) {
  *batch = st::SpansSchema().NewBatch();
  OutFile tsv(o.out / "spans.tsv");
  if (!tsv.ok()) return false;
  SpanGenerator gen(rng, instances);
  // Traces arrive as a Poisson process over the window; the rate comes from a trial run of
  // another generator so that about `--spans` spans fill it.
  std::vector<SpanRow> trace;
  double spans_per_trace;
  {
    std::mt19937_64 trial_rng(o.seed ^ 0x5eed);
    SpanGenerator trial(trial_rng, instances);
    size_t n = 0;
    for (int i = 0; i < 2000; ++i) {
      trace.clear();
      trial.Trace(0, &trace);
      n += trace.size();
    }
    spans_per_trace = static_cast<double>(n) / 2000;
  }
  const double window_ns = o.hours * 3600e9;
  const double mean_gap_ns = window_ns * spans_per_trace / static_cast<double>(o.spans);
  std::exponential_distribution<double> gap(1 / mean_gap_ns);
  // Integer nanoseconds: a double near 1.7e18 would round every time to a multiple of 256.
  int64_t t = kStartMs * 1'000'000;
  int64_t written = 0;
  SpanRequest request;
  while (written < o.spans) {
    t += static_cast<int64_t>(gap(rng));
    trace.clear();
    gen.Trace(t, &trace);
    for (const SpanRow& s : trace) {
      if (written == o.spans) break;
      AppendSpanTsv(s, instances[s.instance], tsv.buf());
      tsv.MaybeFlush();
      request.Add(s, instances[s.instance]);
      ++written;
    }
    if (request.spans() >= 4096 && !request.Flush(batch)) return false;
  }
  return request.Flush(batch) && tsv.Close();
}

// ---------------------------------------------------------------------------------------------
// Log records

struct LogTemplate {
  int severity;  // OTLP severity number
  double weight;
  int kind;
};

std::string Ip(std::mt19937_64& rng) {
  return std::to_string(11 + rng() % 200) + "." + std::to_string(rng() % 256) + "." +
         std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
}

std::string Fixed(double v, int decimals) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

// Collects log records as an OTLP request (one ResourceLogs per instance, one ScopeLogs per
// logger) and hands it to the writer.
class LogRequest {
 public:
  otlp_logs::LogRecord* Add(int instance, const Instance& in, const std::string& logger) {
    auto [rit, new_resource] = resources_.try_emplace(instance, nullptr);
    if (new_resource) {
      rit->second = request_.add_resource_logs();
      *rit->second->mutable_resource()->mutable_attributes() = in.resource.otlp();
    }
    auto [sit, new_scope] = scopes_.try_emplace({instance, logger}, nullptr);
    if (new_scope) {
      sit->second = rit->second->add_scope_logs();
      sit->second->mutable_scope()->set_name(logger);
    }
    ++records_;
    return sit->second->add_log_records();
  }
  size_t records() const { return records_; }
  bool Flush(st::ColumnBatch* batch) {
    if (records_ == 0) return true;
    auto n = observex::writer::AppendLogRows(request_, batch);
    if (!n.ok()) {
      std::fprintf(stderr, "AppendLogRows: %s\n", std::string(n.status().message()).c_str());
      return false;
    }
    request_.Clear();
    resources_.clear();
    scopes_.clear();
    records_ = 0;
    return true;
  }

 private:
  observex::writer::LogsRequest request_;
  std::map<int, otlp_logs::ResourceLogs*> resources_;
  std::map<std::pair<int, std::string>, otlp_logs::ScopeLogs*> scopes_;
  size_t records_ = 0;
};

bool GenerateLogs(const Options& o, std::mt19937_64& rng, const std::vector<Instance>& instances,
                  st::ColumnBatch* batch) {
  *batch = st::LogsSchema().NewBatch();
  LogRequest request;
  OutFile tsv(o.out / "logs.tsv");
  if (!tsv.ok()) return false;
  static constexpr std::array<const char*, 6> kRoutes = {
      "/api/v1/orders",     "/api/v1/orders/{id}", "/api/v1/products/{id}",
      "/api/v1/cart/items", "/api/v1/users/{id}",  "/healthz"};
  static constexpr std::array<const char*, 4> kSevText = {"DEBUG", "INFO", "WARN", "ERROR"};
  // kind: 0 access log, 1 order created, 2 cache miss, 3 rows loaded, 4 login, 5 slow query,
  // 6 retry, 7 payment failed, 8 unhandled exception, 9 health check, 10 consumer lag,
  // 11 config reload
  static constexpr std::array<LogTemplate, 12> kTemplates = {{{9, 40, 0},
                                                              {9, 5, 1},
                                                              {5, 12, 2},
                                                              {5, 8, 3},
                                                              {9, 6, 4},
                                                              {13, 4, 5},
                                                              {13, 4, 6},
                                                              {17, 1.5, 7},
                                                              {17, 0.5, 8},
                                                              {9, 15, 9},
                                                              {9, 3, 10},
                                                              {9, 1, 11}}};
  std::vector<double> weights;
  for (const auto& tpl : kTemplates) weights.push_back(tpl.weight);
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::exponential_distribution<double> gap(static_cast<double>(o.logs) / (o.hours * 3600e9));
  std::normal_distribution<double> n01(0, 1);
  static constexpr std::array<const char*, 4> kErrors = {
      "connection refused", "i/o timeout", "503 Service Unavailable", "context deadline exceeded"};
  int64_t time = kStartMs * 1'000'000;
  std::string& out = tsv.buf();
  for (int64_t i = 0; i < o.logs; ++i) {
    time += static_cast<int64_t>(gap(rng));
    const int k = pick(rng);
    const LogTemplate& tpl = kTemplates[k];
    const Instance& in = instances[rng() % instances.size()];
    const std::string service = kServices[in.service];
    Attrs a;
    std::string body;
    std::string logger = "com.shop." + service + ".";
    switch (tpl.kind) {
      case 0: {
        const std::string route = kRoutes[rng() % (kRoutes.size() - 1)];
        std::string path = route;
        if (const size_t at = path.find("{id}"); at != std::string::npos) {
          path.replace(at, 4, std::to_string(1 + rng() % 200000));
        }
        const int code = rng() % 50 == 0 ? 404 : rng() % 200 == 0 ? 500 : 200;
        const char* method = route.find("cart") != std::string::npos ? "POST" : "GET";
        body = std::string(method) + " " + path + " " + std::to_string(code) + " " +
               Fixed(std::exp(2.5 + 0.8 * n01(rng)), 1) + "ms";
        a.Str("http.request.method", method);
        a.Str("http.route", route);
        a.Int("http.response.status_code", code);
        logger += "http.AccessLog";
        break;
      }
      case 1: {
        const int64_t order = 100000 + static_cast<int64_t>(i / 3);
        body = "Order " + std::to_string(order) + " created for customer " +
               std::to_string(1 + rng() % 200000) + ", " + std::to_string(1 + rng() % 6) +
               " items, total " + Fixed(static_cast<double>(500 + rng() % 50000) / 100, 2) + " EUR";
        a.Int("app.order.id", order);
        logger += "OrderService";
        break;
      }
      case 2:
        body = "Cache miss for key product:" + std::to_string(1 + rng() % 50000);
        logger += "cache.RedisStore";
        break;
      case 3:
        body = "Loaded " + std::to_string(rng() % 500) + " rows from " +
               (rng() % 2 ? "products" : "orders") + " in " +
               Fixed(std::exp(0.5 + 0.7 * n01(rng)), 2) + " ms";
        logger += "db.Repository";
        break;
      case 4: {
        const std::string user = std::to_string(1 + rng() % 200000);
        body = "User " + user + " logged in from " + Ip(rng);
        a.Int("app.user.id", std::stoll(user));
        logger += "auth.LoginHandler";
        break;
      }
      case 5: {
        const int64_t ms = 500 + static_cast<int64_t>(std::exp(6 + n01(rng)));
        body = "Slow query took " + std::to_string(ms) +
               " ms: SELECT o.id, o.status, o.total FROM orders o WHERE o.customer_id = $1 "
               "ORDER BY o.created_at DESC LIMIT 50";
        a.Int("db.duration_ms", ms);
        logger += "db.Repository";
        break;
      }
      case 6: {
        const char* peer = kServices[rng() % kServices.size()];
        body = "Retrying request to " + std::string(peer) + " (attempt " +
               std::to_string(1 + rng() % 3) + "/3): " + kErrors[rng() % kErrors.size()];
        a.Str("server.address", peer);
        logger += "client.RetryPolicy";
        break;
      }
      case 7: {
        const int64_t pay = 5'000'000 + static_cast<int64_t>(rng() % 5'000'000);
        body = "Failed to process payment pay_" + std::to_string(pay) + ": card declined (code " +
               std::to_string(51 + rng() % 10) + ")";
        a.Str("exception.type", "PaymentDeclinedError");
        logger += "PaymentService";
        break;
      }
      case 8:
        body = "Unhandled exception in request handler\n" +
               StackTrace(rng, static_cast<int>(rng() % kStackTemplates.size()));
        a.Str("exception.type", "RuntimeError");
        logger += "http.ErrorHandler";
        break;
      case 9:
        body = "Health check OK";
        logger += "health.Probe";
        break;
      case 10: {
        const int partition = static_cast<int>(rng() % 12);
        body = "Consumer lag topic=order-events partition=" + std::to_string(partition) +
               " lag=" + std::to_string(rng() % 40);
        logger += "kafka.ConsumerMonitor";
        break;
      }
      default:
        body = "Reloaded configuration from /etc/" + service + "/config.yaml (" +
               std::to_string(20 + rng() % 5) + " keys)";
        logger += "config.Watcher";
        break;
    }
    a.Str("thread.name", tpl.kind == 0 || tpl.kind >= 7
                             ? "http-nio-8080-exec-" + std::to_string(1 + rng() % 200)
                             : "worker-" + std::to_string(1 + rng() % 16));
    const KeyValues& kv = a.text();
    const bool traced = rng() % 10 < 6;
    const std::string trace_id = traced ? RandomBytes(rng, 16) : "";
    const std::string span_id = traced ? RandomBytes(rng, 8) : "";
    const int64_t observed = time + 1'000'000 + static_cast<int64_t>(rng() % 400'000'000);
    const int sev_index = (tpl.severity - 5) / 4;

    otlp_logs::LogRecord* r = request.Add(static_cast<int>(&in - instances.data()), in, logger);
    r->set_time_unix_nano(static_cast<uint64_t>(time));
    r->set_observed_time_unix_nano(static_cast<uint64_t>(observed));
    r->set_severity_number(static_cast<otlp_logs::SeverityNumber>(tpl.severity));
    r->set_severity_text(kSevText[sev_index]);
    r->mutable_body()->set_string_value(body);
    *r->mutable_attributes() = a.otlp();
    r->set_trace_id(trace_id);
    r->set_span_id(span_id);
    r->set_flags(traced ? 1 : 0);
    if (request.records() >= 4096 && !request.Flush(batch)) return false;

    AppendTsv(out, service);
    out += '\t';
    AppendInt(out, tpl.severity);
    out += '\t';
    out += kSevText[sev_index];
    out += '\t';
    AppendInt(out, time);
    out += '\t';
    AppendInt(out, observed);
    out += '\t';
    AppendTsv(out, body);
    out += '\t';
    AppendTsv(out, trace_id);
    out += '\t';
    AppendTsv(out, span_id);
    out += '\t';
    AppendInt(out, traced ? 1 : 0);
    out += "\t\t";
    AppendTsv(out, logger);
    out += '\t';
    AppendStringArray(out, kv.keys);
    out += '\t';
    AppendStringArray(out, kv.values);
    out += '\t';
    AppendStringArray(out, in.resource.text().keys);
    out += '\t';
    AppendStringArray(out, in.resource.text().values);
    out += '\n';
    tsv.MaybeFlush();
  }
  return request.Flush(batch) && tsv.Close();
}

// ---------------------------------------------------------------------------------------------

// Columns this program does not know (the schema grows) get the value a typical row has there:
// the empty string or zero. Each one is named on stdout.
void FillUnknownColumns(const st::TableSchema& schema, st::ColumnBatch& rows) {
  size_t n = 0;
  for (const auto& c : rows.columns) n = std::max(n, st::RowCount(c));
  for (size_t c = 0; c < rows.columns.size(); ++c) {
    if (st::RowCount(rows.columns[c]) == n) continue;
    std::printf("note: %s.%s is not generated here; filled with %s\n",
                std::string(st::TableName(schema.table)).c_str(), schema.columns[c].name.c_str(),
                schema.columns[c].type == st::ColumnType::kString ? "empty strings" : "zeros");
    std::visit(
        [n](auto& v) {
          while (v.size() < n) v.push_back({});
        },
        rows.columns[c]);
  }
}

// Writes `rows` as one part per UTC day and reports the parts' bytes (every file) to `report`.
bool WriteParts(const Options& o, const st::TableSchema& schema, st::ColumnBatch& rows,
                std::string& report) {
  FillUnknownColumns(schema, rows);
  const auto& times = std::get<std::vector<int64_t>>(rows.columns[schema.time_column]);
  std::vector<int32_t> days;
  for (int64_t t : times) {
    const int32_t d = schema.DayOf(t);
    if (std::find(days.begin(), days.end(), d) == days.end()) days.push_back(d);
  }
  std::sort(days.begin(), days.end());
  const fs::path root = o.out / "observex";
  uint64_t total_rows = 0, total_bytes = 0, files = 0;
  std::vector<uint64_t> column_bytes(schema.columns.size()), raw_bytes(schema.columns.size()),
      plain_bytes(schema.columns.size());
  uint64_t bloom_bytes = 0, manifest_bytes = 0;
  for (int32_t day : days) {
    st::ColumnBatch split;
    if (days.size() > 1) {
      std::vector<uint32_t> keep;
      for (size_t i = 0; i < times.size(); ++i) {
        if (schema.DayOf(times[i]) == day) keep.push_back(static_cast<uint32_t>(i));
      }
      split = schema.NewBatch();
      for (size_t c = 0; c < split.columns.size(); ++c) {
        st::AppendRows(rows.columns[c], keep, split.columns[c]);
      }
    }
    const st::ColumnBatch& part = days.size() > 1 ? split : rows;
    st::PartWriteOptions w;
    w.tenant_id = kTenant;
    w.day = day;
    w.name = st::PartName(1);
    w.fsync = false;  // does not change the bytes
    auto m = st::WritePart(root, schema, part, w);
    if (!m.ok()) {
      std::fprintf(stderr, "%s: %s\n", std::string(st::TableName(schema.table)).c_str(),
                   std::string(m.status().message()).c_str());
      return false;
    }
    const fs::path dir = st::DayDir(root, kTenant, schema.table, day) / w.name;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      total_bytes += e.file_size();
      ++files;
      if (e.path().filename() == st::kManifestFileName) manifest_bytes += e.file_size();
    }
    total_rows += m->rows;
    bloom_bytes += m->bloom_bytes;
    for (size_t c = 0; c < m->columns.size(); ++c) {
      column_bytes[c] += m->columns[c].file_bytes;
      raw_bytes[c] += m->columns[c].raw_bytes;
      plain_bytes[c] += m->columns[c].plain_bytes;
    }
  }
  const std::string table(st::TableName(schema.table));
  report += "table " + table + " rows " + std::to_string(total_rows) + " bytes " +
            std::to_string(total_bytes) + " files " + std::to_string(files) + " parts " +
            std::to_string(days.size()) + "\n";
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    report += "column " + table + " " + schema.columns[c].name + " " +
              std::to_string(column_bytes[c]) + " " + std::to_string(raw_bytes[c]) + " " +
              std::to_string(plain_bytes[c]) + "\n";
  }
  report += "column " + table + " (bloom) " + std::to_string(bloom_bytes) + " 0 0\n";
  report += "column " + table + " (manifest) " + std::to_string(manifest_bytes) + " 0 0\n";
  return true;
}

int Run(const Options& o) {
  std::error_code ec;
  fs::remove_all(o.out / "observex", ec);
  fs::create_directories(o.out, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", o.out.c_str(), ec.message().c_str());
    return 1;
  }
  std::string report;
  {
    std::mt19937_64 rng(o.seed);
    SampleData d = GenerateSamples(o, rng);
    if (o.counters_and_gauges) KeepCountersAndGauges(&d);
    size_t full = 0;
    for (const auto& s : d.series) full += s.full_precision ? 1 : 0;
    std::printf("samples: %zu series, %lld samples, %.1f %% full-precision series\n",
                d.series.size(), static_cast<long long>(d.samples),
                100.0 * static_cast<double>(full) / static_cast<double>(d.series.size()));
    std::fflush(stdout);
    if (!o.observex_only && !WriteSampleFiles(d, o.out, o.chunk_bytes)) return 1;
    if (o.samples_text_only) {
      std::string phases = "phases_ms";
      for (int64_t p : d.phases_ms) phases += " " + std::to_string(p);
      std::printf("%s\n", phases.c_str());
      return 0;
    }
    uint64_t index_bytes = 0;
    auto series_ids = IndexSeries(o.out / "observex", d, &index_bytes);
    if (!series_ids.ok()) {
      std::fprintf(stderr, "series index: %s\n",
                   std::string(series_ids.status().message()).c_str());
      return 1;
    }
    st::ColumnBatch rows = SampleRows(d, *series_ids);
    if (!WriteParts(o, st::SamplesSchema(), rows, report)) return 1;
    report += "index samples bytes " + std::to_string(index_bytes) + "\n";
    report += AnalyzeSamples(d, *series_ids, rows);
  }
  std::mt19937_64 rng(o.seed + 1);
  const std::vector<Instance> instances = MakeInstances(rng);
  if (o.spans > 0) {
    st::ColumnBatch rows;
    if (!GenerateSpans(o, rng, instances, &rows)) return 1;
    std::printf("spans: %zu\n", rows.rows());
    std::fflush(stdout);
    if (!WriteParts(o, st::SpansSchema(), rows, report)) return 1;
  }
  if (o.logs > 0) {
    st::ColumnBatch rows;
    if (!GenerateLogs(o, rng, instances, &rows)) return 1;
    std::printf("logs: %zu\n", rows.rows());
    std::fflush(stdout);
    if (!WriteParts(o, st::LogsSchema(), rows, report)) return 1;
  }
  {
    OutFile ddl(o.out / "clickhouse.sql");
    ddl.buf() += SpansDdl();
    ddl.buf() += LogsDdl();
    if (!ddl.Close()) return 1;
    OutFile rep(o.out / "observex.txt");
    rep.buf() += report;
    if (!rep.Close()) return 1;
  }
  std::fputs(report.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  return Run(o);
}
