// The Prometheus ingest endpoints end to end inside one process: a real http::Server with the
// handler, a real Pipeline and a real WAL in a temporary directory. Requests go over TCP as a
// sender would send them (snappy-compressed WriteRequests, text, OpenMetrics, gzip); what the
// WAL holds afterwards is read back with wal::ReadDir and DecodeBatchRecord and compared with
// what was sent, sample by sample. The refusals each get their status code and message, and
// leave nothing in the WAL.
#include "ingest/prom_receiver.h"

#include <bit>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/remote_write.h"
#include "otlp/otlp.h"
#include "prometheus/text_serializer.h"
#include "query/series_source.h"
#include "signal/batch.h"
#include "snappy.h"
#include "testing/temp_dir.h"
#include "wal/wal.h"

namespace observex::ingest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kKey[] = "obx_test_key";

class FakeKeys : public tenant::KeyStore {
 public:
  absl::StatusOr<tenant::AuthResult> Authenticate(std::string_view key) override {
    if (key == kKey) return tenant::AuthResult{7, "acme", 3};
    if (key == "obx_control_plane_down") return absl::UnavailableError("control plane is down");
    return absl::UnauthenticatedError("unknown API key");
  }
};

struct Reply {
  int status = 0;
  std::string body;
  std::string retry_after;
};

struct Record {
  BatchHeader header;
  std::string request;
};

metrics::Series MakeSeries(query::Labels labels, std::vector<query::SamplePoint> samples) {
  metrics::Series s;
  s.labels = std::move(labels);
  s.samples = std::move(samples);
  return s;
}

std::string Snappy(const std::string& raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

std::string Basic(const std::string& user_password) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < user_password.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(user_password[i]) << 16) |
                       (static_cast<uint8_t>(user_password[i + 1]) << 8) |
                       static_cast<uint8_t>(user_password[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  const size_t rest = user_password.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(user_password[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(user_password[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return "Basic " + out;
}

class PromReceiverTest : public ::testing::Test {
 protected:
  void Start(ReceiverOptions receiver = {}, uint64_t wal_budget = 1ull << 30) {
    wal::WalOptions wo;
    wo.dir = dir_.path() / "wal";
    wo.segment_bytes = 1 << 20;
    wo.max_uncheckpointed_bytes = wal_budget;
    wo.group_commit_window = absl::Seconds(1);  // a slow test disk is not worth a warning
    wo.observer = &metrics_;
    auto wal = wal::Wal::Open(wo);
    ASSERT_TRUE(wal.ok()) << wal.status();
    wal_ = std::move(*wal);
    PipelineOptions po;
    po.version = "1.2.3";
    po.max_decompressed_bytes = receiver.max_body_bytes;
    pipeline_ = std::make_unique<Pipeline>(po, wal_.get(), &metrics_);
    handler_ = std::make_unique<PromWriteHandler>(receiver, &keys_, pipeline_.get(), &metrics_);
    http::ServerOptions so;
    so.address = "127.0.0.1:0";
    so.max_body_bytes = receiver.max_body_bytes;
    auto server = http::Server::Start(so, handler_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_) server_->Stop(absl::Seconds(2));
    if (pipeline_) pipeline_->Shutdown();
    if (wal_) wal_->Close();
  }

  Reply Send(const std::string& method, const std::string& path,
             std::vector<std::pair<std::string, std::string>> headers, const std::string& body) {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), path, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::user_agent, "Prometheus/2.42.0");
    for (auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(sock, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(sock, buf, res);
    return {static_cast<int>(res.result_int()), res.body(),
            std::string(res[bhttp::field::retry_after])};
  }

  // A remote-write request as Prometheus sends one.
  Reply Write(const std::string& raw, const std::string& auth = std::string("Bearer ") + kKey) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/x-protobuf"},
        {"Content-Encoding", "snappy"},
        {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
    if (!auth.empty()) headers.emplace_back("Authorization", auth);
    return Send("POST", "/prom/api/v1/write", std::move(headers), Snappy(raw));
  }

  Reply Import(const std::string& text, const std::string& content_type = "text/plain",
               const std::string& encoding = "") {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", std::string("Bearer ") + kKey}, {"Content-Type", content_type}};
    if (!encoding.empty()) headers.emplace_back("Content-Encoding", encoding);
    return Send("POST", "/prom/api/v1/import/prometheus", std::move(headers), text);
  }

  std::vector<Record> Records() {
    std::vector<Record> out;
    absl::Status st = wal::ReadDir(dir_.path() / "wal", [&](wal::Lsn, int64_t, std::string_view p) {
      auto rec = DecodeBatchRecord(p);
      if (!rec.ok()) return rec.status();
      out.push_back({rec->header, std::string(rec->request)});
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  metrics::PromBatch Parsed(const Record& r) {
    auto b = metrics::ParseWriteRequest(r.request);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : metrics::PromBatch{};
  }

  std::string SelfMetrics() {
    return prometheus::TextSerializer().Serialize(metrics_.registry().Collect());
  }

  observex::testing::TempDir dir_;
  IngestMetrics metrics_{std::make_shared<prometheus::Registry>()};
  FakeKeys keys_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<PromWriteHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(PromReceiverTest, RemoteWriteIsStoredAsSentUncompressed) {
  Start();
  std::vector<metrics::Series> series = {
      MakeSeries({{"__name__", "http_requests_total"}, {"job", "api"}, {"instance", "a:9090"}},
                 {{1700000000000, 10}, {1700000015000, 12.5}, {1700000030000, query::StaleNaN()}}),
      MakeSeries({{"__name__", "up"}, {"job", "api"}}, {{1700000000000, 1}})};
  std::vector<metrics::FamilyMetadata> metadata = {
      {"http_requests_total", metrics::MetadataType::kCounter, "Requests.", ""}};
  const std::string raw = metrics::EncodeWriteRequest(series, metadata);
  Reply r = Write(raw);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.body, "");

  std::vector<Record> records = Records();
  ASSERT_EQ(records.size(), 1u);
  const BatchHeader& h = records[0].header;
  EXPECT_EQ(h.type, SignalType::kPrometheus);
  EXPECT_EQ(h.tenant_id, 7);
  EXPECT_EQ(h.tenant_name, "acme");
  EXPECT_EQ(h.signal_count, 4u);
  EXPECT_EQ(h.observex_version, "1.2.3");
  EXPECT_EQ(records[0].request, raw);  // the WriteRequest exactly as sent, decompressed
  metrics::PromBatch stored = Parsed(records[0]);
  ASSERT_EQ(stored.metrics.series.size(), 2u);
  EXPECT_EQ(stored.metrics.series[0].labels, series[0].labels);
  ASSERT_EQ(stored.metrics.series[0].samples.size(), 3u);
  EXPECT_EQ(stored.metrics.series[0].samples[1].t_ms, 1700000015000);
  EXPECT_EQ(stored.metrics.series[0].samples[1].value, 12.5);
  EXPECT_TRUE(query::IsStaleNaN(stored.metrics.series[0].samples[2].value));
  EXPECT_EQ(stored.metadata, metadata);
  EXPECT_THAT(
      SelfMetrics(),
      HasSubstr(R"(observex_ingest_signals_received_total{tenant="acme",type="prometheus"} 4)"));
  EXPECT_THAT(
      SelfMetrics(),
      HasSubstr(R"(observex_http_requests_total{code="204",route="/prom/api/v1/write"} 1)"));
}

TEST_F(PromReceiverTest, BasicAuthCarriesTheKeyAsPassword) {
  Start();
  const std::string raw =
      metrics::EncodeWriteRequest({MakeSeries({{"__name__", "up"}}, {{1000, 1}})}, {});
  EXPECT_EQ(Write(raw, Basic(std::string("prometheus:") + kKey)).status, 204);
  EXPECT_EQ(Write(raw, Basic(std::string(kKey) + ":")).status, 204);  // key as the user name
  EXPECT_EQ(Write(raw, Basic("prometheus:wrong")).status, 401);
  Reply bad = Write(raw, "Basic !!!notbase64");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body,
            "malformed basic authorization: credentials are not base64 of '<user>:<key>'\n");
  EXPECT_EQ(Records().size(), 2u);
}

TEST_F(PromReceiverTest, PrometheusSignalTypeName) {
  EXPECT_EQ(SignalTypeName(SignalType::kPrometheus), "prometheus");
  EXPECT_EQ(*ParseSignalType("prometheus"), SignalType::kPrometheus);
}

TEST_F(PromReceiverTest, PrometheusTextImportBecomesAWriteRequest) {
  Start();
  const int64_t before = NowUnixNanos() / 1'000'000;
  Reply r = Import(
      "# HELP jobs_total Jobs done.\n"
      "# TYPE jobs_total counter\n"
      "jobs_total{queue=\"mail\"} 5 1700000000000\n"
      "jobs_total{queue=\"mail\"} 6 1700000015000\n"
      "temperature 21.5\n",
      "text/plain; version=0.0.4");
  const int64_t after = NowUnixNanos() / 1'000'000;
  EXPECT_EQ(r.status, 204) << r.body;
  std::vector<Record> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].header.type, SignalType::kPrometheus);
  EXPECT_EQ(records[0].header.signal_count, 3u);
  metrics::PromBatch b = Parsed(records[0]);
  ASSERT_EQ(b.metrics.series.size(), 2u);
  EXPECT_EQ(b.metrics.series[0].labels.String(), R"({__name__="jobs_total", queue="mail"})");
  ASSERT_EQ(b.metrics.series[0].samples.size(), 2u);
  EXPECT_EQ(b.metrics.series[0].samples[0].t_ms, 1700000000000);
  EXPECT_EQ(b.metrics.series[0].samples[0].value, 5);
  EXPECT_EQ(b.metrics.series[0].samples[1].t_ms, 1700000015000);
  EXPECT_EQ(b.metrics.series[0].samples[1].value, 6);
  EXPECT_EQ(b.metrics.series[1].labels.String(), R"({__name__="temperature"})");
  ASSERT_EQ(b.metrics.series[1].samples.size(), 1u);
  EXPECT_EQ(b.metrics.series[1].samples[0].value, 21.5);
  EXPECT_GE(b.metrics.series[1].samples[0].t_ms, before);  // the request's arrival time
  EXPECT_LE(b.metrics.series[1].samples[0].t_ms, after);
  ASSERT_EQ(b.metadata.size(), 1u);
  EXPECT_EQ(b.metadata[0].name, "jobs_total");
  EXPECT_EQ(b.metadata[0].help, "Jobs done.");
}

TEST_F(PromReceiverTest, OpenMetricsImportGzipped) {
  Start();
  const std::string text =
      "# TYPE jobs counter\n"
      "jobs_total 5 1700000000.25\n"
      "# EOF\n";
  Reply r = Import(otlp::Gzip(text), "application/openmetrics-text; version=1.0.0", "gzip");
  EXPECT_EQ(r.status, 204) << r.body;
  std::vector<Record> records = Records();
  ASSERT_EQ(records.size(), 1u);
  metrics::PromBatch b = Parsed(records[0]);
  ASSERT_EQ(b.metrics.series.size(), 1u);
  EXPECT_EQ(b.metrics.series[0].labels.String(), R"({__name__="jobs_total"})");
  EXPECT_EQ(b.metrics.series[0].samples[0].t_ms, 1700000000250);
  ASSERT_EQ(b.metadata.size(), 1u);
  EXPECT_EQ(b.metadata[0].type, metrics::MetadataType::kCounter);

  // The same text read as Prometheus text fails: its timestamp is not an integer.
  Reply wrong = Import(text, "text/plain");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(wrong.body,
            "line 2, column 14: expected a timestamp in milliseconds since the epoch (an "
            "integer), found \"1700000000.25\"\n");
  EXPECT_EQ(Records().size(), 1u);
}

TEST_F(PromReceiverTest, RefusalsWriteNothing) {
  ReceiverOptions ro;
  ro.max_body_bytes = 64 << 10;
  Start(ro);
  const std::string raw =
      metrics::EncodeWriteRequest({MakeSeries({{"__name__", "up"}}, {{1000, 1}})}, {});

  Reply no_key = Write(raw, "");
  EXPECT_EQ(no_key.status, 401);
  EXPECT_EQ(no_key.body,
            "missing API key: send 'Authorization: Bearer <key>', or basic auth "
            "with the API key as the password\n");
  Reply unknown = Write(raw, "Bearer obx_nope");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body, "unknown API key\n");
  Reply down = Write(raw, "Bearer obx_control_plane_down");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.retry_after, "1");

  Reply bad_snappy =
      Send("POST", "/prom/api/v1/write",
           {{"Authorization", std::string("Bearer ") + kKey}, {"Content-Encoding", "snappy"}},
           "\xff\xff\xff\xff\xff\xff");
  EXPECT_EQ(bad_snappy.status, 400);
  EXPECT_EQ(bad_snappy.body,
            "the body is not snappy-compressed (remote write uses the snappy block format)\n");
  // A valid length header over a corrupt block is found by the pipeline.
  std::string corrupt = Snappy(raw);
  corrupt.resize(corrupt.size() - 3);
  Reply cut = Send("POST", "/prom/api/v1/write", {{"Authorization", std::string("Bearer ") + kKey}},
                   corrupt);
  EXPECT_EQ(cut.status, 400);
  EXPECT_EQ(cut.body, "the snappy-compressed body is corrupt\n");

  // 1 MiB of one repeated label value compresses to a few KiB: the length header gives it away.
  const std::string big = metrics::EncodeWriteRequest(
      {MakeSeries({{"__name__", "up"}, {"blob", std::string(1 << 20, 'x')}}, {{1000, 1}})}, {});
  const std::string big_snappy = Snappy(big);
  ASSERT_LT(big_snappy.size(), ro.max_body_bytes);
  Reply too_large = Write(big);
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(too_large.body, "decompressed body of " + std::to_string(big.size()) +
                                " bytes exceeds the limit of 65536 bytes\n");

  Reply gzip_write =
      Send("POST", "/prom/api/v1/write",
           {{"Authorization", std::string("Bearer ") + kKey}, {"Content-Encoding", "gzip"}},
           otlp::Gzip(raw));
  EXPECT_EQ(gzip_write.status, 415);
  EXPECT_EQ(gzip_write.body, "unsupported Content-Encoding 'gzip'; remote write uses snappy\n");
  Reply v2 = Send("POST", "/prom/api/v1/write",
                  {{"Authorization", std::string("Bearer ") + kKey},
                   {"Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
                   {"Content-Encoding", "snappy"}},
                  Snappy(raw));
  EXPECT_EQ(v2.status, 415);
  EXPECT_EQ(v2.body,
            "unsupported remote-write message 'io.prometheus.write.v2.Request': only "
            "remote write 1.0 (prometheus.WriteRequest) is supported\n");
  Reply json =
      Send("POST", "/prom/api/v1/write",
           {{"Authorization", std::string("Bearer ") + kKey}, {"Content-Type", "application/json"}},
           "{}");
  EXPECT_EQ(json.status, 415);

  Reply garbage = Import("ok 1\nthis is not { a metric\n");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(garbage.body,
            "line 2, column 6: expected a sample value (a number, NaN, +Inf or "
            "-Inf), found \"is\"\n");
  Reply deflate = Import("up 1", "text/plain", "deflate");
  EXPECT_EQ(deflate.status, 415);

  Reply get =
      Send("GET", "/prom/api/v1/write", {{"Authorization", std::string("Bearer ") + kKey}}, "");
  EXPECT_EQ(get.status, 405);
  Reply other = Send("POST", "/prom/api/v1/query", {}, "");
  EXPECT_EQ(other.status, 404);

  EXPECT_THAT(Records(), IsEmpty());
  EXPECT_THAT(SelfMetrics(), HasSubstr(R"(observex_ingest_signals_dropped_total{reason="auth",)"
                                       R"(tenant="",type="prometheus"} 3)"));
}

TEST_F(PromReceiverTest, NativeHistogramsAreRefusedNamingTheFeature) {
  Start();
  // timeseries { labels { __name__: "latency" } histograms { count_int: 3 } }
  const std::string label = std::string("\x0a\x13\x0a\x08__name__\x12\x07latency", 21);
  const std::string histogram = std::string("\x22\x02\x08\x03", 4);
  const std::string only_histograms =
      "\x0a" + std::string(1, static_cast<char>(label.size() + histogram.size())) + label +
      histogram;
  Reply r = Write(only_histograms);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "1 of 1 sample(s) rejected; the first: timeseries[0] {__name__=\"latency\"}: "
            "native histograms are not supported (1 histogram sample(s) refused)\n");
  EXPECT_THAT(Records(), IsEmpty());
}

TEST_F(PromReceiverTest, PartlyInvalidRequestStoresTheRestAndSays400) {
  Start();
  std::vector<metrics::Series> series = {MakeSeries({{"__name__", "good"}}, {{1000, 1}, {2000, 2}}),
                                         MakeSeries({{"job", "nameless"}}, {{1000, 5}}),
                                         MakeSeries({{"__name__", "also_good"}}, {{1000, 3}})};
  Reply r = Write(metrics::EncodeWriteRequest(series, {}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "1 of 4 sample(s) rejected; the first: timeseries[1] {job=\"nameless\"}: "
            "missing metric name (label __name__); the other 3 sample(s) were stored\n");
  std::vector<Record> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].header.signal_count, 3u);
  // Stored re-encoded without the refused series.
  EXPECT_EQ(records[0].request, metrics::EncodeWriteRequest({series[0], series[2]}, {}));
  EXPECT_THAT(SelfMetrics(), HasSubstr(R"(observex_ingest_signals_dropped_total{reason="decode",)"
                                       R"(tenant="acme",type="prometheus"} 1)"));
}

TEST_F(PromReceiverTest, MetadataOnlyRequestsAreStored) {
  Start();
  Reply r = Write(metrics::EncodeWriteRequest(
      {}, {{"up", metrics::MetadataType::kGauge, "Target is up.", ""}}));
  EXPECT_EQ(r.status, 204) << r.body;
  std::vector<Record> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].header.signal_count, 0u);
  EXPECT_EQ(Parsed(records[0]).metadata.size(), 1u);
}

TEST_F(PromReceiverTest, AdmissionRefusalsAre429And503WithRetryAfter) {
  ReceiverOptions ro;
  ro.retry_after_seconds = 3;
  Start(ro, /*wal_budget=*/64);
  const std::string raw = metrics::EncodeWriteRequest(
      {MakeSeries({{"__name__", "up"}, {"job", std::string(200, 'j')}}, {{1000, 1}})}, {});
  Reply full = Write(raw);
  EXPECT_EQ(full.status, 429);
  EXPECT_EQ(full.retry_after, "3");
  EXPECT_EQ(full.body, "the write-ahead log is at its size budget; retry later\n");
  pipeline_->Shutdown();
  Reply closing = Import("up 1\n");
  EXPECT_EQ(closing.status, 503);
  EXPECT_EQ(closing.retry_after, "3");
  EXPECT_EQ(closing.body, "server is shutting down\n");
  EXPECT_THAT(Records(), IsEmpty());
}

}  // namespace
}  // namespace observex::ingest
