#include <gtest/gtest.h>

#include "report/alert_json.h"

#include "alert/alert_id.h"

namespace credsentry::report {
namespace {

TEST(AlertJson, CarriesTheContractFields) {
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.time_ns = 1700000000123456789ull;
  a.kind = "secret-egress";
  a.severity = alert::Severity::kCritical;
  a.summary = "s";
  a.host = "runner-1";
  a.process.pid = 5;
  a.process.comm = "curl";
  a.process.ancestors.push_back({4, "bash", "/bin/bash", "bash -c x"});
  a.secret.type = "openai-project-key";
  a.secret.provider = "openai";
  a.secret.redacted = "sk-proj-…abcd";
  a.secret.fingerprint = "hmac-sha256:00";
  a.destination.host = "exfil.test";
  a.destination.port = 443;
  a.destination.expected = {"api.openai.com"};
  a.evidence.credential_reads.push_back({"/root/.aws/credentials", 4, "bash", 1700000000000000000ull});
  auto j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["id"].get<std::string>().size(), 32u);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["process"]["ancestors"][0]["comm"], "bash");
  EXPECT_EQ(j["secret"]["redacted"], "sk-proj-…abcd");
  EXPECT_EQ(j["destination"]["expected"][0], "api.openai.com");
  EXPECT_EQ(j["evidence"]["credential_reads"][0]["path"], "/root/.aws/credentials");
  EXPECT_EQ(j["action"], "observed");  // the default: detect mode
  for (const char* key : {"id", "time", "kind", "severity", "summary", "host", "action", "process",
                          "secret", "destination", "evidence"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(AlertJson, ActionSaysWhatPreventModeDid) {
  alert::Alert a;
  a.action = alert::Action::kKilled;
  EXPECT_EQ(nlohmann::json::parse(AlertToJsonLine(a))["action"], "killed");
}

TEST(AlertJson, InvalidUtf8IsReplacedNotThrown) {
  alert::Alert a;
  a.process.comm = std::string("\xff\xfe", 2);
  EXPECT_NO_THROW(AlertToJsonLine(a));
}

TEST(AlertJson, PodAppearsOnlyWhenKnown) {
  alert::Alert a;
  a.process.pid = 5;
  auto j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_FALSE(j["process"].contains("pod"));
  a.process.pod.ns = "ci-jobs";  // a namespace alone names no pod
  j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_FALSE(j["process"].contains("pod"));

  a.process.pod = {"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "exfil-7d9f", "ci-jobs"};
  j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["process"]["pod"], (nlohmann::json{{"uid", "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901"},
                                                 {"name", "exfil-7d9f"},
                                                 {"namespace", "ci-jobs"}}));
  a.process.pod = {"", "exfil-7d9f", ""};  // no uid (cgroup not visible), name from HOSTNAME
  j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["process"]["pod"]["name"], "exfil-7d9f");
  EXPECT_EQ(j["process"]["pod"]["uid"], "");
}

TEST(AlertJson, Ipv6DestinationIsWrittenAsIs) {
  alert::Alert a;
  a.destination = {"", "fd00:c5::1", 80, alert::Transport::kTcp, alert::NameSource::kIp,
                   {"api.openai.com"}};
  auto j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["destination"]["ip"], "fd00:c5::1");
  EXPECT_EQ(j["destination"]["port"], 80);
  a.destination.ip = "::1";
  EXPECT_EQ(nlohmann::json::parse(AlertToJsonLine(a))["destination"]["ip"], "::1");
}

TEST(AlertJson, ATunnelNamesItsTargetAndTheProxyAsVia) {
  alert::Alert a;
  a.destination.host = "exfil.test";
  a.destination.port = 443;
  a.destination.name_source = alert::NameSource::kTunnel;
  EXPECT_FALSE(nlohmann::json::parse(AlertToJsonLine(a))["destination"].contains("via"));
  a.destination.via = alert::ProxyHop{alert::ProxyKind::kSocks5, "proxy.corp", "10.0.0.3", 1080};
  nlohmann::json j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["destination"]["host"], "exfil.test");
  EXPECT_EQ(j["destination"]["name_source"], "tunnel");
  EXPECT_EQ(j["destination"]["via"],
            nlohmann::json({{"kind", "socks5"}, {"host", "proxy.corp"}, {"ip", "10.0.0.3"},
                            {"port", 1080}}));
  a.destination.via->kind = alert::ProxyKind::kHttpConnect;
  EXPECT_EQ(nlohmann::json::parse(AlertToJsonLine(a))["destination"]["via"]["kind"],
            "http-connect");
}

TEST(AlertJson, IdsAreUnique) { EXPECT_NE(alert::NewAlertId(), alert::NewAlertId()); }

}  // namespace
}  // namespace credsentry::report
