// Store-level benchmarks over the embedded engine (no HTTP, no WAL):
//   trace  — loads N spans (default 50 million: services, names, attributes, 4-16 spans per
//            trace) through Store::Append with background seals and merges, then looks up
//            random stored trace ids and ids that were never stored, and prints p50/p99/max
//            latency of the whole scan (bloom filters, sparse index, decode).
//   samples — loads counters and gauges (15 s interval) and measures a full scan of the
//            samples table on one thread: samples decoded per second.
//
//   store_bench trace   [--spans N] [--lookups N] [--dir DIR] [--lookup-only 1] [--tenant ID]
//                       [--ids-out FILE]
//   store_bench samples [--series N] [--points N] [--dir DIR]
// Without --dir a temporary directory is used and removed afterwards. With --ids-out the trace
// mode writes --lookups stored and as many never-stored trace ids (hex, "hit <id>" / "miss
// <id>" lines) to FILE instead of looking them up, so that bench/trace_lookup.sh can ask a
// server started on the same directory (`<data-dir>/storage`, tenant --tenant) over HTTP.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storage/attributes.h"
#include "storage/store.h"

namespace {

namespace fs = std::filesystem;
using namespace observex::storage;  // NOLINT(google-build-using-namespace): a tool

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string TraceId(uint64_t n) {
  // Distinct, well spread 16-byte ids derived from the trace number.
  std::string id(16, '\0');
  uint64_t a = n * 0x9E3779B97F4A7C15ull + 1,
           b = (n ^ 0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull;
  for (int i = 0; i < 8; ++i) {
    id[i] = static_cast<char>(a >> (8 * i));
    id[8 + i] = static_cast<char>(b >> (8 * i));
  }
  return id;
}

struct Args {
  std::string mode;
  uint64_t spans = 50'000'000;
  uint64_t lookups = 2'000;
  uint64_t series = 10'000;
  uint64_t points = 5'760;  // 24 h at 15 s
  std::string dir;
  bool lookup_only = false;  // trace: reuse the spans a previous run left in --dir
  int64_t tenant = 1;        // the tenant's numeric id (a server's control plane gives it)
  std::string ids_out;       // trace: write ids for an HTTP client instead of looking up
};

Args Parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: store_bench trace|samples [--spans N] [--lookups N] "
                 "[--series N] [--points N] [--dir DIR]\n");
    std::exit(2);
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--spans")
      a.spans = std::stoull(v);
    else if (k == "--lookups")
      a.lookups = std::stoull(v);
    else if (k == "--series")
      a.series = std::stoull(v);
    else if (k == "--points")
      a.points = std::stoull(v);
    else if (k == "--dir")
      a.dir = v;
    else if (k == "--lookup-only")
      a.lookup_only = v == "1" || v == "true";
    else if (k == "--tenant")
      a.tenant = std::stoll(v);
    else if (k == "--ids-out")
      a.ids_out = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::unique_ptr<Store> OpenStore(const fs::path& dir) {
  StoreOptions o;
  o.dir = dir;
  o.retention = absl::InfiniteDuration();
  o.head.fsync = false;  // load speed is not what is measured here
  auto s = OpenEmbeddedStore(o);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(s);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

int Lookups(const Args& a, Store& store, uint64_t trace, std::mt19937_64& rng);

int Trace(const Args& a, const fs::path& dir) {
  auto store = OpenStore(dir);
  const fs::path count_file = dir / "bench_traces";
  uint64_t trace = 0;
  std::mt19937_64 rng(42);
  if (a.lookup_only) {
    std::FILE* f = std::fopen(count_file.c_str(), "r");
    unsigned long long n = 0;
    if (f == nullptr || std::fscanf(f, "%llu", &n) != 1) {
      std::fprintf(stderr, "no spans from an earlier run in %s\n", dir.c_str());
      return 1;
    }
    std::fclose(f);
    trace = n;
    const StoreStats st = store->stats();
    std::printf("reusing %llu traces: %llu parts, %.2f GB on disk\n", n,
                static_cast<unsigned long long>(st.parts),
                static_cast<double>(st.part_bytes) / 1e9);
    return Lookups(a, *store, trace, rng);
  }
  static const char* kServices[] = {"frontend", "cart",  "checkout", "payment",
                                    "shipping", "email", "ads",      "recommendation"};
  static const char* kNames[] = {"GET /",         "POST /cart",     "GET /product/{id}",
                                 "SELECT orders", "redis GET",      "grpc.Charge",
                                 "kafka publish", "render template"};
  const int64_t base = (int64_t{20'400} * 86'400) * 1'000'000'000;  // one day
  const uint64_t batch_rows = 10'000;
  uint64_t done = 0;
  const double t0 = Now();
  AttributesWriter w;
  while (done < a.spans) {
    ColumnBatch b = SpansSchema().NewBatch();
    const uint64_t n = std::min(batch_rows, a.spans - done);
    uint64_t left_in_trace = 0;
    std::string tid;
    for (uint64_t i = 0; i < n; ++i) {
      if (left_in_trace == 0) {
        tid = TraceId(trace++);
        left_in_trace = 4 + rng() % 13;
      }
      --left_in_trace;
      const int64_t start =
          base + static_cast<int64_t>((done + i) * 1'700'000ull % 86'000'000'000'000ull);
      const int svc = static_cast<int>(rng() % 8);
      w.AddString("http.method", rng() % 3 ? "GET" : "POST");
      w.AddInt("http.status_code", rng() % 20 ? 200 : 500);
      w.AddString("net.peer.name", kServices[rng() % 8]);
      const std::string attrs = w.Finish();
      for (size_t c = 0; c < b.columns.size(); ++c) {
        const std::string& name = b.names[c];
        Column& col = b.columns[c];
        if (name == "service")
          std::get<2>(col).push_back(kServices[svc]);
        else if (name == "name")
          std::get<2>(col).push_back(kNames[rng() % 8]);
        else if (name == "start_time")
          std::get<0>(col).push_back(start);
        else if (name == "duration")
          std::get<0>(col).push_back(static_cast<int64_t>(rng() % 50'000'000));
        else if (name == "trace_id")
          std::get<2>(col).push_back(tid);
        else if (name == "span_id" || name == "parent_span_id") {
          std::string id(8, '\0');
          for (auto& ch : id) ch = static_cast<char>(rng());
          std::get<2>(col).push_back(id);
        } else if (name == "kind")
          std::get<0>(col).push_back(2);
        else if (name == "attributes")
          std::get<2>(col).push_back(attrs);
        else if (name == "resource_attributes")
          std::get<2>(col).push_back("");
        else if (name == "sampling_probability")
          std::get<1>(col).push_back(1.0);
        else if (TypeOf(col) == ColumnType::kInt64)
          std::get<0>(col).push_back(0);
        else if (TypeOf(col) == ColumnType::kFloat64)
          std::get<1>(col).push_back(0);
        else
          std::get<2>(col).push_back("");
      }
    }
    Check(store->Append(a.tenant, Table::kSpans, b, std::nullopt), "append");
    done += n;
    if (done % 5'000'000 < batch_rows) {
      std::fprintf(stderr, "loaded %llu / %llu spans (%.0f spans/s)\n",
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(a.spans),
                   static_cast<double>(done) / (Now() - t0));
    }
  }
  Check(store->Flush(), "flush");
  // Let the merges bring the part count down, as a server would between loads.
  for (int i = 0; i < 20; ++i) Check(store->Maintain(absl::Now()), "maintain");
  const StoreStats st = store->stats();
  std::printf("loaded %llu spans (%llu traces) in %.1f s; %llu parts, %.2f bytes/span on disk\n",
              static_cast<unsigned long long>(a.spans), static_cast<unsigned long long>(trace),
              Now() - t0, static_cast<unsigned long long>(st.parts),
              static_cast<double>(st.part_bytes) / static_cast<double>(a.spans));

  if (std::FILE* f = std::fopen(count_file.c_str(), "w")) {
    std::fprintf(f, "%llu\n", static_cast<unsigned long long>(trace));
    std::fclose(f);
  }
  return Lookups(a, *store, trace, rng);
}

std::string Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

int WriteIds(const Args& a, uint64_t trace, std::mt19937_64& rng) {
  std::FILE* f = std::fopen(a.ids_out.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot write %s\n", a.ids_out.c_str());
    return 1;
  }
  for (uint64_t i = 0; i < a.lookups; ++i) {
    std::fprintf(f, "hit %s\n", Hex(TraceId(rng() % trace)).c_str());
    std::fprintf(f, "miss %s\n", Hex(TraceId(trace + 1 + rng() % 1'000'000)).c_str());
  }
  return std::fclose(f) == 0 ? 0 : 1;
}

int Lookups(const Args& a, Store& store_ref, uint64_t trace, std::mt19937_64& rng) {
  Store* store = &store_ref;
  if (!a.ids_out.empty()) {
    store->Close();
    return WriteIds(a, trace, rng);
  }
  const TenantScope scope(observex::tenant::AuthResult{a.tenant, "bench", 1});
  std::vector<double> hit, miss;
  uint64_t found_spans = 0;
  // The first look-ups read and verify each part's Bloom filter; a server keeps them, so
  // they are a warm-up and not counted.
  const uint64_t warmup = 20;
  for (uint64_t i = 0; i < a.lookups + warmup; ++i) {
    const bool stored = i % 2 == 0;
    const std::string id = stored ? TraceId(rng() % trace) : TraceId(trace + 1 + rng() % 1'000'000);
    ScanOptions o;
    o.predicates.push_back(Predicate::Equal("trace_id", id));
    const double s = Now();
    auto r = store->Scan(scope, Table::kSpans, o);
    Check(r.status(), "scan");
    ColumnBatch out;
    uint64_t rows = 0;
    while (true) {
      auto more = (*r)->rows().Next(&out);
      Check(more.status(), "next");
      if (!*more) break;
      rows += out.rows();
    }
    if (i >= warmup) (stored ? hit : miss).push_back((Now() - s) * 1000);
    if (stored && rows == 0) {
      std::fprintf(stderr, "stored trace not found\n");
      return 1;
    }
    if (!stored && rows != 0) {
      std::fprintf(stderr, "unknown trace returned rows\n");
      return 1;
    }
    if (i >= warmup && stored) found_spans += rows;
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  std::printf(
      "trace by id, stored ids: n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms (%.1f spans each)\n",
      hit.size(), pct(hit, 0.5), pct(hit, 0.99), pct(hit, 1.0),
      static_cast<double>(found_spans) / static_cast<double>(hit.size()));
  std::printf("trace by id, unknown ids: n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms\n", miss.size(),
              pct(miss, 0.5), pct(miss, 0.99), pct(miss, 1.0));
  store->Close();
  return 0;
}

int Samples(const Args& a, const fs::path& dir) {
  auto store = OpenStore(dir);
  std::vector<observex::query::Labels> labels;
  for (uint64_t s = 0; s < a.series; ++s) {
    labels.push_back(observex::query::Labels(
        {{"__name__", s % 2 ? "http_requests_total" : "process_resident_memory_bytes"},
         {"instance", "host-" + std::to_string(s / 10)},
         {"job", "api"},
         {"shard", std::to_string(s % 10)}}));
  }
  std::vector<const observex::query::Labels*> ptrs;
  for (const auto& l : labels) ptrs.push_back(&l);
  auto ids = store->ResolveSeries(1, ptrs);
  Check(ids.status(), "resolve");
  std::mt19937_64 rng(7);
  const int64_t t0_ms = int64_t{20'400} * 86'400'000;
  const double load0 = Now();
  // Series-major batches, like scrapes arriving over time would give after sorting.
  for (uint64_t s = 0; s < a.series; s += 100) {
    ColumnBatch b = SamplesSchema().NewBatch();
    for (uint64_t k = s; k < std::min(a.series, s + 100); ++k) {
      double v = static_cast<double>(rng() % 1000);
      for (uint64_t p = 0; p < a.points; ++p) {
        if (k % 2) {
          v += static_cast<double>(rng() % 50);  // counter
        } else {
          // A gauge: resident memory wandering by whole pages around 250 MB.
          v = std::max(1.0e8, v + (static_cast<double>(rng() % 2001) - 1000.0) * 4096.0);
          if (p == 0) v = 2.5e8;
        }
        std::get<0>(b.columns[0]).push_back((*ids)[k]);
        std::get<0>(b.columns[1])
            .push_back(t0_ms + static_cast<int64_t>(p) * 15'000 + static_cast<int64_t>(rng() % 20));
        std::get<1>(b.columns[2]).push_back(v);
      }
    }
    Check(store->Append(1, Table::kSamples, b, std::nullopt), "append");
  }
  Check(store->Flush(), "flush");
  for (int i = 0; i < 20; ++i) Check(store->Maintain(absl::Now()), "maintain");
  const StoreStats st = store->stats();
  const double total = static_cast<double>(a.series * a.points);
  std::printf("loaded %.0f samples in %.1f s; %llu parts, %.3f bytes/sample on disk\n", total,
              Now() - load0, static_cast<unsigned long long>(st.parts),
              static_cast<double>(st.part_bytes) / total);
  const TenantScope scope(observex::tenant::AuthResult{1, "bench", 1});
  for (int round = 0;
       round <
       3 + (std::getenv("STORE_BENCH_ROUNDS") ? std::atoi(std::getenv("STORE_BENCH_ROUNDS")) : 0);
       ++round) {
    ScanOptions o;
    o.order = ScanOrder::kSortKey;
    o.max_batch_rows = 65'536;
    const double s = Now();
    auto r = store->Scan(scope, Table::kSamples, o);
    Check(r.status(), "scan");
    ColumnBatch out;
    uint64_t rows = 0;
    double checksum = 0;
    while (true) {
      auto more = (*r)->rows().Next(&out);
      Check(more.status(), "next");
      if (!*more) break;
      rows += out.rows();
      checksum += std::get<1>(out.columns[2]).back();
    }
    const double secs = Now() - s;
    std::printf(
        "full scan %d: %llu samples in %.3f s = %.1f M samples/s on one thread (checksum %.0f)\n",
        round, static_cast<unsigned long long>(rows), secs, static_cast<double>(rows) / secs / 1e6,
        checksum);
  }
  store->Close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  fs::path dir = a.dir;
  const bool temp = dir.empty();
  if (temp) {
    std::string pattern = (fs::temp_directory_path() / "obx_store_bench_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return 1;
    dir = pattern;
  }
  int rc = 2;
  if (a.mode == "trace") rc = Trace(a, dir);
  if (a.mode == "samples") rc = Samples(a, dir);
  if (temp) fs::remove_all(dir);
  return rc;
}
