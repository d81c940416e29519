// OTLP -> storage rows and back (src/writer/otlp_rows.h), on requests shaped like an SDK's
// export: one resource (service, host, k8s attributes), one scope, 512 spans or log records
// with 8 attributes of mixed types; 1 span in 10 has an event, 1 in 20 a link.
//   otlp_rows_bench --benchmark_filter=Append
// Reports spans/s or records/s ("items_per_second").
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "storage/schema.h"
#include "writer/otlp_rows.h"

namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace logs = opentelemetry::proto::logs::v1;
using observex::storage::ColumnBatch;
using KeyValues = google::protobuf::RepeatedPtrField<common::KeyValue>;

constexpr int kItems = 512;

void Str(KeyValues* kvs, const char* key, std::string value) {
  common::KeyValue* kv = kvs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(std::move(value));
}
void Int(KeyValues* kvs, const char* key, int64_t value) {
  common::KeyValue* kv = kvs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void FillResource(KeyValues* kvs) {
  Str(kvs, "service.name", "checkout");
  Str(kvs, "service.version", "1.42.0");
  Str(kvs, "host.name", "node-17.eu-west-1");
  Str(kvs, "k8s.pod.name", "checkout-7d9f8b6c4-x2x9z");
  Str(kvs, "k8s.namespace.name", "shop");
  Str(kvs, "telemetry.sdk.language", "go");
}

void FillAttributes(KeyValues* kvs, std::mt19937_64& rng) {
  static const char* kRoutes[] = {"/cart", "/cart/items", "/checkout", "/api/v1/orders/{id}"};
  Str(kvs, "http.request.method", rng() % 4 == 0 ? "POST" : "GET");
  Str(kvs, "http.route", kRoutes[rng() % 4]);
  Str(kvs, "url.full", "https://shop.example.com/cart?session=" + std::to_string(rng() % 100000));
  Int(kvs, "http.response.status_code", rng() % 20 == 0 ? 500 : 200);
  Str(kvs, "server.address", "shop.example.com");
  Int(kvs, "server.port", 443);
  Str(kvs, "user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0");
  common::KeyValue* kv = kvs->Add();
  kv->set_key("network.peer.latency_ms");
  kv->mutable_value()->set_double_value(static_cast<double>(rng() % 10000) / 100);
}

observex::writer::TracesRequest MakeTraces() {
  std::mt19937_64 rng(42);
  observex::writer::TracesRequest req;
  trace::ResourceSpans* rs = req.add_resource_spans();
  FillResource(rs->mutable_resource()->mutable_attributes());
  rs->set_schema_url("https://opentelemetry.io/schemas/1.24.0");
  trace::ScopeSpans* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("go.opentelemetry.io/contrib/instrumentation/net/http");
  ss->mutable_scope()->set_version("0.49.0");
  const uint64_t t0 = 1'700'000'000'000'000'000ULL;
  for (int i = 0; i < kItems; ++i) {
    trace::Span* s = ss->add_spans();
    s->set_trace_id(RandomBytes(rng, 16));
    s->set_span_id(RandomBytes(rng, 8));
    s->set_parent_span_id(RandomBytes(rng, 8));
    s->set_name(i % 3 == 0 ? "GET /cart" : "HTTP GET");
    s->set_kind(trace::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(t0 + i * 1'000'000ULL);
    s->set_end_time_unix_nano(t0 + i * 1'000'000ULL + rng() % 50'000'000);
    FillAttributes(s->mutable_attributes(), rng);
    if (i % 10 == 0) {
      trace::Span::Event* e = s->add_events();
      e->set_name("exception");
      e->set_time_unix_nano(t0 + i * 1'000'000ULL + 10);
      Str(e->mutable_attributes(), "exception.type", "std::runtime_error");
      Str(e->mutable_attributes(), "exception.message", "connection reset by peer");
    }
    if (i % 20 == 0) {
      trace::Span::Link* l = s->add_links();
      l->set_trace_id(RandomBytes(rng, 16));
      l->set_span_id(RandomBytes(rng, 8));
    }
    s->mutable_status()->set_code(i % 20 == 0 ? trace::Status::STATUS_CODE_ERROR
                                              : trace::Status::STATUS_CODE_UNSET);
    s->set_flags(0x301);
  }
  return req;
}

observex::writer::LogsRequest MakeLogs() {
  std::mt19937_64 rng(43);
  observex::writer::LogsRequest req;
  logs::ResourceLogs* rl = req.add_resource_logs();
  FillResource(rl->mutable_resource()->mutable_attributes());
  logs::ScopeLogs* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("app.logger");
  const uint64_t t0 = 1'700'000'000'000'000'000ULL;
  for (int i = 0; i < kItems; ++i) {
    logs::LogRecord* r = sl->add_log_records();
    r->set_time_unix_nano(t0 + i * 1'000'000ULL);
    r->set_observed_time_unix_nano(t0 + i * 1'000'000ULL + 5'000);
    r->set_severity_number(i % 10 == 0 ? logs::SEVERITY_NUMBER_ERROR : logs::SEVERITY_NUMBER_INFO);
    r->set_severity_text(i % 10 == 0 ? "ERROR" : "INFO");
    r->mutable_body()->set_string_value("request served in " + std::to_string(rng() % 900) +
                                        " ms for session " + std::to_string(rng() % 100000));
    FillAttributes(r->mutable_attributes(), rng);
    r->set_trace_id(RandomBytes(rng, 16));
    r->set_span_id(RandomBytes(rng, 8));
    r->set_flags(1);
  }
  return req;
}

// Appends the request 16 times per batch (8,192 rows, one part block), as the storage writer
// fills a batch from consecutive WAL records.
void BM_AppendSpanRows(benchmark::State& state) {
  const auto req = MakeTraces();
  ColumnBatch batch = observex::storage::SpansSchema().NewBatch();
  int n = 0;
  for (auto _ : state) {
    if (n++ % 16 == 0) batch.Clear();
    auto rows = observex::writer::AppendSpanRows(req, &batch);
    if (!rows.ok()) state.SkipWithError("AppendSpanRows failed");
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_AppendSpanRows);

void BM_SpanRowsToOtlp(benchmark::State& state) {
  ColumnBatch batch = observex::storage::SpansSchema().NewBatch();
  if (!observex::writer::AppendSpanRows(MakeTraces(), &batch).ok()) std::abort();
  for (auto _ : state) {
    auto req = observex::writer::SpanRowsToOtlp(batch);
    if (!req.ok()) state.SkipWithError("SpanRowsToOtlp failed");
    benchmark::DoNotOptimize(req);
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_SpanRowsToOtlp);

void BM_AppendLogRows(benchmark::State& state) {
  const auto req = MakeLogs();
  ColumnBatch batch = observex::storage::LogsSchema().NewBatch();
  int n = 0;
  for (auto _ : state) {
    if (n++ % 16 == 0) batch.Clear();
    auto rows = observex::writer::AppendLogRows(req, &batch);
    if (!rows.ok()) state.SkipWithError("AppendLogRows failed");
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_AppendLogRows);

void BM_LogRowsToOtlp(benchmark::State& state) {
  ColumnBatch batch = observex::storage::LogsSchema().NewBatch();
  if (!observex::writer::AppendLogRows(MakeLogs(), &batch).ok()) std::abort();
  for (auto _ : state) {
    auto req = observex::writer::LogRowsToOtlp(batch);
    if (!req.ok()) state.SkipWithError("LogRowsToOtlp failed");
    benchmark::DoNotOptimize(req);
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_LogRowsToOtlp);

}  // namespace

BENCHMARK_MAIN();
