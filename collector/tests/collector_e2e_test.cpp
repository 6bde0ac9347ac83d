// The real credsentry-collector over gRPC + mTLS on loopback, queried with its own CLI.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace credsentry::testing {
namespace {

class CollectorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakePki(dir_ / "pki"));
    collector_ = std::make_unique<CollectorProcess>(dir_ / "collector.db", dir_ / "pki",
                                                    dir_ / "collector.log");
    ASSERT_TRUE(collector_->Start()) << ReadFile(dir_ / "collector.log");
  }
  std::string Db() { return dir_ / "collector.db"; }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};

TEST_F(CollectorE2E, AlertIsQueryableWithinOneSecond) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", "client");
  v1::AlertBatch batch;
  batch.set_agent_host("runner-1");
  *batch.add_alerts() = MakeAlert("alert-1", "runner-1");
  auto start = std::chrono::steady_clock::now();
  grpc::ClientContext ctx;
  v1::AlertAck ack;
  ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  ASSERT_EQ(ack.acked_ids_size(), 1);
  EXPECT_EQ(ack.acked_ids(0), "alert-1");

  auto r = RunCollectorCli("alerts --db " + Db() + " --since 1h --host runner-1 --kind secret-egress --json");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["id"], "alert-1");
  EXPECT_EQ(j["secret"]["redacted"], "sk-ant-…AA");
  EXPECT_EQ(j["destination"]["host"], "paste.example");
  EXPECT_EQ(j["process"]["comm"], "curl");
  EXPECT_LT(elapsed, std::chrono::seconds(1));

  // Other hosts and kinds are filtered out.
  EXPECT_TRUE(Lines(RunCollectorCli("alerts --db " + Db() + " --host other --json").out).empty());
  EXPECT_TRUE(
      Lines(RunCollectorCli("alerts --db " + Db() + " --kind other-kind --json").out).empty());
}

TEST_F(CollectorE2E, ResendIsAckedAsDuplicateAndStoredOnce) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", "client");
  v1::AlertBatch batch;
  *batch.add_alerts() = MakeAlert("dup-1", "runner-1");
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
    EXPECT_EQ(ack.acked_ids_size(), 1);
    EXPECT_EQ(ack.duplicates(), static_cast<uint32_t>(i));
  }
  EXPECT_EQ(Lines(RunCollectorCli("alerts --db " + Db() + " --json").out).size(), 1u);
}

TEST_F(CollectorE2E, ClientsWithoutACertFromTheCaAreRejected) {
  for (const std::string cert : {"", "rogue-client"}) {
    auto stub = MakeStub(collector_->address(), dir_ / "pki", cert);
    v1::AlertBatch batch;
    *batch.add_alerts() = MakeAlert("intruder-" + cert, "evil");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::AlertAck ack;
    auto st = stub->SendAlerts(&ctx, batch, &ack);
    EXPECT_FALSE(st.ok()) << "client cert '" << cert << "' was accepted";
    EXPECT_EQ(ack.acked_ids_size(), 0);
  }
  EXPECT_TRUE(Lines(RunCollectorCli("alerts --db " + Db() + " --json").out).empty());
  // The legitimate client still works.
  auto stub = MakeStub(collector_->address(), dir_ / "pki", "client");
  grpc::ClientContext ctx;
  v1::Heartbeat hb;
  hb.set_host("runner-1");
  v1::HeartbeatAck ack;
  EXPECT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
}

TEST_F(CollectorE2E, HostsAndInventoryViews) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", "client");
  {
    grpc::ClientContext ctx;
    v1::Heartbeat hb;
    hb.set_host("runner-1");
    hb.set_agent_version("0.1.0");
    (*hb.mutable_counters())["events"] = 12345;
    v1::HeartbeatAck ack;
    ASSERT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
    EXPECT_GT(ack.server_time_ns(), 0u);
  }
  {
    grpc::ClientContext ctx;
    v1::Inventory inv;
    inv.set_host("runner-1");
    auto* c = inv.add_credentials();
    c->set_path("/home/ci/.aws/credentials");
    c->set_type("aws-secret-key");
    c->set_redacted("wJal…KEY");
    c->set_fingerprint("hmac-sha256:aws1");
    v1::InventoryAck ack;
    ASSERT_TRUE(stub->SendInventory(&ctx, inv, &ack).ok());
    EXPECT_EQ(ack.stored(), 1u);
  }
  {
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    *batch.add_alerts() = MakeAlert("sent-1", "runner-1", "hmac-sha256:aws1");
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  }
  auto hosts = Lines(RunCollectorCli("hosts --db " + Db() + " --json").out);
  ASSERT_EQ(hosts.size(), 1u);
  auto h = nlohmann::json::parse(hosts[0]);
  EXPECT_EQ(h["host"], "runner-1");
  EXPECT_EQ(h["counters"]["events"], 12345);

  auto inv = Lines(
      RunCollectorCli("inventory --db " + Db() + " --fingerprint hmac-sha256:aws1 --json").out);
  ASSERT_EQ(inv.size(), 2u);  // where it lives, then where it was sent
  EXPECT_EQ(nlohmann::json::parse(inv[0])["path"], "/home/ci/.aws/credentials");
  auto sent = nlohmann::json::parse(inv[1]);
  EXPECT_EQ(sent["sent_from"], "runner-1");
  EXPECT_EQ(sent["sent_to"], "paste.example");
}

TEST(CollectorCli, BadInputGetsAClearErrorAndExitCode) {
  TempDir dir;
  auto r = RunCollectorCli("alerts --db " + (dir / "c.db") + " --since yesterday");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("bad duration 'yesterday'"), std::string::npos) << r.out;
  r = RunCollectorCli("hosts --db " + (dir / "missing.db"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("no collector database at '" + (dir / "missing.db") + "'"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(dir / "missing.db"));
  r = RunCollectorCli("alerts --bogus");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown flag --bogus"), std::string::npos) << r.out;
  r = RunCollectorCli("serve --listen 127.0.0.1:0 --db " + (dir / "c.db"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("mTLS needs --ca, --cert and --key"), std::string::npos) << r.out;
  r = RunCollectorCli("serve --listen 127.0.0.1:0 --db " + (dir / "c.db") +
                      " --ca /nonexistent/ca.pem --cert x --key y");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("cannot read CA certificate '/nonexistent/ca.pem'"), std::string::npos)
      << r.out;
}

// A one-shot HTTP server on loopback that records POST bodies.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string req;
        char buf[4096];
        ssize_t n;
        while ((n = recv(c, buf, sizeof buf, 0)) > 0) {
          req.append(buf, n);
          auto hdr_end = req.find("\r\n\r\n");
          if (hdr_end == std::string::npos) continue;
          auto cl = req.find("Content-Length: ");
          size_t want = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
          if (req.size() >= hdr_end + 4 + want) break;
        }
        const char resp[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        send(c, resp, sizeof resp - 1, MSG_NOSIGNAL);
        close(c);
        std::lock_guard lock(mu_);
        bodies_.push_back(req.substr(req.find("\r\n\r\n") + 4));
      }
    });
  }
  ~WebhookReceiver() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> WaitFor(size_t n) {
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard lock(mu_);
        if (bodies_.size() >= n) return bodies_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  int fd_ = -1, port_ = 0;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

TEST(CollectorForwarding, NewAlertsAndFleetAlertsArePostedToTheWebhookOnce) {
  TempDir dir;
  ASSERT_TRUE(MakePki(dir / "pki"));
  WebhookReceiver hook;
  CollectorProcess collector(
      dir / "c.db", dir / "pki", dir / "c.log",
      {"--webhook", "http://127.0.0.1:" + std::to_string(hook.port()) + "/hook",
       "--heartbeat-timeout", "1s", "--sweep-interval", "200ms"});
  ASSERT_TRUE(collector.Start()) << ReadFile(dir / "c.log");
  auto stub = MakeStub(collector.address(), dir / "pki", "client");
  {
    grpc::ClientContext ctx;
    v1::Heartbeat hb;
    hb.set_host("quiet-runner");
    v1::HeartbeatAck ack;
    ASSERT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
  }
  for (int i = 0; i < 2; ++i) {  // the resend must not be forwarded again
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    *batch.add_alerts() = MakeAlert("fwd-1", "runner-1");
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  }
  auto bodies = hook.WaitFor(2);  // the alert, then the silent-agent alert after ~1 s
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  bodies = hook.WaitFor(2);
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(bodies[0])["id"], "fwd-1");
  auto silent = nlohmann::json::parse(bodies[1]);
  EXPECT_EQ(silent["kind"], "fleet-agent-silent");
  EXPECT_EQ(silent["host"], "quiet-runner");
  auto stored = Lines(RunCollectorCli("alerts --db " + (dir / "c.db") +
                                      " --kind fleet-agent-silent --json").out);
  EXPECT_EQ(stored.size(), 1u);
}

}  // namespace
}  // namespace credsentry::testing
