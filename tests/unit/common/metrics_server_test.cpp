#include "common/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace credsentry::metrics {
namespace {

TEST(MetricsListen, TakesLoopbackAddresses) {
  auto v4 = ParseMetricsListen("127.0.0.1:9464", false, "--allow");
  ASSERT_TRUE(v4) << v4.message();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  auto v6 = ParseMetricsListen("[::1]:0", false, "--allow");
  ASSERT_TRUE(v6) << v6.message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_TRUE(ParseMetricsListen("localhost:9464", false, "--allow"));
  EXPECT_TRUE(ParseMetricsListen("127.1.2.3:9464", false, "--allow"));
}

TEST(MetricsListen, RefusesOtherAddressesNamingTheFlagThatAllowsThem) {
  for (const char* addr : {"0.0.0.0:9464", "10.0.0.5:9464", "[::]:9464", "metrics.example:9464"}) {
    auto r = ParseMetricsListen(addr, false, "--metrics-allow-remote");
    ASSERT_FALSE(r) << addr;
    EXPECT_NE(r.message().find("not a loopback address"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("--metrics-allow-remote"), std::string::npos) << r.message();
    EXPECT_TRUE(ParseMetricsListen(addr, true, "--metrics-allow-remote")) << addr;
  }
}

TEST(MetricsListen, SaysWhatIsWrongWithTheAddress) {
  EXPECT_NE(ParseMetricsListen("9464", false, "x").message().find("want HOST:PORT"),
            std::string::npos);
  EXPECT_NE(ParseMetricsListen("127.0.0.1:99999", false, "x").message().find("port"),
            std::string::npos);
  EXPECT_NE(ParseMetricsListen("127.0.0.1:http", false, "x").message().find("port"),
            std::string::npos);
  EXPECT_NE(ParseMetricsListen(":9464", false, "x").message().find("no host"), std::string::npos);
  EXPECT_NE(ParseMetricsListen("::1:9464", false, "x").message().find("[ADDR]:PORT"),
            std::string::npos);
}

// One HTTP/1.0 request over a plain socket: the server is tested from the outside.
std::string Fetch(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect failed";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

TEST(MetricsServer, ServesWhatRenderReturnsOnMetricsOnly) {
  int calls = 0;
  auto server = MetricsServer::Start({"127.0.0.1", 0}, [&] {
    ++calls;
    return std::string("cs_up 1\n");
  });
  ASSERT_TRUE(server) << server.message();
  ASSERT_GT((*server)->port(), 0);
  std::string page = Fetch((*server)->port(), "/metrics");
  EXPECT_NE(page.find("HTTP/1.1 200"), std::string::npos) << page;
  EXPECT_NE(page.find("text/plain; version=0.0.4"), std::string::npos) << page;
  EXPECT_TRUE(page.ends_with("\r\n\r\ncs_up 1\n")) << page;
  EXPECT_NE(Fetch((*server)->port(), "/").find("HTTP/1.1 404"), std::string::npos);
  EXPECT_EQ(calls, 1);
}

TEST(MetricsServer, AnAddressInUseIsAnError) {
  auto first = MetricsServer::Start({"127.0.0.1", 0}, [] { return std::string(); });
  ASSERT_TRUE(first) << first.message();
  auto second =
      MetricsServer::Start({"127.0.0.1", (*first)->port()}, [] { return std::string(); });
  ASSERT_FALSE(second);
  EXPECT_NE(second.message().find("cannot listen on 127.0.0.1:"), std::string::npos)
      << second.message();
}

TEST(MetricsServer, StopsRightAfterStarting) {
  for (int i = 0; i < 3; ++i) {
    auto server = MetricsServer::Start({"127.0.0.1", 0}, [] { return std::string(); });
    ASSERT_TRUE(server) << server.message();
  }  // each destructor returns: the listener thread ended
}

}  // namespace
}  // namespace credsentry::metrics
