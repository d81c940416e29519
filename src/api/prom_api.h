// The Prometheus HTTP API under `<prefix>/api/v1/` (prefix "/prom" on the API address), so
// Grafana's Prometheus data source, promtool and Prometheus client libraries work against
// ObserveX with the URL `http://host:8080/prom`. Endpoints: query, query_range (GET and
// form-encoded POST), series, labels, label/<name>/values, metadata, format_query,
// query_exemplars (always empty: no exemplars are stored), status/buildinfo,
// status/runtimeinfo, status/config, status/flags, rules and alerts (empty: no rules are
// evaluated here), each with Prometheus's exact JSON, error types and HTTP codes
// (docs/prometheus-api.md lists the differences). Unknown paths under the API get a 404 JSON
// error.
//
// Every request is authenticated with an API key (api/auth.h) and served from the
// SeriesSource that `sources` returns for that tenant, so one tenant's request can never
// read another tenant's series, whatever its query says.
//
// Threads and bounds: Handle only routes and checks the Authorization header on the calling
// (HTTP io) thread; key verification, parameter parsing and evaluation run on a pool of
// `query_threads` workers owned by this handler, with at most `max_queued_requests` requests
// waiting; beyond that a request is refused at once with 503 (errorType "unavailable") and
// Retry-After. Query limits (samples, points per series, timeout) come from `engine`.
//
// Lifetime: Shutdown() (also run by the destructor) answers waiting requests with 503,
// cancels running evaluations at their next storage access and joins the workers. Responders
// reference the HTTP server's connections, so call Shutdown() after the server's Stop() and
// before the server is destroyed.
//
// Thread-safety: Handle may be called from any number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "api/query_pool.h"
#include "http/http_server.h"
#include "query/promql/engine.h"
#include "query/series_source.h"
#include "tenant/key_store.h"

namespace observex::api {

struct PromApiOptions {
  // Requests arrive as <path_prefix>/api/v1/<endpoint>; mount the handler at this prefix.
  std::string path_prefix = "/prom";
  // Evaluation workers, and how many requests may wait for one.
  int query_threads = 2;
  size_t max_queued_requests = 64;
  // Limits of every query: max_samples, max_points_per_series, timeout (a request's
  // `timeout` parameter can only shorten it), lookback delta (a request's `lookback_delta`
  // overrides it), parser options.
  query::promql::EngineOptions engine;
  // status/buildinfo: `version` is the Prometheus API level served (Grafana derives features
  // from it); ObserveX's own version is reported as `revision`.
  std::string prometheus_version = "3.0.0";
  std::string observex_version;
  // status/runtimeinfo's storageRetention (e.g. "15d"); empty when unknown.
  std::string storage_retention;
  // Clock for the default `time` of instant queries, ms since the epoch; empty: system clock.
  std::function<int64_t()> now_ms;
};

// Returns the series of exactly one tenant. Called once per authenticated request, on a
// worker thread; nullptr means the tenant's data cannot be read now (answered 503).
using SeriesSourceFactory =
    std::function<std::unique_ptr<query::SeriesSource>(const tenant::AuthResult&)>;

class PromApiHandler final : public http::Handler {
 public:
  // `keys` must outlive this handler.
  PromApiHandler(tenant::KeyStore* keys, SeriesSourceFactory sources, PromApiOptions options = {});
  ~PromApiHandler() override;
  PromApiHandler(const PromApiHandler&) = delete;
  PromApiHandler& operator=(const PromApiHandler&) = delete;

  void Handle(http::Request request, http::Responder respond) override;
  // The server's own early answers (400, 413, 429, 431) in Prometheus's error shape.
  http::Response ErrorResponse(std::string_view content_type, int status, std::string message,
                               int retry_after_seconds) override;

  void Shutdown();
  // Requests waiting for a worker.
  size_t queued_requests() const { return pool_.queued(); }

 private:
  enum class Endpoint;
  struct Route;
  struct Result;
  class Request;

  Route Resolve(std::string_view path) const;
  http::Response Serve(const Route& route, const http::Request& request, const std::string& key);
  Result Dispatch(const Route& route, Request& r);
  Result Query(Request& r);
  Result QueryRange(Request& r);
  // The answer of /query and /query_range: the result (or its error) with the engine's and
  // the source's warnings; `first_ms` is the first step's time.
  static Result QueryAnswer(const absl::StatusOr<query::promql::QueryResult>& result,
                            int64_t first_ms, int64_t limit, Request& r);
  Result QueryExemplars(Request& r);
  Result FormatQuery(Request& r);
  Result Series(Request& r);
  Result Labels(Request& r);
  Result LabelValues(Request& r, std::string_view raw_name);
  Result Metadata(Request& r);
  Result BuildInfo();
  Result RuntimeInfo();
  int64_t NowMs() const;

  tenant::KeyStore* keys_;
  SeriesSourceFactory sources_;
  PromApiOptions options_;
  const int64_t start_time_ns_;
  std::atomic<bool> stopping_{false};
  QueryPool pool_;  // last: its workers use the members above
};

}  // namespace observex::api
