#include "http/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace observex::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr size_t kHeaderLimitBytes = 64 * 1024;
constexpr size_t kDrainBufferBytes = 64 * 1024;

class ServerImpl;

// Each io_context is run by exactly one thread and owns its connections outright, so a
// connection needs no strand and its executor no type erasure (both showed in profiles).
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using Stream = beast::basic_stream<tcp, Executor>;

// One TCP connection. Requests are handled one at a time: the next request is read only
// after the previous response is written, which keeps responses in order and bounds the
// per-connection memory to one request.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, ServerImpl* server);
  ~Session();
  void Start() { DoReadHeader(); }
  void Respond(Response response);

 private:
  void DoReadHeader();
  void OnHeader(beast::error_code ec);
  void DoReadBody();
  void OnBody(beast::error_code ec);
  void Fail(int status, std::string message, int retry_after_seconds = 0);
  void RefuseOverBudget();
  void Close();
  // After an early answer the client may still be sending its body: closing at once would
  // reset the connection and lose the answer, so read and discard (bounded) first.
  void LingerClose();
  void Drain();
  bool Reserve(uint64_t bytes);
  void ReleaseReservation();

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // Chunked bodies are collected here so each chunk can be charged to the byte budget.
  std::string chunked_body_;
  std::function<size_t(uint64_t, beast::string_view, beast::error_code&)> on_chunk_;
  bool over_budget_ = false;
  uint64_t reserved_ = 0;  // body bytes charged to the server's budget for this request
  bool linger_ = false;
  uint64_t drained_ = 0;
  std::chrono::steady_clock::time_point linger_deadline_;
  std::unique_ptr<char[]> drain_buffer_;  // allocated only while lingering
  ServerImpl* server_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::string remote_;
};

class ServerImpl : public Server {
 public:
  ServerImpl(ServerOptions options, Handler* handler)
      : options_(std::move(options)),
        handler_(handler),
        iocs_(MakeContexts(std::max(1, options_.threads))),
        acceptor_(*iocs_[0]) {}

  ~ServerImpl() override { Stop(absl::ZeroDuration()); }

  absl::Status Bind() {
    auto hp = SplitHostPort(options_.address);
    if (!hp.ok()) return hp.status();
    beast::error_code ec;
    auto addr = asio::ip::make_address(hp->first, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.name, ": bad listen address '", options_.address, "'"));
    }
    tcp::endpoint ep(addr, hp->second);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat(options_.name, ": cannot listen on ", options_.address, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    for (auto& ioc : iocs_) {
      // Keeps run() from returning while a context has no connection yet.
      work_.push_back(asio::make_work_guard(*ioc));
      threads_.emplace_back([ctx = ioc.get()] { ctx->run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Stop(absl::Duration grace) override {
    if (stopped_.exchange(true)) return;
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    const auto deadline = absl::Now() + grace;
    while (in_flight_.load() > 0 && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    work_.clear();
    for (auto& ioc : iocs_) ioc->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  const ServerOptions& options() const { return options_; }
  Handler* handler() const { return handler_; }
  std::atomic<int64_t>& in_flight() { return in_flight_; }
  std::atomic<size_t>& connections() { return connections_; }

  bool TryReserveBody(uint64_t bytes) {
    const size_t cap = options_.max_body_bytes_in_flight;
    if (cap == 0) return true;
    uint64_t used = body_bytes_.load();
    do {
      if (used + bytes > cap && used > 0) return false;
    } while (!body_bytes_.compare_exchange_weak(used, used + bytes));
    return true;
  }
  void ReleaseBody(uint64_t bytes) { body_bytes_.fetch_sub(bytes); }

 private:
  void DoAccept() {
    asio::io_context& target = *iocs_[next_context_++ % iocs_.size()];
    acceptor_.async_accept(target, [this](beast::error_code ec, Socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        OBX_LOG_WARN("{}: accept failed: {}", options_.name, ec.message());
      } else if (connections_.load() >= options_.max_connections) {
        beast::error_code ignored;
        s.close(ignored);  // over the connection bound: refuse rather than queue
      } else {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);  // replies are small; never wait on Nagle
        std::make_shared<Session>(std::move(s), this)->Start();
      }
      if (acceptor_.is_open()) DoAccept();
    });
  }

  ServerOptions options_;
  Handler* handler_;
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> v;
    for (int i = 0; i < n; ++i) v.push_back(std::make_unique<asio::io_context>(1));
    return v;
  }

  // Declared before the io_contexts: sessions still queued in a context are destroyed with
  // it and touch these counters on the way out.
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<size_t> connections_{0};
  std::atomic<uint64_t> body_bytes_{0};
  int port_ = 0;
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  std::vector<asio::executor_work_guard<Executor>> work_;
  size_t next_context_ = 0;  // touched only by the accept loop (iocs_[0]'s thread)
  tcp::acceptor acceptor_;   // after iocs_: it must be destroyed before its context
  std::vector<std::thread> threads_;
};

Session::Session(Socket socket, ServerImpl* server) : stream_(std::move(socket)), server_(server) {
  server_->connections().fetch_add(1);
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = absl::StrCat(ep.address().to_string(), ":", ep.port());
}

Session::~Session() {
  ReleaseReservation();
  server_->connections().fetch_sub(1);
}

bool Session::Reserve(uint64_t bytes) {
  if (!server_->TryReserveBody(bytes)) return false;
  reserved_ += bytes;
  return true;
}

void Session::ReleaseReservation() {
  if (reserved_ > 0) server_->ReleaseBody(reserved_);
  reserved_ = 0;
}

void Session::DoReadHeader() {
  parser_.emplace();
  chunked_body_.clear();
  over_budget_ = false;
  parser_->header_limit(kHeaderLimitBytes);
  parser_->body_limit(server_->options().max_body_bytes);
  stream_.expires_after(
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(server_->options().idle_timeout)));
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
    return Close();
  }
  if (ec == bhttp::error::body_limit) {
    return Fail(413, absl::StrCat("request body exceeds the limit of ",
                                  server_->options().max_body_bytes, " bytes"));
  }
  if (ec == bhttp::error::header_limit) return Fail(431, "request header fields too large");
  if (ec) return Fail(400, absl::StrCat("malformed HTTP request: ", ec.message()));
  auto& req = parser_->get();
  // Charge the body to the server-wide budget before reading it, so bodies in flight
  // never hold more memory than configured, however many connections send at once.
  if (auto length = parser_->content_length(); length.has_value()) {
    if (*length > 0 && !Reserve(*length)) {
      over_budget_ = true;
    }
  } else if (parser_->chunked()) {
    const size_t limit = server_->options().max_body_bytes;
    on_chunk_ = [this, limit](uint64_t, beast::string_view body, beast::error_code& ec) -> size_t {
      if (chunked_body_.size() + body.size() > limit) {
        ec = bhttp::error::body_limit;
        return 0;
      }
      if (!Reserve(body.size())) {
        over_budget_ = true;
        ec = bhttp::error::body_limit;
        return 0;
      }
      chunked_body_.append(body.data(), body.size());
      return body.size();
    };
    parser_->on_chunk_body(on_chunk_);
  }
  if (over_budget_) return RefuseOverBudget();
  if (absl::EqualsIgnoreCase(std::string(req[bhttp::field::expect]), "100-continue")) {
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                     req.version());
    bhttp::async_write(stream_, *cont,
                       [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->DoReadBody();
                       });
    return;
  }
  DoReadBody();
}

void Session::DoReadBody() {
  bhttp::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit && over_budget_) return RefuseOverBudget();
  if (ec == bhttp::error::body_limit) {
    return Fail(413, absl::StrCat("request body exceeds the limit of ",
                                  server_->options().max_body_bytes, " bytes"));
  }
  if (ec == beast::error::timeout || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
      ec == bhttp::error::end_of_stream) {
    return Close();
  }
  if (ec) return Fail(400, absl::StrCat("malformed HTTP request: ", ec.message()));

  const bool parser_chunked_ = parser_->chunked() && !parser_->content_length().has_value();
  auto msg = parser_->release();
  parser_.reset();
  keep_alive_ = msg.keep_alive();
  version_ = msg.version();
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.headers.reserve(16);
  for (const auto& f : msg) {
    r.headers.emplace_back(absl::AsciiStrToLower(std::string(f.name_string())),
                           std::string(f.value()));
  }
  r.body = parser_chunked_ ? std::move(chunked_body_) : std::move(msg.body());
  r.remote_address = remote_;
  stream_.expires_never();

  // The responder may run on any thread; it hops back onto this connection's strand. If
  // a handler drops it without answering, the guard answers 500 so the client never hangs.
  struct Guard {
    std::shared_ptr<Session> session;
    bool answered = false;
    ~Guard() {
      if (!answered && session) {
        auto s = session;
        asio::post(s->stream_.get_executor(), [s] {
          s->Respond(Response::Text(500, "internal error: request was not answered\n"));
        });
      }
    }
  };
  server_->in_flight().fetch_add(1);
  auto guard = std::make_unique<Guard>();
  guard->session = shared_from_this();
  server_->handler()->Handle(std::move(r), [guard = std::move(guard)](Response resp) mutable {
    guard->answered = true;
    auto s = guard->session;
    asio::post(s->stream_.get_executor(),
               [s, resp = std::move(resp)]() mutable { s->Respond(std::move(resp)); });
  });
}

void Session::Respond(Response response) {
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
  res->version(version_);
  res->result(static_cast<unsigned>(response.status));
  res->set(bhttp::field::server, "observex");
  bool has_type = false;
  for (auto& [k, v] : response.headers) {
    if (absl::EqualsIgnoreCase(k, "content-type")) has_type = true;
    res->insert(k, v);
  }
  if (!has_type && !response.body.empty()) res->set(bhttp::field::content_type, "text/plain");
  res->body() = std::move(response.body);
  const bool close = response.close_connection || !keep_alive_;
  res->keep_alive(!close);
  res->prepare_payload();
  bhttp::async_write(stream_, *res,
                     [self = shared_from_this(), res, close](beast::error_code ec, size_t) {
                       self->server_->in_flight().fetch_sub(1);
                       self->ReleaseReservation();
                       if (ec) return self->Close();
                       if (close) return self->linger_ ? self->LingerClose() : self->Close();
                       self->DoReadHeader();
                     });
}

void Session::Fail(int status, std::string message, int retry_after_seconds) {
  // Errors found while reading: the request stream is out of sync, so answer and close.
  server_->in_flight().fetch_add(1);
  keep_alive_ = false;
  linger_ = true;
  const std::string content_type =
      parser_ ? std::string(parser_->get()[bhttp::field::content_type]) : std::string();
  Response r = server_->handler()->ErrorResponse(content_type, status, std::move(message),
                                                 retry_after_seconds);
  r.close_connection = true;
  if (server_->options().on_early_response) {
    server_->options().on_early_response(parser_ ? std::string(parser_->get().target()) : "",
                                         status);
  }
  Respond(std::move(r));
}

void Session::RefuseOverBudget() {
  Fail(429,
       absl::StrCat("request bodies in flight are at the memory budget (",
                    server_->options().max_body_bytes_in_flight, " bytes); retry later"),
       1);
}

// Like nginx's lingering close: discard what the client still sends for at most 30 s in
// all and 5 s between reads, then close. Discarded bytes cost no memory.
void Session::LingerClose() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  linger_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  drain_buffer_ = std::make_unique<char[]>(kDrainBufferBytes);
  Drain();
}

void Session::Drain() {
  stream_.expires_after(std::chrono::seconds(5));
  stream_.async_read_some(asio::buffer(drain_buffer_.get(), kDrainBufferBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->drained_ += n;
                            if (ec || std::chrono::steady_clock::now() > self->linger_deadline_) {
                              beast::error_code ignored;
                              self->stream_.socket().close(ignored);
                              return;
                            }
                            self->Drain();
                          });
}

void Session::Close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

}  // namespace

std::string_view Request::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

Response Handler::ErrorResponse(std::string_view, int status, std::string message,
                                int retry_after_seconds) {
  Response r = Response::Text(status, message + "\n");
  if (retry_after_seconds > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  }
  return r;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

absl::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address) {
  std::string host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(address), "': want [host]:port"));
    }
    host = std::string(address.substr(1, close - 1));
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(address), "': want host:port"));
    }
    host = std::string(address.substr(0, colon));
    port = address.substr(colon + 1);
  }
  if (host.empty() || host == "localhost") host = host.empty() ? "0.0.0.0" : "127.0.0.1";
  uint32_t p = 0;
  if (!absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &p) || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in address '", std::string(address), "'"));
  }
  return std::make_pair(host, static_cast<uint16_t>(p));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler* handler) {
  auto server = std::make_unique<ServerImpl>(std::move(options), handler);
  if (auto st = server->Bind(); !st.ok()) return st;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace observex::http
