// Test fixture for the Prometheus API: a real control plane with one key per tenant, the
// handler mounted at /prom on an ApiHandler served by a real http::Server on 127.0.0.1:0,
// per-tenant in-memory sources, and a small blocking HTTP client.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "api/api.h"
#include "api/prom_api.h"
#include "http/http_server.h"
#include "query/memory_series_source.h"
#include "tenant/control_plane.h"
#include "tenant/key_store.h"
#include "testing/temp_dir.h"

namespace observex::api::testing {

// 2015-07-01T20:10:51.781Z, the evaluation time of the Prometheus documentation's examples.
inline constexpr int64_t kDocTimeMs = 1435781451781;

// An in-memory source with metadata and storage warnings, as the storage engine has them.
class TestSource : public query::InMemorySeriesSource {
 public:
  void AddMetadata(query::MetricMetadata m) {
    std::lock_guard<std::mutex> lock(mu_);
    metadata_.push_back(std::move(m));
  }
  void AddWarning(std::string w) {
    std::lock_guard<std::mutex> lock(mu_);
    warnings_.push_back(std::move(w));
  }
  absl::StatusOr<std::vector<query::MetricMetadata>> Metadata(
      std::string_view metric) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<query::MetricMetadata> out;
    for (const auto& m : metadata_) {
      if (metric.empty() || m.metric == metric) out.push_back(m);
    }
    return out;
  }
  std::vector<std::string> Warnings() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return warnings_;
  }
  // Adds one sample or fails the test.
  void Put(const query::Labels& labels, int64_t t_ms, double v) {
    absl::Status s = Add(labels, t_ms, v);
    EXPECT_TRUE(s.ok()) << s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<query::MetricMetadata> metadata_;
  std::vector<std::string> warnings_;
};

// Hands out a shared source per request, as a storage-backed factory hands out a view.
class ForwardingSource : public query::SeriesSource {
 public:
  explicit ForwardingSource(std::shared_ptr<const query::SeriesSource> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(
      const std::vector<query::LabelMatcher>& m, int64_t mint, int64_t maxt) const override {
    return inner_->Select(m, mint, maxt);
  }
  absl::StatusOr<std::vector<query::Labels>> Series(const std::vector<query::LabelMatcher>& m,
                                                    int64_t mint, int64_t maxt) const override {
    return inner_->Series(m, mint, maxt);
  }
  absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<query::LabelMatcher>& m,
                                                      int64_t mint, int64_t maxt) const override {
    return inner_->LabelNames(m, mint, maxt);
  }
  absl::StatusOr<std::vector<std::string>> LabelValues(std::string_view name,
                                                       const std::vector<query::LabelMatcher>& m,
                                                       int64_t mint, int64_t maxt) const override {
    return inner_->LabelValues(name, m, mint, maxt);
  }
  absl::StatusOr<std::vector<query::MetricMetadata>> Metadata(
      std::string_view metric) const override {
    return inner_->Metadata(metric);
  }
  std::vector<std::string> Warnings() const override { return inner_->Warnings(); }

 private:
  std::shared_ptr<const query::SeriesSource> inner_;
};

// Select blocks until Release(); for filling the worker pool.
class BlockingSource : public query::InMemorySeriesSource {
 public:
  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(
      const std::vector<query::LabelMatcher>& m, int64_t mint, int64_t maxt) const override {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    lock.unlock();
    return InMemorySeriesSource::Select(m, mint, maxt);
  }
  void WaitEntered(int n) const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool released_ = false;
};

// Select sleeps longer than any timeout the tests set, so evaluation runs past its deadline.
class SlowSource : public query::InMemorySeriesSource {
 public:
  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(
      const std::vector<query::LabelMatcher>& m, int64_t mint, int64_t maxt) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return InMemorySeriesSource::Select(m, mint, maxt);
  }
};

// Storage that fails every read.
class BrokenSource : public query::SeriesSource {
 public:
  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(const std::vector<query::LabelMatcher>&,
                                                           int64_t, int64_t) const override {
    return absl::InternalError("part 7 of tenant broken: checksum mismatch");
  }
};

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string www_authenticate;
  std::string retry_after;
  std::string allow;
};

inline std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class PromApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cp = tenant::ControlPlane::Open(dir_.path() / "control.db");
    ASSERT_TRUE(cp.ok()) << cp.status();
    control_plane_ = *std::move(cp);
    keys_ = tenant::NewCachingKeyStore(control_plane_.get());
    acme_ = std::make_shared<TestSource>();
    beta_ = std::make_shared<TestSource>();
    AddTenant("acme", acme_, &acme_key_);
    AddTenant("beta", beta_, &beta_key_);
  }

  void TearDown() override { Stop(); }

  // Registers a tenant whose requests read `source`; stores its key.
  void AddTenant(const std::string& name, std::shared_ptr<const query::SeriesSource> source,
                 std::string* key) {
    auto created = control_plane_->CreateKey(name, /*create_tenant=*/true);
    ASSERT_TRUE(created.ok()) << created.status();
    *key = created->secret;
    sources_[name] = std::move(source);
  }

  static PromApiOptions DefaultOptions() {
    PromApiOptions o;
    o.now_ms = [] { return kDocTimeMs; };
    o.observex_version = "0.1.0";
    return o;
  }

  void Start(PromApiOptions options = DefaultOptions()) {
    handler_ = std::make_unique<PromApiHandler>(
        keys_.get(),
        [this](const tenant::AuthResult& auth) -> std::unique_ptr<query::SeriesSource> {
          auto it = sources_.find(auth.tenant_name);
          if (it == sources_.end() || it->second == nullptr) return nullptr;
          return std::make_unique<ForwardingSource>(it->second);
        },
        std::move(options));
    api_ = std::make_unique<ApiHandler>(std::make_shared<prometheus::Registry>(), nullptr);
    api_->Mount("/prom", handler_.get());
    http::ServerOptions so;
    so.address = "127.0.0.1:0";
    so.threads = 1;
    auto server = http::Server::Start(so, api_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void Stop() {
    if (server_) server_->Stop(absl::Seconds(2));
    if (handler_) handler_->Shutdown();
    server_.reset();
    api_.reset();
    handler_.reset();
  }

  Reply Send(const std::string& method, const std::string& target, const std::string& auth,
             const std::string& body = "", const std::string& content_type = "") {
    namespace asio = boost::asio;
    namespace bhttp = boost::beast::http;
    Reply out;
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    boost::system::error_code ec;
    sock.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                         static_cast<uint16_t>(server_->port())),
                 ec);
    if (ec) {
      ADD_FAILURE() << "connect: " << ec.message();
      return out;
    }
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    if (!auth.empty()) req.set(bhttp::field::authorization, auth);
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(sock, req, ec);
    if (ec) {
      ADD_FAILURE() << "write: " << ec.message();
      return out;
    }
    boost::beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(sock, buf, res, ec);
    if (ec) {
      ADD_FAILURE() << "read: " << ec.message();
      return out;
    }
    out.status = res.result_int();
    out.body = res.body();
    out.content_type = std::string(res[bhttp::field::content_type]);
    out.www_authenticate = std::string(res[bhttp::field::www_authenticate]);
    out.retry_after = std::string(res[bhttp::field::retry_after]);
    out.allow = std::string(res[bhttp::field::allow]);
    return out;
  }

  Reply Get(const std::string& target, const std::string& key) {
    return Send("GET", target, "Bearer " + key);
  }
  Reply Post(const std::string& target, const std::string& form, const std::string& key) {
    return Send("POST", target, "Bearer " + key, form, "application/x-www-form-urlencoded");
  }
  // GET /prom/api/v1/query?query=<q>&time=<doc time> as tenant acme.
  Reply Instant(const std::string& q, const std::string& extra = "") {
    return Get("/prom/api/v1/query?query=" + UrlEncode(q) + "&time=1435781451.781" + extra,
               acme_key_);
  }

  observex::testing::TempDir dir_;
  std::unique_ptr<tenant::ControlPlane> control_plane_;
  std::unique_ptr<tenant::KeyStore> keys_;
  std::map<std::string, std::shared_ptr<const query::SeriesSource>> sources_;
  std::shared_ptr<TestSource> acme_;
  std::shared_ptr<TestSource> beta_;
  std::string acme_key_;
  std::string beta_key_;
  std::unique_ptr<PromApiHandler> handler_;
  std::unique_ptr<ApiHandler> api_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace observex::api::testing
