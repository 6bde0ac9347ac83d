// Hosts cannot speak for each other: the real collector over mTLS refuses heartbeats, inventory
// and alerts for a host the agent's certificate does not name (DNS SAN, else CN), counts the
// refusals, logs each (certificate, host) pair once and raises one fleet alert per pair.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http_receiver.h"
#include "ingest/collector_metrics.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

class IdentityE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(MakePki(dir_ / "pki")); }
  void Start(std::vector<std::string> extra = {}) {
    collector_ = std::make_unique<CollectorProcess>(Db(), dir_ / "pki", dir_ / "collector.log",
                                                    std::move(extra));
    ASSERT_TRUE(collector_->Start()) << Log();
  }
  std::string Db() { return dir_ / "collector.db"; }
  std::string Log() { return ReadFile(dir_ / "collector.log"); }
  std::unique_ptr<v1::Collector::Stub> Stub(const std::string& cert) {
    return MakeStub(collector_->address(), dir_ / "pki", cert);
  }
  grpc::Status Heartbeat(const std::string& cert, const std::string& host) {
    grpc::ClientContext ctx;
    v1::Heartbeat hb;
    hb.set_host(host);
    v1::HeartbeatAck ack;
    return Stub(cert)->SendHeartbeat(&ctx, hb, &ack);
  }
  grpc::Status Inventory(const std::string& cert, const std::string& host) {
    grpc::ClientContext ctx;
    v1::InventoryAck ack;
    return Stub(cert)->SendInventory(&ctx, MakeInventory(host), &ack);
  }
  grpc::Status SendAlerts(const std::string& cert, const v1::AlertBatch& batch, v1::AlertAck* ack) {
    grpc::ClientContext ctx;
    return Stub(cert)->SendAlerts(&ctx, batch, ack);
  }
  std::vector<nlohmann::json> Alerts(const std::string& filter) {
    std::vector<nlohmann::json> out;
    for (const auto& line :
         Lines(RunCollectorCli("alerts --db " + Db() + " " + filter + " --since 1h --json").out)) {
      out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }
  static size_t Count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};

const char kRefusal[] = "certificate for 'runner-1' cannot send for host 'runner-2'";

TEST_F(IdentityE2E, AnAgentWhoseCertificateNamesAnotherHostIsRefusedCountedAndAlerted) {
  HttpReceiver hook;
  Start({"--webhook", hook.Url("/hook")});
  const std::string a = AgentCert("runner-1");

  auto hb = Heartbeat(a, "runner-2");
  EXPECT_EQ(hb.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(hb.error_message(), kRefusal);
  auto inv = Inventory(a, "runner-2");
  EXPECT_EQ(inv.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(inv.error_message(), kRefusal);

  v1::AlertBatch foreign;
  foreign.set_agent_host("runner-2");
  *foreign.add_alerts() = MakeAlert("spoofed-1", "runner-2");
  {
    v1::AlertAck ack;
    auto st = SendAlerts(a, foreign, &ack);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(st.error_message(), kRefusal);
    EXPECT_EQ(ack.acked_ids_size(), 0);
  }
  {  // the stream the real agent uses ends with the same status
    grpc::ClientContext ctx;
    auto stream = Stub(a)->StreamAlerts(&ctx);
    foreign.set_batch_id(1);
    ASSERT_TRUE(stream->Write(foreign));
    v1::AlertAck ack;
    EXPECT_FALSE(stream->Read(&ack));
    auto st = stream->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(st.error_message(), kRefusal);
  }
  {  // its own batch carrying one alert filed under another host: that alert is rejected
    v1::AlertBatch mixed;
    mixed.set_agent_host("runner-1");
    *mixed.add_alerts() = MakeAlert("own-1", "runner-1");
    *mixed.add_alerts() = MakeAlert("spoofed-2", "runner-2");
    v1::AlertAck ack;
    ASSERT_TRUE(SendAlerts(a, mixed, &ack).ok());
    ASSERT_EQ(ack.acked_ids_size(), 1);
    EXPECT_EQ(ack.acked_ids(0), "own-1");
    ASSERT_EQ(ack.rejected_size(), 1);
    EXPECT_EQ(ack.rejected(0).id(), "spoofed-2");
    EXPECT_EQ(ack.rejected(0).reason(), kRefusal);
  }

  // Nothing was stored for runner-2 but the fleet alert, raised once for the pair.
  auto for_b = Alerts("--host runner-2");
  ASSERT_EQ(for_b.size(), 1u) << Log();
  EXPECT_EQ(for_b[0]["kind"], "fleet-host-identity-mismatch");
  EXPECT_EQ(for_b[0]["severity"], "SEVERITY_HIGH");
  const std::string summary = for_b[0]["summary"];
  EXPECT_NE(summary.find("certificate names 'runner-1'"), std::string::npos) << summary;
  EXPECT_NE(summary.find("for host 'runner-2'"), std::string::npos) << summary;
  EXPECT_EQ(Alerts("--host runner-1").size(), 1u);  // own-1
  EXPECT_TRUE(Lines(RunCollectorCli("hosts --db " + Db() + " --json").out).empty());
  EXPECT_TRUE(
      Lines(RunCollectorCli("inventory --db " + Db() + " --host runner-2 --json").out).empty());
  // Forwarded like every fleet alert: the fleet alert, then own-1.
  auto posted = hook.WaitFor(2);
  ASSERT_EQ(posted.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(posted[0].body)["id"],
            "fleet-host-identity-mismatch:runner-1:runner-2");
  EXPECT_EQ(nlohmann::json::parse(posted[1].body)["id"], "own-1");

  collector_->Stop();
  const std::string log = Log();
  EXPECT_EQ(Count(log, "the agent's certificate names 'runner-1'"), 1u) << log;
  EXPECT_NE(log.find("identity_rejected_heartbeats = 1"), std::string::npos) << log;
  EXPECT_NE(log.find("identity_rejected_inventories = 1"), std::string::npos) << log;
  EXPECT_NE(log.find("identity_rejected_alerts = 3"), std::string::npos) << log;
  EXPECT_NE(log.find("batches_identity_refused = 2"), std::string::npos) << log;
}

TEST_F(IdentityE2E, AnAgentSendingAsItsOwnHostIsAcceptedWhateverTheCase) {
  Start();
  const std::string a = AgentCert("runner-1");
  EXPECT_TRUE(Heartbeat(a, "runner-1").ok());
  EXPECT_TRUE(Heartbeat(a, "Runner-1").ok());
  EXPECT_TRUE(Inventory(a, "runner-1").ok());
  v1::AlertBatch batch;
  batch.set_agent_host("runner-1");
  *batch.add_alerts() = MakeAlert("own-1", "runner-1");
  v1::AlertAck ack;
  ASSERT_TRUE(SendAlerts(a, batch, &ack).ok());
  EXPECT_EQ(ack.acked_ids_size(), 1);
  EXPECT_EQ(ack.rejected_size(), 0);
  EXPECT_TRUE(Alerts("--kind fleet-host-identity-mismatch").empty());
}

TEST_F(IdentityE2E, DnsSubjectAltNamesNameTheHostAndTheCnOnlyWithoutThem) {
  Start();
  // san-over-cn: CN cn-host, DNS SANs san-host and alias-host.
  EXPECT_TRUE(Heartbeat("san-over-cn", "san-host").ok());
  EXPECT_TRUE(Heartbeat("san-over-cn", "alias-host").ok());
  auto by_cn = Heartbeat("san-over-cn", "cn-host");
  EXPECT_EQ(by_cn.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(by_cn.error_message(),
            "certificate for 'san-host,alias-host' cannot send for host 'cn-host'");
  // cn-only: CN cn-only-host, no SAN.
  EXPECT_TRUE(Heartbeat("cn-only", "cn-only-host").ok());
  auto other = Heartbeat("cn-only", "runner-1");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other.error_message(),
            "certificate for 'cn-only-host' cannot send for host 'runner-1'");
  // The default "client" certificate names this machine, as the agent here reports it.
  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  EXPECT_TRUE(Heartbeat("client", hostname).ok());
  EXPECT_EQ(Alerts("--kind fleet-host-identity-mismatch").size(), 2u);
}

TEST_F(IdentityE2E, AllowSharedIdentityLetsOneCertificateSendForAnyHost) {
  Start({"--allow-shared-identity"});
  EXPECT_TRUE(Heartbeat(AgentCert("runner-1"), "runner-2").ok());
  EXPECT_TRUE(Alerts("--kind fleet-host-identity-mismatch").empty());
  EXPECT_NE(Log().find("--allow-shared-identity: any agent certificate may send for any host"),
            std::string::npos)
      << Log();
}

TEST(IdentityInsecure, WithoutTlsHostsAreNotCheckedAndTheLogSaysSo) {
  TempDir dir;
  CollectorProcess collector(dir / "c.db", "", dir / "c.log");
  ASSERT_TRUE(collector.Start()) << ReadFile(dir / "c.log");
  auto stub = v1::Collector::NewStub(
      grpc::CreateChannel(collector.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::Heartbeat hb;
  hb.set_host("any-host");
  v1::HeartbeatAck ack;
  EXPECT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
  EXPECT_NE(ReadFile(dir / "c.log").find("agents' host names are not checked"), std::string::npos)
      << ReadFile(dir / "c.log");
}

TEST(IdentityMetrics, RefusalsAreExportedByMessageAndAsARefusedBatchReason) {
  collector::CounterMap ingest = {{"identity_rejected_alerts", 3},
                                  {"identity_rejected_heartbeats", 1},
                                  {"identity_rejected_inventories", 2},
                                  {"batches_identity_refused", 2}};
  std::string page = "\n" + collector::CollectorMetrics(ingest, {}, {}).Text();
  for (const char* line :
       {"credsentry_collector_identity_rejected_total{message=\"alert\"} 3\n",
        "credsentry_collector_identity_rejected_total{message=\"heartbeat\"} 1\n",
        "credsentry_collector_identity_rejected_total{message=\"inventory\"} 2\n",
        "credsentry_collector_batches_refused_total{reason=\"identity\"} 2\n",
        "# TYPE credsentry_collector_identity_rejected_total counter\n"}) {
    EXPECT_NE(page.find(std::string("\n") + line), std::string::npos) << line << page;
  }
}

}  // namespace
}  // namespace credsentry::testing
