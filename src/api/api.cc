#include "api/api.h"

#include <algorithm>

#include "prometheus/text_serializer.h"

namespace observex::api {

ApiHandler::ApiHandler(std::shared_ptr<prometheus::Registry> registry,
                       std::function<void()> before_scrape)
    : registry_(std::move(registry)), before_scrape_(std::move(before_scrape)) {}

void ApiHandler::Mount(std::string prefix, http::Handler* handler) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  for (auto& [p, h] : mounts_) {
    if (p == prefix) {
      h = handler;
      return;
    }
  }
  mounts_.emplace_back(std::move(prefix), handler);
  std::stable_sort(mounts_.begin(), mounts_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

http::Handler* ApiHandler::MountFor(const std::string& path) const {
  for (const auto& [prefix, handler] : mounts_) {
    if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) continue;
    // "/prom" must not capture "/prometheus": the prefix ends at a path segment boundary.
    if (path.size() == prefix.size() || path[prefix.size()] == '/' || prefix == "/") {
      return handler;
    }
  }
  return nullptr;
}

void ApiHandler::Handle(http::Request req, http::Responder respond) {
  if (http::Handler* mounted = MountFor(req.path)) {
    return mounted->Handle(std::move(req), std::move(respond));
  }
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
