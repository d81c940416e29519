// The API address's handler (default 127.0.0.1:8080). Today it serves the platform's own
// telemetry and health: `/metrics` (Prometheus text format), `/healthz` (the process is
// up) and `/readyz` (start-up recovery finished and the receivers are listening). Query
// APIs are added here as they land. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "http/http_server.h"
#include "prometheus/registry.h"

namespace observex::api {

class ApiHandler : public http::Handler {
 public:
  // `before_scrape` runs before each /metrics render (to publish gauges); may be empty.
  ApiHandler(std::shared_ptr<prometheus::Registry> registry, std::function<void()> before_scrape);
  void Handle(http::Request request, http::Responder respond) override;
  void set_ready(bool ready) { ready_.store(ready); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> before_scrape_;
  std::atomic<bool> ready_{false};
};

}  // namespace observex::api
