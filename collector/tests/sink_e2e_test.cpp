// The agent's CollectorSink against the real credsentry-collector process over mTLS: outages,
// agent SIGKILL mid-send, heartbeats, inventory, and no raw secret anywhere.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "report/collector_sink.h"
#include "common/log.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

using alert::Alert;
using report::CollectorOptions;
using report::CollectorSink;

class SinkE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (getenv("SINK_DEBUG")) spdlog::set_level(spdlog::level::debug);
    ASSERT_TRUE(MakePki(dir_ / "pki"));
    collector_ = std::make_unique<CollectorProcess>(dir_ / "collector.db", dir_ / "pki",
                                                    dir_ / "collector.log");
    ASSERT_TRUE(collector_->Start()) << ReadFile(dir_ / "collector.log");
  }
  CollectorOptions Options() {
    CollectorOptions o;
    o.address = collector_->address();
    o.ca_file = dir_ / "pki/ca.pem";
    o.cert_file = dir_ / ("pki/" + AgentCert("runner-1") + ".pem");
    o.key_file = dir_ / ("pki/" + AgentCert("runner-1") + ".key");
    o.spool_dir = dir_ / "spool";
    o.agent_host = "runner-1";
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 400;
    o.heartbeat_interval_ms = 200;
    return o;
  }
  // id -> how many rows the collector holds for it
  std::map<std::string, int> StoredIds() {
    std::map<std::string, int> out;
    auto r = RunCollectorCli("alerts --db " + (dir_ / "collector.db") + " --limit 100000 --json");
    for (const auto& line : Lines(r.out)) ++out[nlohmann::json::parse(line)["id"]];
    return out;
  }
  static Alert MakeAgentAlert(const std::string& id, const std::string& secret) {
    Alert a;
    a.id = id;
    a.time_ns = 1;
    a.kind = "secret-egress";
    a.severity = alert::Severity::kCritical;
    a.summary = "Anthropic key sent to paste.example";
    a.host = "runner-1";
    a.process.comm = "curl";
    a.secret.type = "anthropic-api-key";
    a.secret.redacted = secret.substr(0, 7) + "…" + secret.substr(secret.size() - 4);
    a.secret.fingerprint = "test-fp:" + std::to_string(std::hash<std::string>{}(secret));
    a.destination.host = "paste.example";
    a.destination.ip = "127.0.0.9";
    return a;
  }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};

TEST_F(SinkE2E, AlertsRaisedDuringACollectorOutageArriveExactlyOnce) {
  const std::string secret = SyntheticSecret();
  auto sink = CollectorSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.message();
  // Raised on the host, queryable at the collector within 1 s.
  auto raised = std::chrono::steady_clock::now();
  ASSERT_TRUE((*sink)->Write(MakeAgentAlert("before-outage", secret)).ok());
  ASSERT_TRUE((*sink)->WaitDrained(1000));
  EXPECT_EQ(StoredIds()["before-outage"], 1);
  EXPECT_LT(std::chrono::steady_clock::now() - raised, std::chrono::seconds(1));

  collector_->Stop();
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE((*sink)->Write(MakeAgentAlert("outage-" + std::to_string(i), secret)).ok());
  }
  // Wait (bounded) for a failed send; nothing may leave the spool meanwhile.
  for (int i = 0; i < 100 && (*sink)->Counters()["send_failures"] == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ((*sink)->Counters()["pending"], 25u);
  EXPECT_GT((*sink)->Counters()["send_failures"], 0u);

  ASSERT_TRUE(collector_->Start()) << ReadFile(dir_ / "collector.log");
  if (!(*sink)->WaitDrained(10000)) {
    std::string counters;
    for (const auto& [k, v] : (*sink)->Counters()) counters += k + "=" + std::to_string(v) + " ";
    FAIL() << "spool not drained after the collector came back: " << counters << "\n"
           << ReadFile(dir_ / "collector.log");
  }
  auto stored = StoredIds();
  EXPECT_EQ(stored.size(), 26u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(stored["outage-" + std::to_string(i)], 1) << i;
  auto c = (*sink)->Counters();
  EXPECT_EQ(c["sent"], 26u);
  EXPECT_EQ(c["pending"], 0u);

  // The synthetic key is in no file the pipeline wrote: spool, database (+WAL), collector log.
  sink->reset();
  EXPECT_FALSE(TreeContains(dir_.path(), secret));
  EXPECT_FALSE(TreeContains(dir_.path(), secret.substr(10, 40)));
}

// A collector that takes a batch and never answers (here: stopped with SIGSTOP) must not wedge
// the agent's stream: the ack watchdog cancels it after rpc_timeout_ms, the sender backs off and
// reconnects, and once the collector runs again every alert arrives exactly once.
TEST_F(SinkE2E, HungCollectorIsAbandonedAfterTheAckTimeoutAndNothingIsLostOrDuplicated) {
  const std::string secret = SyntheticSecret();
  auto opts = Options();
  opts.rpc_timeout_ms = 300;
  auto sink = CollectorSink::Create(opts);
  ASSERT_TRUE(sink.ok()) << sink.message();
  ASSERT_TRUE((*sink)->Write(MakeAgentAlert("before-hang", secret)).ok());
  ASSERT_TRUE((*sink)->WaitDrained(2000));

  collector_->Signal(SIGSTOP);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*sink)->Write(MakeAgentAlert("hang-" + std::to_string(i), secret)).ok());
  }
  // With a 300 ms ack timeout, two abandoned sends come within a second or two; a stream
  // that waits on the hung collector never counts one.
  for (int i = 0; i < 160 && (*sink)->Counters()["send_failures"] < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto during = (*sink)->Counters();
  collector_->Signal(SIGCONT);
  EXPECT_GE(during["send_failures"], 2u) << "the stream waited on a hung collector";

  ASSERT_TRUE((*sink)->WaitDrained(10000)) << ReadFile(dir_ / "collector.log");
  auto stored = StoredIds();
  EXPECT_EQ(stored.size(), 11u);
  for (const auto& [id, n] : stored) EXPECT_EQ(n, 1) << id;
}

TEST_F(SinkE2E, AgentKilledMidSendAndRestartedLosesAndDuplicatesNothing) {
  const int kCount = 3000;
  auto driver = [&](int count) {
    return std::vector<std::string>{SINK_DRIVER_BIN,  "--collector", collector_->address(),
                                    "--pki",          dir_ / "pki",  "--spool",
                                    dir_ / "spool",   "--host",      "runner-1",
                                    "--batch",        "20",          "--prefix",
                                    "k",              "--count",     std::to_string(count)};
  };
  {
    Child first(driver(kCount));
    ASSERT_EQ(first.ReadLine(), "written " + std::to_string(kCount) + "\n");
    // Kill it once the collector has some but not all of them.
    size_t seen = 0;
    for (int i = 0; i < 400 && (seen == 0 || seen == kCount); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      seen = StoredIds().size();
    }
    ASSERT_GT(seen, 0u);
    ASSERT_LT(seen, static_cast<size_t>(kCount)) << "sent everything before the kill";
    first.Kill(SIGKILL);
  }
  Child second(driver(0));
  std::string out = second.ReadAll();
  EXPECT_EQ(second.Wait(), 0) << out;
  EXPECT_NE(out.find("drained"), std::string::npos) << out;
  auto stored = StoredIds();
  ASSERT_EQ(stored.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(stored["k-" + std::to_string(i)], 1) << i;
}

TEST_F(SinkE2E, HeartbeatsCarryAgentCountersAndInventoryArrives) {
  auto sink = CollectorSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.message();
  (*sink)->SetStatsProvider([] {
    return std::map<std::string, uint64_t>{{"events", 123}, {"drops_ringbuf", 4}};
  });
  (*sink)->SetAgentInfo("rules-2026.11", {"tracepoints", "uprobes"});
  (*sink)->SetInventory({{"/home/ci/.aws/credentials", 1000, "aws-secret-key", "aws",
                          "test-fp:aws", "wJal…EKEY", 5}});
  std::string hosts_out;
  for (int i = 0; i < 50; ++i) {
    hosts_out = RunCollectorCli("hosts --db " + (dir_ / "collector.db") + " --json").out;
    if (hosts_out.find("drops_ringbuf") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto hosts = Lines(hosts_out);
  ASSERT_EQ(hosts.size(), 1u) << hosts_out;
  auto h = nlohmann::json::parse(hosts[0]);
  EXPECT_EQ(h["host"], "runner-1");
  EXPECT_EQ(h["rules_version"], "rules-2026.11");
  EXPECT_EQ(h["counters"]["events"], 123);
  EXPECT_EQ(h["counters"]["drops_ringbuf"], 4);
  EXPECT_TRUE(h["counters"].contains("collector_pending"));

  auto inv = Lines(RunCollectorCli("inventory --db " + (dir_ / "collector.db") + " --json").out);
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(inv[0])["path"], "/home/ci/.aws/credentials");
}

TEST_F(SinkE2E, AgentWithoutAValidClientCertificateDeliversNothing) {
  auto opts = Options();
  opts.cert_file = dir_ / "pki/rogue-client.pem";
  opts.key_file = dir_ / "pki/rogue-client.key";
  auto sink = CollectorSink::Create(opts);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(MakeAgentAlert("rogue-1", SyntheticSecret())).ok());
  EXPECT_FALSE((*sink)->WaitDrained(1500));
  EXPECT_GT((*sink)->Counters()["send_failures"], 0u);
  EXPECT_TRUE(StoredIds().empty());
}

}  // namespace
}  // namespace credsentry::testing
