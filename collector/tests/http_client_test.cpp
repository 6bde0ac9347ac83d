// HttpClient::Post against loopback servers that misbehave the ways real endpoints and proxies
// do: stall after the headers, trickle a byte at a time, keep the connection open after a body
// without a length, answer in chunks, or answer with far more than a forwarder ever reads. Each
// POST must end by its one deadline, and anything but a whole response is a failure the
// forwarder retries and counts.
#include "forward/http_client.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <functional>

#include "forward/http_forwarder.h"
#include "forward/webhook_forwarder.h"
#include "http_receiver.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

using Clock = std::chrono::steady_clock;
using collector::HttpClient;
using collector::HttpResponse;

// Accepts connections one at a time, reads each request, then hands the socket to `answer`,
// which writes whatever the test wants and returns; the server closes the socket after it.
class RawHttpServer {
 public:
  using Answer = std::function<void(RawHttpServer&, int fd)>;

  explicit RawHttpServer(Answer answer) : answer_(std::move(answer)) {
    fd_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawHttpServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int requests() const { return requests_; }

  // Sleeps `ms`, in steps, unless the server is stopping; false when it is.
  bool Pause(int ms) {
    for (auto until = Clock::now() + std::chrono::milliseconds(ms); Clock::now() < until;) {
      if (stop_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return !stop_;
  }
  // Holds the connection open, sending nothing, until the client hangs up (at most 10 s).
  void WaitForHangUp(int fd) {
    for (int i = 0; i < 1000 && !stop_; ++i) {
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      if (poll(&p, 1, 10) > 0) {
        char buf[256];
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) return;
      }
    }
  }
  static bool Send(int fd, const std::string& bytes) {
    return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      for (ssize_t n; (n = recv(c, buf, sizeof buf, 0)) > 0;) {
        req.append(buf, n);
        size_t end = req.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        std::string cl = ReceivedRequest{req.substr(0, end), ""}.Header("Content-Length");
        if (req.size() >= end + 4 + (cl.empty() ? 0 : std::stoul(cl))) break;
      }
      ++requests_;
      answer_(*this, c);
      close(c);
    }
  }

  Answer answer_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

struct Timed {
  Result<HttpResponse> response = Error{"not run"};
  int64_t ms = 0;
};

Timed PostTo(const RawHttpServer& server, int timeout_ms) {
  auto url = collector::ParseHttpUrl(server.Url());
  EXPECT_TRUE(url.ok()) << url.message();
  auto client = HttpClient::Open(*url, "", timeout_ms);
  EXPECT_TRUE(client.ok()) << client.message();
  auto start = Clock::now();
  Timed out;
  out.response = (*client)->Post("{}");
  out.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  return out;
}

TEST(HttpClientDeadline, AServerThatStallsAfterTheHeadersIsATimeoutNotAResponse) {
  RawHttpServer server([](RawHttpServer& s, int fd) {
    RawHttpServer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe first bytes");
    s.WaitForHangUp(fd);
  });
  Timed t = PostTo(server, 400);
  ASSERT_FALSE(t.response.ok()) << "a 200 whose body never came was taken as delivered";
  EXPECT_NE(t.response.message().find("timed out (400 ms for the whole POST)"), std::string::npos)
      << t.response.message();
  EXPECT_GE(t.ms, 350);
  EXPECT_LT(t.ms, 2000);
}

TEST(HttpClientDeadline, AServerThatTricklesBytesIsCutOffAtTheDeadline) {
  // Headers that never end, a byte every 20 ms: each read returns quickly, so only a deadline
  // for the whole POST stops it. The server gives up by itself after 5 s.
  RawHttpServer server([](RawHttpServer& s, int fd) {
    RawHttpServer::Send(fd, "HTTP/1.1 200 OK\r\nX-Slow: ");
    for (int i = 0; i < 250 && s.Pause(20) && RawHttpServer::Send(fd, "a");) ++i;
  });
  Timed t = PostTo(server, 400);
  ASSERT_FALSE(t.response.ok());
  EXPECT_NE(t.response.message().find("timed out"), std::string::npos) << t.response.message();
  EXPECT_LT(t.ms, 1500);
}

TEST(HttpClientDeadline, ABodyWithoutLengthRunsToTheClose) {
  RawHttpServer server([](RawHttpServer& s, int fd) {
    RawHttpServer::Send(fd, "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n\r\nqueued");
    if (s.Pause(100)) RawHttpServer::Send(fd, " for later");
  });
  Timed t = PostTo(server, 2000);
  ASSERT_TRUE(t.response.ok()) << t.response.message();
  EXPECT_EQ(t.response->status, 202);
  EXPECT_EQ(t.response->body, "queued for later");
}

TEST(HttpClientDeadline, ABodyWithoutLengthThatNeverEndsIsATimeout) {
  RawHttpServer server([](RawHttpServer& s, int fd) {
    RawHttpServer::Send(fd, "HTTP/1.1 200 OK\r\n\r\nok");
    s.WaitForHangUp(fd);
  });
  Timed t = PostTo(server, 400);
  ASSERT_FALSE(t.response.ok()) << t.response->body;
  EXPECT_NE(t.response.message().find("timed out"), std::string::npos) << t.response.message();
  EXPECT_LT(t.ms, 2000);
}

TEST(HttpClientDeadline, ChunkedResponsesEndAtTheLastChunkNotAtTheClose) {
  // Split across writes, with an extension and a trailer; then the server keeps the connection
  // open, so a client that waits for the close would sit out its whole timeout.
  RawHttpServer server([](RawHttpServer& s, int fd) {
    for (const char* part :
         {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n5;ext=1\r\nhel",
          "lo\r\n", "6\r\n world\r\n0\r\n", "X-Trailer: t\r\n\r\n"}) {
      if (!s.Pause(30) || !RawHttpServer::Send(fd, part)) return;
    }
    s.WaitForHangUp(fd);
  });
  Timed t = PostTo(server, 3000);
  ASSERT_TRUE(t.response.ok()) << t.response.message();
  EXPECT_EQ(t.response->status, 200);
  EXPECT_EQ(t.response->body, "hello world");
  EXPECT_EQ(t.response->retry_after_s, 7);
  EXPECT_LT(t.ms, 1500);
}

TEST(HttpClientDeadline, AResponseCutShortIsAFailure) {
  struct Case {
    std::string sent, message;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
       "before the response's "
       "last chunk"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", "after 3 of the 10 body bytes"},
      {"HTTP/1.1 200 OK\r\nContent-Le", "in the middle of the response's headers"},
      {"", "closed without a response"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"},
  };
  for (const auto& c : cases) {
    RawHttpServer server([&](RawHttpServer&, int fd) { RawHttpServer::Send(fd, c.sent); });
    Timed t = PostTo(server, 2000);
    ASSERT_FALSE(t.response.ok()) << c.sent;
    EXPECT_NE(t.response.message().find(c.message), std::string::npos) << t.response.message();
  }
}

TEST(HttpClientDeadline, AHugeResponseIsReadOnlyToTheBoundAndFails) {
  // 64 MiB offered, with a length and without: the client reads 64 KiB of it and stops.
  for (std::string head :
       {"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"}) {
    std::atomic<size_t> sent{0};
    RawHttpServer server([&](RawHttpServer&, int fd) {
      const std::string block(16 * 1024, 'x');
      if (!RawHttpServer::Send(fd, head)) return;
      while (sent < (64u << 20) && RawHttpServer::Send(fd, block)) sent += block.size();
    });
    Timed t = PostTo(server, 3000);
    ASSERT_FALSE(t.response.ok()) << head;
    EXPECT_NE(t.response.message().find("response larger than 64 KiB"), std::string::npos)
        << t.response.message();
    EXPECT_LT(t.ms, 2000);
    EXPECT_LT(sent.load(), 64u << 20);  // the client hung up long before the end
  }
}

TEST(HttpClientDeadline, ATimedOutPostIsRetriedThenCountedAsGivenUp) {
  RawHttpServer server([](RawHttpServer& s, int fd) {
    RawHttpServer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    s.WaitForHangUp(fd);
  });
  auto url = collector::ParseHttpUrl(server.Url());
  ASSERT_TRUE(url.ok());
  auto client = HttpClient::Open(*url, "", 300);
  ASSERT_TRUE(client.ok());
  collector::HttpFormat format = collector::WebhookFormat();
  format.delivery.attempts = 2;
  format.delivery.backoff_ms = 50;
  collector::HttpForwarder f(std::move(*client), std::move(format));
  f.OnFreshAlert(MakeAlert("slow-1", "runner-1"));
  collector::ForwardCounters c;
  for (int i = 0; i < 150 && (c = f.Counters()).dropped_gave_up == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(c.dropped_gave_up, 1u);
  EXPECT_EQ(c.retries, 1u);
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(server.requests(), 2);
}

}  // namespace
}  // namespace credsentry::testing
