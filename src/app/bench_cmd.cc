// `observex bench ingest`: an OTLP load generator. It pre-builds a pool of realistic
// requests (so the generator spends its CPU on sending, not on building), drives N
// connections in closed loop (or paced to --rate), and reports accepted-and-durable
// signals/s, ack latency percentiles, refusals, and the server's RSS.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "common/clock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace observex::app {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
namespace common = opentelemetry::proto::common::v1;

void SetStr(common::KeyValue* kv, const std::string& k, const std::string& v) {
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}
void SetInt(common::KeyValue* kv, const std::string& k, int64_t v) {
  kv->set_key(k);
  kv->mutable_value()->set_int_value(v);
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

const char* kServices[] = {"checkout", "cart", "payment", "frontend", "inventory", "shipping"};
const char* kRoutes[] = {"/api/cart", "/api/checkout", "/api/items/{id}", "/healthz", "/api/pay"};

template <typename ResourceT>
void FillResource(ResourceT* r, std::mt19937_64& rng, int svc) {
  SetStr(r->add_attributes(), "service.name", kServices[svc]);
  SetStr(r->add_attributes(), "service.namespace", "shop");
  SetStr(r->add_attributes(), "service.instance.id", absl::StrCat("pod-", svc, "-", rng() % 4));
  SetStr(r->add_attributes(), "host.name", absl::StrCat("node-", rng() % 8));
  SetStr(r->add_attributes(), "telemetry.sdk.language", "go");
}

std::string BuildTraces(std::mt19937_64& rng, int batch) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest req;
  const int svc = static_cast<int>(rng() % 6);
  auto* rs = req.add_resource_spans();
  FillResource(rs->mutable_resource(), rng, svc);
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.opentelemetry.http");
  ss->mutable_scope()->set_version("1.30.0");
  const int64_t now = NowUnixNanos();
  std::string trace_id = RandomBytes(rng, 16);
  for (int i = 0; i < batch; ++i) {
    if (i % 8 == 0) trace_id = RandomBytes(rng, 16);
    auto* s = ss->add_spans();
    s->set_trace_id(trace_id);
    s->set_span_id(RandomBytes(rng, 8));
    if (i % 8) s->set_parent_span_id(RandomBytes(rng, 8));
    const char* route = kRoutes[rng() % 5];
    s->set_name(absl::StrCat("GET ", route));
    s->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
    const int64_t start = now - static_cast<int64_t>(rng() % 1'000'000'000);
    s->set_start_time_unix_nano(start);
    s->set_end_time_unix_nano(start + 100'000 + static_cast<int64_t>(rng() % 50'000'000));
    SetStr(s->add_attributes(), "http.request.method", "GET");
    SetStr(s->add_attributes(), "http.route", route);
    SetInt(s->add_attributes(), "http.response.status_code", (rng() % 20) ? 200 : 500);
    SetStr(s->add_attributes(), "url.scheme", "https");
    SetStr(s->add_attributes(), "server.address", "shop.example.com");
    SetStr(s->add_attributes(), "user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)");
    SetInt(s->add_attributes(), "http.request.body.size", static_cast<int64_t>(rng() % 4096));
    s->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

std::string BuildLogs(std::mt19937_64& rng, int batch) {
  opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest req;
  const int svc = static_cast<int>(rng() % 6);
  auto* rl = req.add_resource_logs();
  FillResource(rl->mutable_resource(), rng, svc);
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("app.logger");
  const int64_t now = NowUnixNanos();
  for (int i = 0; i < batch; ++i) {
    auto* r = sl->add_log_records();
    r->set_time_unix_nano(now - static_cast<int64_t>(rng() % 1'000'000'000));
    r->set_observed_time_unix_nano(now);
    const bool err = rng() % 20 == 0;
    r->set_severity_number(err ? opentelemetry::proto::logs::v1::SEVERITY_NUMBER_ERROR
                               : opentelemetry::proto::logs::v1::SEVERITY_NUMBER_INFO);
    r->set_severity_text(err ? "ERROR" : "INFO");
    r->mutable_body()->set_string_value(
        absl::StrFormat("request handled method=GET route=%s status=%d duration_ms=%d user=u%05d",
                        kRoutes[rng() % 5], err ? 500 : 200, static_cast<int>(rng() % 900),
                        static_cast<int>(rng() % 50000)));
    r->set_trace_id(RandomBytes(rng, 16));
    r->set_span_id(RandomBytes(rng, 8));
    SetStr(r->add_attributes(), "code.function", "handle_request");
    SetStr(r->add_attributes(), "thread.name", absl::StrCat("worker-", rng() % 16));
    SetInt(r->add_attributes(), "http.response.status_code", err ? 500 : 200);
  }
  return req.SerializeAsString();
}

std::string BuildMetrics(std::mt19937_64& rng, int batch) {
  opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest req;
  const int svc = static_cast<int>(rng() % 6);
  auto* rm = req.add_resource_metrics();
  FillResource(rm->mutable_resource(), rng, svc);
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("app.meter");
  const int64_t now = NowUnixNanos();
  const int per_metric = 16;
  for (int i = 0; i < batch; i += per_metric) {
    auto* m = sm->add_metrics();
    const bool counter = (i / per_metric) % 2 == 0;
    m->set_name(counter ? absl::StrCat("http.server.requests.", i / per_metric)
                        : absl::StrCat("process.memory.usage.", i / per_metric));
    m->set_unit(counter ? "1" : "By");
    for (int j = 0; j < per_metric && i + j < batch; ++j) {
      opentelemetry::proto::metrics::v1::NumberDataPoint* p;
      if (counter) {
        auto* sum = m->mutable_sum();
        sum->set_is_monotonic(true);
        sum->set_aggregation_temporality(
            opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
        p = sum->add_data_points();
        p->set_as_int(static_cast<int64_t>(rng() % 1'000'000));
      } else {
        p = m->mutable_gauge()->add_data_points();
        p->set_as_double(static_cast<double>(rng() % 1'000'000) / 7.0);
      }
      p->set_start_time_unix_nano(now - 3'600'000'000'000);
      p->set_time_unix_nano(now);
      SetStr(p->add_attributes(), "http.route", kRoutes[j % 5]);
      SetInt(p->add_attributes(), "http.response.status_code", j % 3 ? 200 : 500);
      SetStr(p->add_attributes(), "pod", absl::StrCat("pod-", j));
    }
  }
  return req.SerializeAsString();
}

struct Totals {
  std::atomic<uint64_t> ok_requests{0}, ok_signals{0}, refused{0}, errors{0};
};

struct Latencies {
  std::vector<double> ms;
};

uint64_t ReadRssKiB(int pid, const char* field) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::strtoull(line.c_str() + strlen(field), nullptr, 10);
  }
  return 0;
}

struct Pacer {
  double per_conn_rps = 0;  // requests/s for one connection, 0 = unpaced
  int64_t next = 0;
  void Wait() {
    if (per_conn_rps <= 0) return;
    const int64_t gap = static_cast<int64_t>(1e9 / per_conn_rps);
    const int64_t now = MonotonicNanos();
    if (next == 0) next = now;
    if (next > now) std::this_thread::sleep_for(std::chrono::nanoseconds(next - now));
    next += gap;
  }
};

void HttpWorker(const IngestBenchOptions& o, const std::vector<std::string>& pool,
                const std::string& host, const std::string& port, const std::string& path,
                int64_t deadline, double per_conn_rps, Totals& t, Latencies& lat, int seed) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  auto connect = [&] {
    beast::error_code ec;
    stream.socket().close(ec);
    stream.connect(resolver.resolve(host, port), ec);
    if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
    return !ec;
  };
  if (!connect()) {
    t.errors++;
    return;
  }
  Pacer pacer{per_conn_rps};
  size_t i = static_cast<size_t>(seed);
  beast::flat_buffer buf;
  while (MonotonicNanos() < deadline) {
    pacer.Wait();
    const std::string& body = pool[i++ % pool.size()];
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, path, 11};
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::content_type, "application/x-protobuf");
    req.set(bhttp::field::authorization, "Bearer " + o.api_key);
    req.body() = body;
    req.prepare_payload();
    const int64_t start = MonotonicNanos();
    beast::error_code ec;
    bhttp::write(stream, req, ec);
    bhttp::response<bhttp::string_body> res;
    if (!ec) bhttp::read(stream, buf, res, ec);
    if (ec) {
      t.errors++;
      if (!connect()) return;
      continue;
    }
    const double ms = static_cast<double>(MonotonicNanos() - start) / 1e6;
    if (res.result_int() == 200) {
      t.ok_requests++;
      t.ok_signals += static_cast<uint64_t>(o.batch);
      lat.ms.push_back(ms);
    } else if (res.result_int() == 429 || res.result_int() == 503) {
      t.refused++;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      t.errors++;
      if (t.errors < 5) std::cerr << "HTTP " << res.result_int() << ": " << res.body() << "\n";
    }
    if (!res.keep_alive()) connect();
  }
}

void GrpcWorker(const IngestBenchOptions& o, const std::vector<std::string>& pool,
                const std::string& method, int64_t deadline, double per_conn_rps, Totals& t,
                Latencies& lat, int seed) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per worker
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel =
      grpc::CreateCustomChannel(o.grpc_endpoint, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  Pacer pacer{per_conn_rps};
  size_t i = static_cast<size_t>(seed);
  while (MonotonicNanos() < deadline) {
    pacer.Wait();
    const std::string& body = pool[i++ % pool.size()];
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + o.api_key);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const int64_t start = MonotonicNanos();
    auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    cq.Next(&tag, &ok);
    const double ms = static_cast<double>(MonotonicNanos() - start) / 1e6;
    if (status.ok()) {
      t.ok_requests++;
      t.ok_signals += static_cast<uint64_t>(o.batch);
      lat.ms.push_back(ms);
    } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
               status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      t.refused++;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      t.errors++;
      if (t.errors < 5)
        std::cerr << "gRPC " << status.error_code() << ": " << status.error_message() << "\n";
    }
  }
  cq.Shutdown();
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int RunIngestBench(const IngestBenchOptions& o) {
  if (o.api_key.empty()) {
    std::cerr << "observex bench ingest: --api-key (or OBSERVE_X_API_KEY) is required\n";
    return 2;
  }
  if (o.protocol != "http" && o.protocol != "grpc") {
    std::cerr << "observex bench ingest: --protocol must be http or grpc\n";
    return 2;
  }
  std::string path, method;
  std::function<std::string(std::mt19937_64&, int)> build;
  if (o.signal == "traces") {
    path = "/v1/traces";
    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    build = BuildTraces;
  } else if (o.signal == "logs") {
    path = "/v1/logs";
    method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    build = BuildLogs;
  } else if (o.signal == "metrics") {
    path = "/v1/metrics";
    method = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    build = BuildMetrics;
  } else {
    std::cerr << "observex bench ingest: --signal must be traces, logs or metrics\n";
    return 2;
  }
  std::mt19937_64 rng(42);
  std::vector<std::string> pool;
  size_t pool_bytes = 0;
  for (int i = 0; i < 32; ++i) {
    pool.push_back(build(rng, o.batch));
    pool_bytes += pool.back().size();
  }
  std::string host = "127.0.0.1", port = "4318";
  {
    std::string ep = o.http_endpoint;
    if (ep.rfind("http://", 0) == 0) ep = ep.substr(7);
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    auto colon = ep.rfind(':');
    if (colon != std::string::npos) {
      host = ep.substr(0, colon);
      port = ep.substr(colon + 1);
    }
  }
  std::cerr << absl::StrFormat(
      "bench ingest: %s %s, %d connections, %d signals/request (%.0f bytes avg), %.0fs%s\n",
      o.protocol, o.signal, o.connections, o.batch,
      static_cast<double>(pool_bytes) / static_cast<double>(pool.size()), o.duration_seconds,
      o.rate > 0 ? absl::StrFormat(", paced to %.0f signals/s", o.rate) : "");

  Totals totals;
  std::vector<Latencies> lats(static_cast<size_t>(o.connections));
  const double per_conn_rps =
      o.rate > 0 ? o.rate / static_cast<double>(o.batch) / static_cast<double>(o.connections) : 0;
  const int64_t start = MonotonicNanos();
  const int64_t deadline = start + static_cast<int64_t>(o.duration_seconds * 1e9);
  std::atomic<bool> done{false};
  uint64_t peak_rss_kib = 0;
  std::thread rss_sampler([&] {
    while (!done.load()) {
      if (o.server_pid > 0)
        peak_rss_kib = std::max(peak_rss_kib, ReadRssKiB(o.server_pid, "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<std::thread> workers;
  for (int c = 0; c < o.connections; ++c) {
    workers.emplace_back([&, c] {
      if (o.protocol == "http") {
        HttpWorker(o, pool, host, port, path, deadline, per_conn_rps, totals, lats[c], c);
      } else {
        GrpcWorker(o, pool, method, deadline, per_conn_rps, totals, lats[c], c);
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  rss_sampler.join();
  const double secs = static_cast<double>(MonotonicNanos() - start) / 1e9;
  std::vector<double> all;
  for (auto& l : lats) all.insert(all.end(), l.ms.begin(), l.ms.end());
  const double p50 = Percentile(all, 0.50), p99 = Percentile(all, 0.99);
  std::cout << absl::StrFormat(
      "protocol=%s signal=%s connections=%d batch=%d seconds=%.1f accepted_signals=%d "
      "signals_per_sec=%.0f requests_ok=%d refused=%d errors=%d ack_p50_ms=%.2f "
      "ack_p99_ms=%.2f server_peak_rss_mib=%.1f\n",
      o.protocol, o.signal, o.connections, o.batch, secs, totals.ok_signals.load(),
      static_cast<double>(totals.ok_signals.load()) / secs, totals.ok_requests.load(),
      totals.refused.load(), totals.errors.load(), p50, p99,
      static_cast<double>(peak_rss_kib) / 1024.0);
  return totals.ok_requests.load() > 0 ? 0 : 1;
}

}  // namespace observex::app
