// The real credsentry-collector over gRPC + mTLS on loopback, queried with its own CLI.
#include <gtest/gtest.h>

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
  auto stub = MakeStub(collector_->address(), dir_ / "pki", AgentCert("runner-1"));
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
  auto stub = MakeStub(collector_->address(), dir_ / "pki", AgentCert("runner-1"));
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
  auto stub = MakeStub(collector_->address(), dir_ / "pki", AgentCert("runner-1"));
  grpc::ClientContext ctx;
  v1::Heartbeat hb;
  hb.set_host("runner-1");
  v1::HeartbeatAck ack;
  EXPECT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
}

TEST_F(CollectorE2E, HostsAndInventoryViews) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", AgentCert("runner-1"));
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
    v1::InventoryAck ack;
    ASSERT_TRUE(stub->SendInventory(&ctx, MakeInventory("runner-1"), &ack).ok());
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

}  // namespace
}  // namespace credsentry::testing
