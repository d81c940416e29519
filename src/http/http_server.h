// A small asynchronous HTTP/1.1 server (Boost.Beast) shared by the OTLP/HTTP receiver and
// the API. It owns its listening socket, its io_context threads and every connection;
// a handler receives a fully read request (chunked bodies are de-chunked, the body is
// bounded by `max_body_bytes`, over which the server answers 413 itself) and answers
// through a Responder that may be called later, from any thread, exactly once. Keep-alive
// is honoured; responses on one connection are sent in request order.
//
// Bounds: at most `max_connections` open connections (more are accepted and closed at
// once), `max_body_bytes` per request, `max_body_bytes_in_flight` over all connections,
// `idle_timeout` per read. After an answer given before the body was read (413, 429) the
// server reads and discards what the client still sends (bounded) before closing, so the
// client sees the answer rather than a reset.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace observex::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string path;    // target before '?'
  std::string query;   // after '?', undecoded
  // Header names lower-cased; repeated headers keep every value in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;

  // First value of a header (name lower-case), or "" when absent.
  std::string_view Header(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close_connection = false;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

using Responder = absl::AnyInvocable<void(Response) &&>;

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(Request request, Responder respond) = 0;
  // Shapes the answers the server gives by itself (400, 413, 429, 431) so they match what
  // the handler's clients expect; `content_type` is the request's, possibly empty. The
  // default is plain text (plus Retry-After when `retry_after_seconds` > 0).
  virtual Response ErrorResponse(std::string_view content_type, int status, std::string message,
                                 int retry_after_seconds);
};

struct ServerOptions {
  std::string address = "127.0.0.1:0";  // host:port; port 0 picks a free one
  int threads = 2;
  size_t max_body_bytes = 20u << 20;
  size_t max_connections = 4096;
  absl::Duration idle_timeout = absl::Seconds(120);
  // Request body bytes all connections may hold at once, from the moment a body starts to
  // be read until its response is written; a request that would pass it is answered 429
  // with Retry-After before its body is read. 0 = no limit.
  size_t max_body_bytes_in_flight = 0;
  // Told of every answer the server gives by itself (400, 413, 429, 431) with the request
  // target (may be empty) and the status; for metrics. May be empty.
  std::function<void(const std::string& target, int status)> on_early_response;
  std::string name = "http";  // for logs
};

class Server {
 public:
  // Binds and starts serving; InvalidArgument for a bad address, Unavailable if the bind
  // fails.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler* handler);
  virtual ~Server() = default;
  // The bound port (useful with port 0).
  virtual int port() const = 0;
  // Stops accepting new connections and lets in-flight requests finish for up to
  // `grace`, then closes everything and joins the threads. Idempotent.
  virtual void Stop(absl::Duration grace) = 0;
};

// Splits "host:port" ("[::1]:80" too); InvalidArgument when malformed.
absl::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address);

}  // namespace observex::http
