#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/agent_config.h"

namespace credsentry::config {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(AgentConfig, LoadsKnownSettings) {
  auto path = WriteTemp("cs-agent-ok.yaml",
                        "alerts_file: /tmp/a.jsonl\ncgroups: [/sys/fs/cgroup/x]\n"
                        "collector:\n  address: c:4317\n  spool_max_bytes: 1024\n");
  AgentConfig cfg;
  ASSERT_TRUE(LoadAgentConfigFile(path, cfg).ok());
  EXPECT_EQ(cfg.alerts_file, "/tmp/a.jsonl");
  EXPECT_EQ(cfg.cgroups, std::vector<std::string>{"/sys/fs/cgroup/x"});
  EXPECT_EQ(cfg.collector.address, "c:4317");
  EXPECT_EQ(cfg.collector.spool_max_bytes, 1024u);
}

TEST(AgentConfig, EgressAllowTakesNamesAndCidrsAndRefusesMappedIpv4) {
  auto path = WriteTemp("cs-agent-egress.yaml",
                        "egress:\n  allow: [registry.npmjs.org, '*.pkg.dev', 10.0.0.0/8, "
                        "'2001:db8::/32']\n");
  AgentConfig cfg;
  auto st = LoadAgentConfigFile(path, cfg);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(cfg.egress_allow_names, (std::vector<std::string>{"registry.npmjs.org", "*.pkg.dev"}));
  EXPECT_EQ(cfg.egress_allow_cidrs, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  // Read as IPv6, /8 of it would be ::/8: every IPv4-mapped address.
  path = WriteTemp("cs-agent-mapped.yaml", "mode: prevent\negress:\n  allow: ['::ffff:10.0.0.0/8']\n");
  st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path + ":3: egress.allow: '::ffff:10.0.0.0/8' is an IPv4-mapped IPv6 "
                                 "address: write the IPv4 range (10.0.0.0/8)");
  path = WriteTemp("cs-agent-cidr.yaml", "egress:\n  allow: [10.0.0.0/33]\n");
  st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path + ":2: egress.allow: '10.0.0.0/33' is not an address or CIDR"),
            std::string::npos) << st.message();
}

TEST(AgentConfig, ExecHoldIsOnByDefaultAndTurnsOff) {
  EXPECT_TRUE(AgentConfig{}.exec_hold);
  auto path = WriteTemp("cs-agent-exechold.yaml", "exec_hold: false\n");
  AgentConfig cfg;
  ASSERT_TRUE(LoadAgentConfigFile(path, cfg).ok());
  EXPECT_FALSE(cfg.exec_hold);
  path = WriteTemp("cs-agent-exechold-bad.yaml", "\nexec_hold: sometimes\n");
  auto st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path + ":2: wrong type for this setting");
}

TEST(AgentConfig, UnknownKeyNamesFileAndLine) {
  auto path = WriteTemp("cs-agent-typo.yaml", "alerts_file: x\nalert_file: y\n");
  AgentConfig cfg;
  auto st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path + ":2: unknown setting 'alert_file'");
}

TEST(AgentConfig, SyntaxAndTypeErrorsNameTheLine) {
  auto path = WriteTemp("cs-agent-bad.yaml", "cgroups: [a\n");
  AgentConfig cfg;
  auto st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path + ":"), std::string::npos);
  path = WriteTemp("cs-agent-type.yaml", "\n\ndata_ringbuf_bytes: lots\n");
  st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path + ":3: wrong type for this setting");
}

TEST(AgentConfig, CaptureBudgetDefaultsAndBounds) {
  AgentConfig defaults;
  EXPECT_EQ(defaults.capture_budget_bytes, 1u << 20);
  EXPECT_EQ(defaults.capture_head_bytes, 4096u);

  auto path =
      WriteTemp("cs-agent-budget.yaml", "capture_budget_bytes: 0\ncapture_head_bytes: 512\n");
  AgentConfig cfg;
  ASSERT_TRUE(LoadAgentConfigFile(path, cfg).ok());
  EXPECT_EQ(cfg.capture_budget_bytes, 0u);
  EXPECT_EQ(cfg.capture_head_bytes, 512u);

  path = WriteTemp("cs-agent-head.yaml", "\ncapture_head_bytes: 100000\n");
  auto st = LoadAgentConfigFile(path, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), path + ":2: capture_head_bytes must be between 256 and 16384");
}

TEST(CommandLine, FlagsOverrideAndRepeat) {
  const char* argv[] = {"credsentry-agent", "--cgroup", "/a", "--cgroup", "/b", "--rules", "r1",
                        "--alerts-file", "-", "--check"};
  auto cl = ParseCommandLine(10, const_cast<char**>(argv));
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kCheck);
  EXPECT_EQ(cl->config.cgroups, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(cl->config.rules_dirs, std::vector<std::string>{"r1"});
}

TEST(CommandLine, UnknownFlagAndMissingValue) {
  const char* a1[] = {"credsentry-agent", "--bogus"};
  auto cl = ParseCommandLine(2, const_cast<char**>(a1));
  ASSERT_FALSE(cl.ok());
  EXPECT_NE(cl.message().find("--bogus"), std::string::npos);
  const char* a2[] = {"credsentry-agent", "--cgroup"};
  cl = ParseCommandLine(2, const_cast<char**>(a2));
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "--cgroup needs a value");
}

TEST(CommandLine, ScanTakesPaths) {
  const char* argv[] = {"credsentry-agent", "scan", "a", "-"};
  auto cl = ParseCommandLine(4, const_cast<char**>(argv));
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->command, Command::kScan);
  EXPECT_EQ(cl->scan_paths, (std::vector<std::string>{"a", "-"}));
}

}  // namespace
}  // namespace credsentry::config
