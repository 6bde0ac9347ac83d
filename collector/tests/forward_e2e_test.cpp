// The real credsentry-collector's forwarders: `serve` flags for the JSON webhook, Slack and
// Splunk HEC, each fresh alert delivered once (a resend is not forwarded again), the counters in
// the shutdown log, and flag errors that name the flag and what is wrong.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "forward/slack_message.h"
#include "forward/splunk_hec.h"
#include "http_receiver.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

void SendAlertTwice(const std::string& address, const std::string& pki, const v1::Alert& a) {
  auto stub = MakeStub(address, pki, AgentCert(a.host()));
  for (int i = 0; i < 2; ++i) {  // the resend must not be forwarded again
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    *batch.add_alerts() = a;
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  }
}

TEST(CollectorForwarding, NewAlertsAndFleetAlertsArePostedToTheWebhookOnce) {
  TempDir dir;
  ASSERT_TRUE(MakePki(dir / "pki"));
  HttpReceiver hook;
  CollectorProcess collector(
      dir / "c.db", dir / "pki", dir / "c.log",
      {"--webhook", hook.Url("/hook"), "--heartbeat-timeout", "1s", "--sweep-interval", "200ms"});
  ASSERT_TRUE(collector.Start()) << ReadFile(dir / "c.log");
  auto stub = MakeStub(collector.address(), dir / "pki", AgentCert("quiet-runner"));
  {
    grpc::ClientContext ctx;
    v1::Heartbeat hb;
    hb.set_host("quiet-runner");
    v1::HeartbeatAck ack;
    ASSERT_TRUE(stub->SendHeartbeat(&ctx, hb, &ack).ok());
  }
  SendAlertTwice(collector.address(), dir / "pki", MakeAlert("fwd-1", "runner-1"));
  hook.WaitFor(2);  // the alert, then the silent-agent alert after ~1 s
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto got = hook.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body)["id"], "fwd-1");
  auto silent = nlohmann::json::parse(got[1].body);
  EXPECT_EQ(silent["kind"], "fleet-agent-silent");
  EXPECT_EQ(silent["host"], "quiet-runner");
  auto stored = Lines(
      RunCollectorCli("alerts --db " + (dir / "c.db") + " --kind fleet-agent-silent --json").out);
  EXPECT_EQ(stored.size(), 1u);
  collector.Stop();
  EXPECT_NE(ReadFile(dir / "c.log").find("webhook_sent = 2"), std::string::npos)
      << ReadFile(dir / "c.log");
}

TEST(CollectorForwarding, SlackAndSplunkGetEachFreshAlertOnce) {
  TempDir dir;
  ASSERT_TRUE(MakePki(dir / "pki"));
  HttpReceiver slack({.fallback = HttpResponseText(200, "ok")});
  HttpReceiver hec({.fallback = HttpResponseText(200, R"({"text":"Success","code":0})")});
  const std::string token = "5f1c1d1e-aaaa-bbbb-cccc-0123456789ab";
  { std::ofstream(dir / "hec.token") << token << "\n"; }
  CollectorProcess collector(
      dir / "c.db", dir / "pki", dir / "c.log",
      {"--slack", slack.Url("/services/T000/B000/XXXX"), "--splunk",
       "http://127.0.0.1:" + std::to_string(hec.port()), "--splunk-token-file", dir / "hec.token"});
  ASSERT_TRUE(collector.Start()) << ReadFile(dir / "c.log");
  v1::Alert alert = MakeAlert("fwd-2", "runner-2");
  SendAlertTwice(collector.address(), dir / "pki", alert);
  slack.WaitFor(1);
  hec.WaitFor(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a second POST would be here
  auto to_slack = slack.Requests();
  ASSERT_EQ(to_slack.size(), 1u);
  EXPECT_EQ(to_slack[0].RequestLine(), "POST /services/T000/B000/XXXX HTTP/1.1");
  EXPECT_EQ(to_slack[0].body, collector::SlackMessage(alert));
  auto to_hec = hec.Requests();
  ASSERT_EQ(to_hec.size(), 1u);
  EXPECT_EQ(to_hec[0].RequestLine(), "POST /services/collector/event HTTP/1.1");
  EXPECT_EQ(to_hec[0].Header("Authorization"), "Splunk " + token);
  EXPECT_EQ(to_hec[0].body, collector::HecEvent(alert));

  collector.Stop();
  std::string log = ReadFile(dir / "c.log");
  EXPECT_NE(log.find("slack_sent = 1"), std::string::npos) << log;
  EXPECT_NE(log.find("splunk_sent = 1"), std::string::npos) << log;
  EXPECT_NE(log.find("splunk_dropped_rejected = 0"), std::string::npos) << log;
  EXPECT_EQ(log.find(token), std::string::npos) << log;
  EXPECT_EQ(log.find("XXXX"), std::string::npos) << log;  // the Slack URL's secret path
}

TEST(CollectorForwarding, AlertsQueuedForADeadEndpointAtStopAreCountedInTheStopLog) {
  TempDir dir;
  ASSERT_TRUE(MakePki(dir / "pki"));
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort()) + "/hook";
  CollectorProcess collector(dir / "c.db", dir / "pki", dir / "c.log", {"--webhook", dead});
  ASSERT_TRUE(collector.Start()) << ReadFile(dir / "c.log");
  {
    auto stub = MakeStub(collector.address(), dir / "pki", AgentCert("runner-1"));
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    batch.set_agent_host("runner-1");
    for (int i = 0; i < 3; ++i)
      *batch.add_alerts() = MakeAlert("dead-" + std::to_string(i), "runner-1");
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  }
  collector.Stop();
  std::string log = ReadFile(dir / "c.log");
  auto counter = [&](const std::string& name) -> long {
    size_t at = log.find(name + " = ");
    return at == std::string::npos ? -1 : std::stol(log.substr(at + name.size() + 3));
  };
  // The stop may come while the first alert is still being retried (3.5 s of backoff) or
  // after it gave up; either way the alerts behind it were still queued, and are counted.
  EXPECT_GE(counter("webhook_dropped_at_shutdown"), 2) << log;
  EXPECT_EQ(counter("webhook_dropped_at_shutdown") + counter("webhook_dropped_gave_up"), 3) << log;
  EXPECT_EQ(counter("webhook_sent"), 0) << log;
}

TEST(CollectorForwarding, FlagErrorsNameTheFlagAndWhatIsWrong) {
  TempDir dir;
  { std::ofstream(dir / "empty.token"); }
  { std::ofstream(dir / "spaced.token") << "abc def\n"; }
  { std::ofstream(dir / "ok.token") << "abc\n"; }
  const std::string serve = "serve --listen 127.0.0.1:0 --insecure --db " + (dir / "c.db") + " ";
  struct Case {
    std::string flags, message;
  } cases[] = {
      {"--slack ftp://hooks.slack.com/services/T/B/SeCrEtPaTh",
       "--slack URL 'ftp://hooks.slack.com' must start with http:// or https://"},
      {"--slack http://hooks.slack.com/services/T/B/SeCrEtPaTh",
       "--slack URL 'http://hooks.slack.com:80' must be https:// (it carries a credential)"},
      {"--slack https://hooks.slack.com:99999/services/T/B/SeCrEtPaTh",
       "--slack URL 'https://hooks.slack.com:99999' has a bad port"},
      {"--webhook https://h:99999/x", "--webhook URL 'https://h:99999' has a bad port"},
      {"--splunk https://hec.example:8088", "--splunk and --splunk-token-file go together"},
      {"--splunk https://hec.example:8088 --splunk-token-file " + (dir / "missing"),
       "--splunk-token-file '" + (dir / "missing") + "': cannot read: No such file or directory"},
      {"--splunk https://hec.example:8088 --splunk-token-file " + (dir / "empty.token"),
       "--splunk-token-file '" + (dir / "empty.token") + "' is empty"},
      {"--splunk https://hec.example:8088 --splunk-token-file " + (dir / "spaced.token"),
       "holds a space, line break or control character inside the token"},
      {"--splunk https://hec.example:8088 --splunk-token-file " + (dir / "ok.token") +
           " --forward-ca " + (dir / "missing.pem"),
       "--splunk: cannot load CA bundle '" + (dir / "missing.pem") + "'"},
  };
  for (const auto& c : cases) {
    auto r = RunCollectorCli(serve + c.flags);
    EXPECT_EQ(r.exit_code, 2) << c.flags << "\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.flags << "\n" << r.out;
    // The path of a Slack URL is its credential: no error may quote it.
    EXPECT_EQ(r.out.find("SeCrEtPaTh"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("/services/"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace credsentry::testing
