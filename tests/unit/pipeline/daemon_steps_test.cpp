#include "pipeline/daemon_steps.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "../config/temp_dir.h"
#include "common/unique_fd.h"

namespace credsentry::pipeline {
namespace {

const char* kTestKind =
    "version: 1\n"
    "credentials:\n"
    "  - id: test-token\n    provider: test\n    name: test token\n"
    "    severity: high\n    pattern: 'tok_[a-z]{20}'\n    charset: 'a-z_'\n"
    "    never_sent: true\n";

config::AgentConfig ConfigIn(const testing::TempDir& dir) {
  config::AgentConfig cfg;
  cfg.rules_dirs = {CREDSENTRY_SOURCE_RULES_DIR};
  cfg.alerts_file = dir.path() + "/alerts.jsonl";
  cfg.fingerprint_key_file = dir.path() + "/state/fingerprint.key";
  cfg.collector.spool_dir = dir.path() + "/spool";
  return cfg;
}

TEST(CompileCatalogue, CompilesTheShippedRules) {
  testing::TempDir dir;
  auto catalogue = CompileCatalogue(ConfigIn(dir));
  ASSERT_TRUE(catalogue.ok()) << catalogue.message();
  EXPECT_FALSE((*catalogue)->rules().kinds.empty());
  EXPECT_FALSE((*catalogue)->rules().digest.empty());
}

TEST(CompileCatalogue, ABrokenRuleFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  dir.Write("rules/zz-broken.yaml", "kinds:\n  - id: broken\n  pattern: \"x\"\n    name: y\n");
  auto cfg = ConfigIn(dir);
  cfg.rules_dirs.push_back(dir.path() + "/rules");
  auto catalogue = CompileCatalogue(cfg);
  ASSERT_FALSE(catalogue.ok());
  EXPECT_NE(catalogue.message().find("zz-broken.yaml"), std::string::npos) << catalogue.message();
}

TEST(OpenOutputs, CreatesThePrivateStateDirectoryAndOpensTheAlertsFile) {
  testing::TempDir dir;
  StatsSnapshot stats;
  auto outputs = OpenOutputs(ConfigIn(dir), stats);
  ASSERT_TRUE(outputs.ok()) << outputs.message();
  struct stat st {};
  ASSERT_EQ(stat((dir.path() + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/state/fingerprint.key"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/alerts.jsonl"));
  ASSERT_EQ(outputs->sinks.size(), 1u);
  EXPECT_EQ(outputs->sinks[0]->Name(), "file");
  EXPECT_EQ(outputs->collector, nullptr);
}

TEST(OpenOutputs, AConfiguredCollectorComesAfterTheAlertsFile) {
  testing::TempDir dir;
  auto cfg = ConfigIn(dir);
  cfg.collector.address = "127.0.0.1:1";
  StatsSnapshot stats;
  auto outputs = OpenOutputs(cfg, stats);
  ASSERT_TRUE(outputs.ok()) << outputs.message();
  ASSERT_EQ(outputs->sinks.size(), 2u);
  EXPECT_EQ(outputs->sinks[0]->Name(), "file");
  EXPECT_EQ(outputs->sinks[1].get(), outputs->collector);
}

TEST(OpenOutputs, ErrorsNameTheOutputThatFailed) {
  testing::TempDir dir;
  StatsSnapshot stats;
  auto cfg = ConfigIn(dir);
  dir.Write("state/fingerprint.key", "short\n");
  chmod((dir.path() + "/state/fingerprint.key").c_str(), 0600);
  auto bad_key = OpenOutputs(cfg, stats);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.message().rfind("fingerprint key: ", 0), 0u) << bad_key.message();

  cfg = ConfigIn(dir);
  cfg.fingerprint_key_file = dir.path() + "/other/fingerprint.key";
  cfg.collector.address = "collector-without-port";
  auto bad_collector = OpenOutputs(cfg, stats);
  ASSERT_FALSE(bad_collector.ok());
  EXPECT_EQ(bad_collector.message().rfind("collector: ", 0), 0u) << bad_collector.message();

  cfg = ConfigIn(dir);
  cfg.fingerprint_key_file = dir.path() + "/third/fingerprint.key";
  cfg.alerts_file = dir.path() + "/no-such-dir/alerts.jsonl";
  auto bad_alerts = OpenOutputs(cfg, stats);
  ASSERT_FALSE(bad_alerts.ok());
  EXPECT_NE(bad_alerts.message().find("no-such-dir"), std::string::npos) << bad_alerts.message();
}

class FakeFdTable : public loader::WatchedFdTable {
 public:
  Status WatchSocket(uint32_t pid, int fd, loader::SocketKind kind) override {
    sockets.emplace_back(pid, fd, kind);
    return Status::Ok();
  }
  Status Unwatch(uint32_t, int) override { return Status::Ok(); }
  bool Has(int fd, loader::SocketKind kind) const {
    return std::find(sockets.begin(), sockets.end(),
                     std::make_tuple(static_cast<uint32_t>(getpid()), fd, kind)) != sockets.end();
  }
  std::vector<std::tuple<uint32_t, int, loader::SocketKind>> sockets;
};

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

TEST(PrimeState, WatchesTheConnectedSocketsOfProcessesInScopeAndTakesTheInventory) {
  testing::TempDir dir;
  const std::string token = "tok_abcdefghijklmnopqrst";
  const std::string stored = dir.Write("home/token.env", "TOKEN=" + token + "\n");
  dir.Write("rules/test.yaml", std::string(kTestKind) +
                                   "credential_files:\n"
                                   "  - id: test-file\n    paths: ['" +
                                   stored + "']\n");
  auto cfg = ConfigIn(dir);
  cfg.rules_dirs = {dir.path() + "/rules"};
  auto catalogue = CompileCatalogue(cfg);
  ASSERT_TRUE(catalogue.ok()) << catalogue.message();
  auto scope = state::Scope::Create({});
  ASSERT_TRUE(scope.ok()) << scope.message();
  report::Fingerprinter fp("daemon-steps-test-key");
  Pipeline pipeline(PipelineOptions{}, *scope, *catalogue, fp, {}, nullptr);

  // A connected UDP socket, and both ends of a TCP connection over loopback.
  UniqueFd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in discard = Loopback(9);
  ASSERT_EQ(connect(udp.get(), reinterpret_cast<sockaddr*>(&discard), sizeof discard), 0);
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in any_port = Loopback(0);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&any_port), sizeof any_port), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  socklen_t len = sizeof any_port;
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&any_port), &len);
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&any_port), sizeof any_port), 0);

  FakeFdTable fds;
  auto inventory = PrimeState(pipeline, *scope, fds, *catalogue, fp);
  EXPECT_TRUE(fds.Has(udp.get(), loader::SocketKind::kUdp));
  EXPECT_TRUE(fds.Has(client.get(), loader::SocketKind::kTcp));
  EXPECT_FALSE(fds.Has(listener.get(), loader::SocketKind::kTcp));  // no peer: not egress
  EXPECT_GT(pipeline.processes().size(), 0u);
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].path, stored);
  EXPECT_EQ(inventory[0].fingerprint, fp.Of(token));
}

TEST(NotifySystemd, SendsTheStateToTheNotifySocket) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/notify";
  UniqueFd listener(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::copy(path.begin(), path.end(), addr.sun_path);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  NotifySystemd("READY=1");
  unsetenv("NOTIFY_SOCKET");
  NotifySystemd("STOPPING=1");  // no socket: nothing is sent

  char buf[64] = {};
  ssize_t n = recv(listener.get(), buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "READY=1");
  EXPECT_LT(recv(listener.get(), buf, sizeof buf, MSG_DONTWAIT), 0);
}

}  // namespace
}  // namespace credsentry::pipeline
