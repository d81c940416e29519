#include "http/http_server.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace observex::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Echoes method, path, a header and the body; answers from another thread for /later and
// drops the responder for /drop.
class EchoHandler : public Handler {
 public:
  void Handle(Request r, Responder respond) override {
    if (r.path == "/drop") return;  // never answers: the server must answer 500 itself
    if (r.path == "/hold") {        // answers when the test calls ReleaseHeld()
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(respond));
      return;
    }
    std::string body = r.method + " " + r.path + " q=" + r.query +
                       " x=" + std::string(r.Header("x-test")) +
                       " len=" + std::to_string(r.body.size()) + " body=" + r.body.substr(0, 16);
    if (r.path == "/later") {
      threads_.emplace_back([respond = std::move(respond), body]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::move(respond)(Response::Text(202, body));
      });
      return;
    }
    std::move(respond)(Response::Text(200, body));
  }
  ~EchoHandler() override {
    for (auto& t : threads_) t.join();
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  void ReleaseHeld() {
    std::vector<Responder> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& r : held) std::move(r)(Response::Text(200, "released"));
  }

 private:
  std::mutex mu_;
  std::vector<Responder> held_;
  std::vector<std::thread> threads_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.address = "127.0.0.1:0";
    o.max_body_bytes = 1024;
    o.max_body_bytes_in_flight = 1500;
    o.on_early_response = [this](const std::string& target, int status) {
      last_early_status_.store(status);
    };
    auto s = Server::Start(o, &handler_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  void TearDown() override { server_->Stop(absl::Seconds(1)); }

  // Sends raw bytes and reads until the server closes or `responses` responses arrived.
  std::vector<bhttp::response<bhttp::string_body>> Exchange(const std::string& raw, int responses) {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
    asio::write(sock, asio::buffer(raw));
    beast::flat_buffer buf;
    std::vector<bhttp::response<bhttp::string_body>> out;
    for (int i = 0; i < responses; ++i) {
      bhttp::response<bhttp::string_body> res;
      beast::error_code ec;
      bhttp::read(sock, buf, res, ec);
      if (ec) break;
      out.push_back(std::move(res));
    }
    return out;
  }

  tcp::socket Connect(asio::io_context& ioc) {
    tcp::socket sock(ioc);
    sock.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
    return sock;
  }

  EchoHandler handler_;
  std::unique_ptr<Server> server_;
  std::atomic<int> last_early_status_{0};
};

// A client that sends its whole oversized body before reading (as OTLP exporters do) still
// gets the 413, not a connection reset.
TEST_F(HttpServerTest, OversizedBodySentInFullStillSees413) {
  asio::io_context ioc;
  tcp::socket sock = Connect(ioc);
  std::string raw = "POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n";
  raw += std::string(300000, 'x');
  beast::error_code ec;
  asio::write(sock, asio::buffer(raw), ec);
  EXPECT_FALSE(ec) << ec.message();
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(sock, buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(last_early_status_.load(), 413);
}

TEST_F(HttpServerTest, BodiesOverTheInFlightBudgetAre429BeforeReading) {
  asio::io_context ioc;
  // The first request's 1000 bytes stay charged while its handler holds the answer.
  tcp::socket first = Connect(ioc);
  asio::write(first, asio::buffer("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
                                  std::string(1000, 'a')));
  while (handler_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  tcp::socket second = Connect(ioc);
  asio::write(second, asio::buffer("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 800\r\n\r\n" +
                                   std::string(800, 'b')));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(second, buf, res);
  EXPECT_EQ(res.result_int(), 429);
  EXPECT_EQ(res[bhttp::field::retry_after], "1");
  EXPECT_NE(res.body().find("memory budget"), std::string::npos);

  // Chunked bodies are charged as they arrive.
  tcp::socket third = Connect(ioc);
  std::string chunked = "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  chunked += "258\r\n" + std::string(600, 'c') + "\r\n0\r\n\r\n";
  asio::write(third, asio::buffer(chunked));
  beast::flat_buffer buf3;
  bhttp::response<bhttp::string_body> res3;
  bhttp::read(third, buf3, res3);
  EXPECT_EQ(res3.result_int(), 429);

  // Once the first answer is written its bytes are free again.
  handler_.ReleaseHeld();
  bhttp::response<bhttp::string_body> res1;
  beast::flat_buffer buf1;
  bhttp::read(first, buf1, res1);
  EXPECT_EQ(res1.result_int(), 200);
  auto again = Exchange(
      "POST /y HTTP/1.1\r\nHost: t\r\nContent-Length: 800\r\n\r\n" + std::string(800, 'd'), 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].result_int(), 200);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsInOrder) {
  auto res = Exchange(
      "POST /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: one\r\nContent-Length: 5\r\n\r\nhello"
      "GET /later HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: t\r\n\r\n",
      3);
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].result_int(), 200);
  EXPECT_EQ(res[0].body(), "POST /a q=x=1 x=one len=5 body=hello");
  EXPECT_EQ(res[1].result_int(), 202);
  EXPECT_EQ(res[1].body(), "GET /later q= x= len=0 body=");
  EXPECT_EQ(res[2].body(), "GET /b q= x= len=0 body=");
}

TEST_F(HttpServerTest, ChunkedBodyIsDechunked) {
  auto res = Exchange(
      "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
      1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].body(), "POST /c q= x= len=7 body=abcdefg");
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndCloses) {
  auto res = Exchange("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 2);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result_int(), 413);
  EXPECT_NE(res[0].body().find("exceeds the limit of 1024 bytes"), std::string::npos);
  EXPECT_FALSE(res[0].keep_alive());
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitIs413) {
  std::string raw = "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) raw += "200\r\n" + std::string(512, 'x') + "\r\n";
  raw += "0\r\n\r\n";
  auto res = Exchange(raw, 1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result_int(), 413);
}

TEST_F(HttpServerTest, ExpectContinueGets100ThenResponse) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
  asio::write(sock,
              asio::buffer(std::string("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                                       "Content-Length: 3\r\n\r\n")));
  beast::flat_buffer buf;
  bhttp::response<bhttp::empty_body> cont;
  bhttp::response_parser<bhttp::empty_body> p;
  bhttp::read_header(sock, buf, p);
  EXPECT_EQ(p.get().result_int(), 100);
  asio::write(sock, asio::buffer(std::string("xyz")));
  bhttp::response<bhttp::string_body> res;
  bhttp::read(sock, buf, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "POST /e q= x= len=3 body=xyz");
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  auto res = Exchange("THIS IS NOT HTTP\r\n\r\n", 1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result_int(), 400);
}

TEST_F(HttpServerTest, UnansweredRequestGets500) {
  auto res = Exchange("GET /drop HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n", 2);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].result_int(), 500);
  EXPECT_EQ(res[1].result_int(), 200);  // the connection keeps serving
}

TEST(SplitHostPortTest, Forms) {
  EXPECT_EQ(SplitHostPort("127.0.0.1:4318")->second, 4318);
  EXPECT_EQ(SplitHostPort("[::1]:80")->first, "::1");
  EXPECT_EQ(SplitHostPort("localhost:1")->first, "127.0.0.1");
  EXPECT_EQ(SplitHostPort(":8080")->first, "0.0.0.0");
  EXPECT_FALSE(SplitHostPort("nohost").ok());
  EXPECT_FALSE(SplitHostPort("h:99999").ok());
  EXPECT_FALSE(SplitHostPort("[::1:80").ok());
}

TEST(HttpServerStartTest, BadAddressIsAnError) {
  EchoHandler h;
  ServerOptions o;
  o.address = "not-an-ip:80";
  auto s = Server::Start(o, &h);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace observex::http
