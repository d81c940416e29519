#include "api/api.h"

#include "prometheus/text_serializer.h"

namespace observex::api {

ApiHandler::ApiHandler(std::shared_ptr<prometheus::Registry> registry,
                       std::function<void()> before_scrape)
    : registry_(std::move(registry)), before_scrape_(std::move(before_scrape)) {}

void ApiHandler::Handle(http::Request req, http::Responder respond) {
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = http::Response::Text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return std::move(respond)(std::move(r));
  }
  if (req.path == "/healthz") {
    return std::move(respond)(http::Response::Text(200, "ok\n"));
  }
  if (req.path == "/readyz") {
    if (ready_.load()) return std::move(respond)(http::Response::Text(200, "ready\n"));
    return std::move(respond)(http::Response::Text(503, "starting: recovery in progress\n"));
  }
  if (req.path == "/metrics") {
    if (before_scrape_) before_scrape_();
    prometheus::TextSerializer serializer;
    http::Response r;
    r.status = 200;
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = serializer.Serialize(registry_->Collect());
    return std::move(respond)(std::move(r));
  }
  std::move(respond)(http::Response::Text(404, "not found: " + req.path + "\n"));
}

}  // namespace observex::api
