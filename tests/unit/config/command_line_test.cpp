// The command line as an operator types it: every flag lands in its setting, repeatable flags
// keep their order, agent.yaml sits under the flags, and bad input names what is wrong.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/agent_config.h"
#include "temp_dir.h"

namespace credsentry::config {
namespace {

Result<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "credsentry-agent");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

// Each value-taking daemon flag; --help must list all of them and each needs a value.
const std::vector<std::string> kValueFlags = {"--config",      "--rules",          "--cgroup",
                                              "--alerts-file", "--collector",      "--log-file",
                                              "--log-level",   "--stats-file",     "--trace-events",
                                              "--ready-file",  "--fingerprint-key",
                                              "--metrics-listen", "--mode"};

TEST(CommandLine, EveryFlagLandsInItsSetting) {
  testing::TempDir dir;
  auto yaml = dir.Write("agent.yaml", "");
  auto cl = Parse({"--config",          yaml,
                   "--rules",           "r",
                   "--cgroup",          "/cg",
                   "--alerts-file",     "a.jsonl",
                   "--collector",       "c.example:4317",
                   "--log-file",        "agent.log",
                   "--log-level",       "debug",
                   "--stats-file",      "stats.json",
                   "--trace-events",    "trace.jsonl",
                   "--ready-file",      "ready",
                   "--fingerprint-key", "fp.key"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kRun);
  EXPECT_EQ(cl->config_file, yaml);
  const AgentConfig& c = cl->config;
  EXPECT_EQ(c.rules_dirs, std::vector<std::string>{"r"});
  EXPECT_EQ(c.cgroups, std::vector<std::string>{"/cg"});
  EXPECT_EQ(c.alerts_file, "a.jsonl");
  EXPECT_EQ(c.collector.address, "c.example:4317");
  EXPECT_EQ(c.log_file, "agent.log");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.stats_file, "stats.json");
  EXPECT_EQ(c.trace_events_file, "trace.jsonl");
  EXPECT_EQ(c.ready_file, "ready");
  EXPECT_EQ(c.fingerprint_key_file, "fp.key");
}

TEST(CommandLine, AlertFormatIsAutoJsonOrText) {
  testing::TempDir dir;
  auto empty = dir.Write("empty.yaml", "");
  auto defaults = Parse({"--config", empty});
  ASSERT_TRUE(defaults.ok()) << defaults.message();
  EXPECT_EQ(defaults->config.alert_format, "auto");
  auto text = Parse({"--config", empty, "--alert-format", "text"});
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(text->config.alert_format, "text");
  auto bad = Parse({"--config", empty, "--alert-format", "pretty"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "--alert-format must be auto, json or text, not 'pretty'");

  auto yaml = dir.Write("agent.yaml", "alert_format: json\n");
  auto from_file = Parse({"--config", yaml});
  ASSERT_TRUE(from_file.ok()) << from_file.message();
  EXPECT_EQ(from_file->config.alert_format, "json");
  auto bad_file = dir.Write("bad.yaml", "log_level: info\nalert_format: yaml\n");
  auto refused = Parse({"--config", bad_file});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), bad_file + ":2: alert_format must be auto, json or text");
}

TEST(CommandLine, ModeIsDetectUnlessPreventIsAsked) {
  testing::TempDir dir;
  auto empty = dir.Write("empty.yaml", "");
  auto defaults = Parse({"--config", empty});
  ASSERT_TRUE(defaults.ok()) << defaults.message();
  EXPECT_EQ(defaults->config.mode, Mode::kDetect);
  auto prevent = Parse({"--config", empty, "--mode", "prevent"});
  ASSERT_TRUE(prevent.ok()) << prevent.message();
  EXPECT_EQ(prevent->config.mode, Mode::kPrevent);
  auto bad = Parse({"--config", empty, "--mode", "block"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "--mode must be detect or prevent, not 'block'");

  auto yaml = dir.Write("agent.yaml", "mode: prevent\n");
  auto from_file = Parse({"--config", yaml});
  ASSERT_TRUE(from_file.ok()) << from_file.message();
  EXPECT_EQ(from_file->config.mode, Mode::kPrevent);
  auto flag_wins = Parse({"--mode", "detect", "--config", yaml});
  ASSERT_TRUE(flag_wins.ok()) << flag_wins.message();
  EXPECT_EQ(flag_wins->config.mode, Mode::kDetect);
  auto bad_file = dir.Write("bad.yaml", "log_level: info\nmode: stop\n");
  auto refused = Parse({"--config", bad_file});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), bad_file + ":2: mode must be detect or prevent, not 'stop'");
}

TEST(CommandLine, RepeatableFlagsKeepTheirOrder) {
  auto cl = Parse(
      {"--rules", "r2", "--cgroup", "/b", "--rules", "r1", "--cgroup", "/a", "--rules", "r3"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->config.rules_dirs, (std::vector<std::string>{"r2", "r1", "r3"}));
  EXPECT_EQ(cl->config.cgroups, (std::vector<std::string>{"/b", "/a"}));
}

TEST(CommandLine, LastOccurrenceOfASingleValueFlagWins) {
  auto cl = Parse({"--log-level", "debug", "--alerts-file=x", "--log-level", "warn"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->config.log_level, "warn");
  EXPECT_EQ(cl->config.alerts_file, "x");
}

TEST(CommandLine, DefaultsWithoutFlags) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kRun);
  EXPECT_EQ(cl->config.rules_dirs, DefaultRulesDirs());
  EXPECT_TRUE(cl->config.cgroups.empty());
  EXPECT_EQ(cl->config.alerts_file, "-");
  EXPECT_EQ(cl->config.log_level, "info");
}

TEST(CommandLine, FlagsOverrideConfigFileWhateverTheirOrder) {
  testing::TempDir dir;
  auto yaml = dir.Write("agent.yaml",
                        "rules: [file-r1, file-r2]\ncgroups: "
                        "[/file-cg]\nalerts_file: file.jsonl\n"
                        "log_level: error\nstats_file: file-stats.json\n"
                        "collector:\n  address: file:1\n");
  // --config comes last: the file is still read first and the flags land on top of it.
  auto cl = Parse({"--cgroup", "/flag-cg", "--alerts-file", "flag.jsonl", "--collector", "flag:2",
                   "--config", yaml});
  ASSERT_TRUE(cl.ok()) << cl.message();
  const AgentConfig& c = cl->config;
  EXPECT_EQ(c.cgroups, std::vector<std::string>{"/flag-cg"});  // replaced, not appended
  EXPECT_EQ(c.alerts_file, "flag.jsonl");
  EXPECT_EQ(c.collector.address, "flag:2");
  EXPECT_EQ(c.rules_dirs, (std::vector<std::string>{"file-r1", "file-r2"}));  // no --rules
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.stats_file, "file-stats.json");

  cl = Parse({"--config", yaml, "--rules", "flag-r"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->config.rules_dirs, std::vector<std::string>{"flag-r"});
}

TEST(CommandLine, BrokenConfigFileNamesFileAndLine) {
  testing::TempDir dir;
  auto yaml = dir.Write("agent.yaml", "alerts_file: x\nalert_file: y\n");
  auto cl = Parse({"--config", yaml, "--check"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), yaml + ":2: unknown setting 'alert_file'");
}

TEST(CommandLine, CheckAndVersionTheLaterWins) {
  auto cl = Parse({"--check"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kCheck);
  cl = Parse({"--check", "--version"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kVersion);
  cl = Parse({"--version", "--check"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kCheck);
}

TEST(CommandLine, HelpListsEveryFlagAndTheScanCommand) {
  for (const char* flag : {"--help", "-h"}) {
    auto cl = Parse({"--log-level", "debug", flag});
    ASSERT_TRUE(cl.ok()) << cl.message();
    EXPECT_EQ(cl->command, Command::kHelp);
    EXPECT_EQ(cl->help_text, UsageText());
  }
  const std::string help = UsageText();
  std::vector<std::string> listed = kValueFlags;
  listed.insert(listed.end(),
                {"--check", "--version", "--metrics-allow-remote", "--no-exec-hold", "--help",
                 "scan"});
  for (const auto& flag : listed) {
    EXPECT_NE(help.find(flag + " "), std::string::npos) << flag << " missing from:\n" << help;
  }
  EXPECT_NE(help.find("--collector HOST:PORT"), std::string::npos) << help;
}

TEST(CommandLine, NoExecHoldTurnsTheHoldOff) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_TRUE(cl->config.exec_hold);
  cl = Parse({"--no-exec-hold"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_FALSE(cl->config.exec_hold);
}

TEST(CommandLine, ScanHasItsOwnHelp) {
  auto cl = Parse({"scan", "--help"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kHelp);
  EXPECT_NE(cl->help_text, UsageText());
  for (const char* text : {"credsentry-agent scan", "PATH", "--rules DIR", "--fingerprint-key"}) {
    EXPECT_NE(cl->help_text.find(text), std::string::npos) << text << " in:\n" << cl->help_text;
  }
  EXPECT_EQ(cl->help_text.find("--cgroup"), std::string::npos) << cl->help_text;
}

TEST(CommandLine, UnknownOptionIsNamed) {
  auto cl = Parse({"--cgroup", "/a", "--bogus"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "unknown option '--bogus' (see --help)");
  cl = Parse({"stray"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "unknown argument 'stray' (see --help)");
  cl = Parse({"scan", "--bogus", "file"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "scan: unknown option '--bogus' (see credsentry-agent scan --help)");
}

TEST(CommandLine, EveryValueFlagSaysItNeedsAValue) {
  for (const auto& flag : kValueFlags) {
    auto cl = Parse({flag});
    ASSERT_FALSE(cl.ok()) << flag;
    EXPECT_EQ(cl.message(), flag + " needs a value");
  }
  auto cl = Parse({"scan", "a", "--rules"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "--rules needs a value");
}

TEST(CommandLine, ScanTakesRulesKeyAndPathsInOrder) {
  auto cl = Parse(
      {"scan", "--rules", "r1", "a.env", "--fingerprint-key", "fp.key", "-", "--rules", "r2"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->command, Command::kScan);
  EXPECT_EQ(cl->scan_paths, (std::vector<std::string>{"a.env", "-"}));
  EXPECT_EQ(cl->config.rules_dirs, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(cl->config.fingerprint_key_file, "fp.key");

  cl = Parse({"scan", "--", "-odd-name"});
  ASSERT_TRUE(cl.ok()) << cl.message();
  EXPECT_EQ(cl->scan_paths, std::vector<std::string>{"-odd-name"});
  EXPECT_EQ(cl->config.rules_dirs, DefaultRulesDirs());
}

TEST(CommandLine, ScanNeedsAPathAndRejectsDaemonFlags) {
  auto cl = Parse({"scan", "--rules", "r"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.message(), "scan: give at least one PATH, or - for stdin");
  cl = Parse({"--cgroup", "/a", "scan", "file"});
  ASSERT_FALSE(cl.ok());
  EXPECT_NE(cl.message().find("--cgroup does not apply to scan"), std::string::npos)
      << cl.message();
  cl = Parse({"scan", "--cgroup", "/a", "file"});
  ASSERT_FALSE(cl.ok());
  EXPECT_NE(cl.message().find("'--cgroup'"), std::string::npos) << cl.message();
}

TEST(MetricsFlags, OffByDefault) {
  auto cl = Parse({"--config", "/dev/null"});
  ASSERT_TRUE(cl) << cl.message();
  EXPECT_EQ(cl->config.metrics_listen, "");
  EXPECT_FALSE(cl->config.metrics_allow_remote);
}

TEST(MetricsFlags, TakesALoopbackAddress) {
  auto cl = Parse({"--config", "/dev/null", "--metrics-listen", "127.0.0.1:9464"});
  ASSERT_TRUE(cl) << cl.message();
  EXPECT_EQ(cl->config.metrics_listen, "127.0.0.1:9464");
}

TEST(MetricsFlags, RefusesARemoteAddressAndSaysHowToAllowIt) {
  auto cl = Parse({"--config", "/dev/null", "--metrics-listen", "0.0.0.0:9464"});
  ASSERT_FALSE(cl);
  EXPECT_NE(cl.message().find("--metrics-listen '0.0.0.0:9464' is not a loopback address"),
            std::string::npos)
      << cl.message();
  EXPECT_NE(cl.message().find("--metrics-allow-remote"), std::string::npos) << cl.message();
  cl = Parse({"--config", "/dev/null", "--metrics-listen", "0.0.0.0:9464",
              "--metrics-allow-remote"});
  ASSERT_TRUE(cl) << cl.message();
  EXPECT_TRUE(cl->config.metrics_allow_remote);
}

TEST(MetricsFlags, AgentYamlKeys) {
  testing::TempDir dir;
  auto path = dir.Write("agent.yaml", "metrics_listen: 10.0.0.5:9464\nmetrics_allow_remote: true\n");
  auto cl = Parse({"--config", path});
  ASSERT_TRUE(cl) << cl.message();
  EXPECT_EQ(cl->config.metrics_listen, "10.0.0.5:9464");
  EXPECT_TRUE(cl->config.metrics_allow_remote);
  auto bad = dir.Write("bad.yaml", "metrics_listen: 10.0.0.5:9464\n");
  EXPECT_FALSE(Parse({"--config", bad}));
  EXPECT_FALSE(Parse({"--config", path, "--metrics-listen", "127.0.0.1:http"}));
}

}  // namespace
}  // namespace credsentry::config
