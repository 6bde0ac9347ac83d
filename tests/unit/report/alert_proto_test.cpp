// ToProto: every field of the alert contract reaches the wire message the collector gets.
#include "report/alert_proto.h"

#include <gtest/gtest.h>

#include "credsentry/v1/alert.pb.h"

namespace credsentry::report {
namespace {

alert::Alert FullAlert() {
  alert::Alert a;
  a.id = "host-1:42";
  a.time_ns = 1'700'000'000'123'456'789ull;
  a.kind = "secret-egress";
  a.severity = alert::Severity::kCritical;
  a.summary = "Anthropic key sent to 203.0.113.9";
  a.host = "host-1";
  a.process = {1234, 1, 1000, "python3", "/usr/bin/python3", "python3 x.py",
               {{1, "systemd", "/sbin/init", "init"}}, "/sys/fs/cgroup/ci", "abc123"};
  a.secret = {"anthropic-api-key", "anthropic", "Anthropic API key", "sk-ant-…Xa9f",
              "hmac-sha256:1f2e", alert::FoundIn::kTlsWrite};
  a.destination = {"evil.example", "203.0.113.9", 443, alert::Transport::kTls,
                   alert::NameSource::kSni, {"api.anthropic.com"}};
  a.evidence.credential_reads = {{"/home/u/.config/anthropic", 1234, "python3", 99}};
  a.evidence.decoding = {"http2", "hpack", "base64"};
  a.evidence.notes = {"Host header api.anthropic.com disagrees with SNI evil.example"};
  a.process.credential_env = {"ANTHROPIC_API_KEY"};
  a.process.systemd_unit = "actions.runner.service";
  a.process.pod = {"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "exfil-7d9f", "ci-jobs"};
  a.ci = {"github-actions", "acme/app", "release", "4242", "build"};
  a.target = {777, 1001, "runner", "/opt/runner/bin/Runner.Worker", "environ", {"GITHUB_TOKEN"},
              true, std::string(64, 'e')};
  a.target.pod = {"aaaaaaaa-0000-4000-8000-000000000001", "runner-0", "ci"};
  a.target.systemd_unit = "actions.runner.service";
  a.target.ci = {"github-actions", "acme/app", "release", "4242", "build"};
  a.destination.via = alert::ProxyHop{alert::ProxyKind::kSocks5, "proxy.corp", "10.0.0.8", 1080};
  return a;
}

TEST(AlertProto, EveryFieldOfTheAlertContractIsMapped) {
  v1::Alert m;
  ToProto(FullAlert(), &m);
  EXPECT_EQ(m.id(), "host-1:42");
  EXPECT_EQ(m.time_ns(), 1'700'000'000'123'456'789ull);
  EXPECT_EQ(m.kind(), "secret-egress");
  EXPECT_EQ(m.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(m.summary(), "Anthropic key sent to 203.0.113.9");
  EXPECT_EQ(m.host(), "host-1");
  EXPECT_EQ(m.action(), "observed");
  EXPECT_EQ(m.process().pid(), 1234u);
  EXPECT_EQ(m.process().ppid(), 1u);
  EXPECT_EQ(m.process().uid(), 1000u);
  EXPECT_EQ(m.process().comm(), "python3");
  EXPECT_EQ(m.process().exe(), "/usr/bin/python3");
  EXPECT_EQ(m.process().cmdline(), "python3 x.py");
  ASSERT_EQ(m.process().ancestors_size(), 1);
  EXPECT_EQ(m.process().ancestors(0).exe(), "/sbin/init");
  EXPECT_EQ(m.process().cgroup(), "/sys/fs/cgroup/ci");
  EXPECT_EQ(m.process().container(), "abc123");
  EXPECT_EQ(m.secret().type(), "anthropic-api-key");
  EXPECT_EQ(m.secret().provider(), "anthropic");
  EXPECT_EQ(m.secret().name(), "Anthropic API key");
  EXPECT_EQ(m.secret().redacted(), "sk-ant-…Xa9f");
  EXPECT_EQ(m.secret().fingerprint(), "hmac-sha256:1f2e");
  EXPECT_EQ(m.secret().found_in(), "tls-write");
  EXPECT_EQ(m.destination().host(), "evil.example");
  EXPECT_EQ(m.destination().ip(), "203.0.113.9");
  EXPECT_EQ(m.destination().port(), 443u);
  EXPECT_EQ(m.destination().transport(), "tls");
  EXPECT_EQ(m.destination().name_source(), "sni");
  ASSERT_EQ(m.destination().expected_size(), 1);
  EXPECT_EQ(m.destination().expected(0), "api.anthropic.com");
  ASSERT_EQ(m.evidence().credential_reads_size(), 1);
  EXPECT_EQ(m.evidence().credential_reads(0).path(), "/home/u/.config/anthropic");
  EXPECT_EQ(m.evidence().credential_reads(0).time_ns(), 99u);
  EXPECT_EQ(m.evidence().decoding_size(), 3);
  EXPECT_EQ(m.evidence().notes_size(), 1);
  ASSERT_EQ(m.process().credential_env_size(), 1);
  EXPECT_EQ(m.process().credential_env(0), "ANTHROPIC_API_KEY");
  EXPECT_EQ(m.process().systemd_unit(), "actions.runner.service");
  ASSERT_TRUE(m.process().has_pod());
  EXPECT_EQ(m.process().pod().uid(), "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901");
  EXPECT_EQ(m.process().pod().name(), "exfil-7d9f");
  EXPECT_EQ(m.process().pod().namespace_(), "ci-jobs");
  EXPECT_EQ(m.ci().provider(), "github-actions");
  EXPECT_EQ(m.ci().repository(), "acme/app");
  EXPECT_EQ(m.ci().workflow(), "release");
  EXPECT_EQ(m.ci().run_id(), "4242");
  EXPECT_EQ(m.ci().job(), "build");
  EXPECT_EQ(m.target().pid(), 777u);
  EXPECT_EQ(m.target().uid(), 1001u);
  EXPECT_EQ(m.target().comm(), "runner");
  EXPECT_EQ(m.target().access(), "environ");
  ASSERT_EQ(m.target().credential_env_size(), 1);
  EXPECT_EQ(m.target().credential_env(0), "GITHUB_TOKEN");
  EXPECT_TRUE(m.target().in_scope());
  EXPECT_EQ(m.target().container(), std::string(64, 'e'));
  EXPECT_EQ(m.target().pod().name(), "runner-0");
  EXPECT_EQ(m.target().pod().namespace_(), "ci");
  EXPECT_EQ(m.target().systemd_unit(), "actions.runner.service");
  EXPECT_EQ(m.target().ci().job(), "build");
  EXPECT_EQ(m.destination().via().kind(), "socks5");
  EXPECT_EQ(m.destination().via().host(), "proxy.corp");
  EXPECT_EQ(m.destination().via().ip(), "10.0.0.8");
  EXPECT_EQ(m.destination().via().port(), 1080u);

  alert::Alert low = FullAlert();
  low.severity = alert::Severity::kLow;
  ToProto(low, &m);
  EXPECT_EQ(m.severity(), v1::SEVERITY_LOW);

  alert::Alert v6 = FullAlert();
  v6.destination.ip = "fd00:c5::1";
  ToProto(v6, &m);
  EXPECT_EQ(m.destination().ip(), "fd00:c5::1");

  alert::Alert no_pod = FullAlert();
  no_pod.process.pod = {};
  v1::Alert without;
  ToProto(no_pod, &without);
  EXPECT_FALSE(without.process().has_pod());
}

}  // namespace
}  // namespace credsentry::report
