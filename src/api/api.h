// The API address's handler (default 127.0.0.1:8080). It serves the platform's own telemetry
// and health itself: `/metrics` (Prometheus text format), `/healthz` (the process is up) and
// `/readyz` (start-up recovery finished and the receivers are listening). Query APIs live in
// their own handlers and are mounted under a path prefix (the Prometheus API under `/prom`);
// a request goes to the mounted handler with the longest matching prefix, unchanged (the
// prefix stays in Request::path), and everything else is answered here.
//
// Thread-safety: Mount is called before the server starts; Handle and set_ready may then be
// called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/http_server.h"
#include "prometheus/registry.h"

namespace observex::api {

class ApiHandler : public http::Handler {
 public:
  // `before_scrape` runs before each /metrics render (to publish gauges); may be empty.
  ApiHandler(std::shared_ptr<prometheus::Registry> registry, std::function<void()> before_scrape);

  // Routes every request whose path is `prefix` or starts with `prefix` + "/" to `handler`
  // (not owned; it must outlive the server). `prefix` starts with "/" and has no trailing
  // "/"; the longest matching prefix wins; mounting a prefix again replaces its handler.
  // Call before the server starts.
  void Mount(std::string prefix, http::Handler* handler);

  void Handle(http::Request request, http::Responder respond) override;
  void set_ready(bool ready) { ready_.store(ready); }

 private:
  http::Handler* MountFor(const std::string& path) const;

  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> before_scrape_;
  std::atomic<bool> ready_{false};
  std::vector<std::pair<std::string, http::Handler*>> mounts_;  // longest prefix first
};

}  // namespace observex::api
