// `scan` as users see it: JSON lines with kind, path, line, preview and fingerprint, never the
// value; exit codes 0 (clean), 1 (found), 2 (could not scan).
#include "scan/scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../config/temp_dir.h"
#include "../match/synthetic_keys.h"

namespace credsentry::scan {
namespace {

using ::testing::HasSubstr;
using testing::KeyGenerator;
using testing::TempDir;

const match::MatcherDatabase& Db() {
  static auto db = [] {
    auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
    EXPECT_TRUE(rules.ok()) << rules.message();
    return *match::MatcherDatabase::Compile(std::move(*rules));
  }();
  return *db;
}

std::vector<nlohmann::json> Lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(RunScan, FindsKeysInATreeWithPathLinePreviewAndFingerprint) {
  KeyGenerator gen;
  TempDir dir;
  auto openai = gen.Make("openai-project-key");
  auto aws = gen.Make("aws-secret-access-key");
  std::string env =
      dir.Write("app/.env", "# settings\nDEBUG=1\nOPENAI_API_KEY=" + openai.text + "\n");
  std::string creds =
      dir.Write("home/.aws/credentials",
                "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n" + aws.text + "\n");
  dir.Write("clean/readme.txt", "nothing to see " + gen.Hex(40) + "\n");
  report::Fingerprinter fp(std::string(32, 'k'));
  std::ostringstream out, err;
  ScanSummary summary;
  int rc = RunScan({dir.path()}, Db(), fp, out, err, {}, &summary);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(summary.files, 3u);
  EXPECT_EQ(out.str().find(openai.value), std::string::npos) << "raw key in scan output";
  EXPECT_EQ(out.str().find(aws.value), std::string::npos) << "raw key in scan output";
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  std::map<std::string, nlohmann::json> by_kind;
  for (const auto& j : lines) by_kind[j["kind"]] = j;
  auto& o = by_kind["openai-project-key"];
  EXPECT_EQ(o["path"], env);
  EXPECT_EQ(o["line"], 3);
  EXPECT_EQ(o["provider"], "openai");
  EXPECT_EQ(o["redacted"],
            openai.value.substr(0, 8) + "\u2026" + openai.value.substr(openai.value.size() - 4));
  EXPECT_EQ(o["fingerprint"], fp.Of(openai.value));
  auto& a = by_kind["aws-secret-access-key"];
  EXPECT_EQ(a["path"], creds);
  EXPECT_EQ(a["line"], 3);
  EXPECT_EQ(a["severity"], "critical");
}

// The kinds added with the grown catalogue, as they sit in the files that store them: one
// finding each, with its kind, and never the value in the output.
TEST(RunScan, FindsTheNewerKindsInTheirStores) {
  KeyGenerator gen;
  TempDir dir;
  std::map<std::string, std::string> expect;  // kind -> value
  std::string all;
  for (const std::string kind :
       {"azure-openai-key", "azure-entra-client-secret", "wandb-api-key", "wandb-v1-api-key",
        "aws-bedrock-api-key", "gcp-oauth-refresh-token", "kubernetes-service-account-token",
        "docker-hub-access-token", "docker-config-auth", "pinecone-api-key", "together-api-key",
        "fireworks-api-key", "mistral-api-key", "cohere-api-key", "deepseek-api-key",
        "gitlab-runner-token", "gitlab-ci-job-token", "github-installation-token-jwt"}) {
    auto key = gen.Make(kind);
    expect[kind] = key.value;
    all += "\n" + key.text + "\n";
  }
  auto routable = gen.GitlabRoutable();
  expect["gitlab-personal-access-token"] = routable;
  all += "GITLAB_TOKEN=" + routable + "\n";
  dir.Write("stores/mixed.env", all);
  std::ostringstream out, err;
  EXPECT_EQ(RunScan({dir.path()}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err), 1);
  std::map<std::string, int> kinds;
  for (const auto& j : Lines(out.str())) ++kinds[j["kind"].get<std::string>()];
  for (const auto& [kind, value] : expect) {
    EXPECT_EQ(kinds[kind], 1) << kind;
    EXPECT_EQ(out.str().find(value), std::string::npos) << "raw " << kind << " in scan output";
  }
}

TEST(RunScan, LineNumbersHoldAcrossReadChunks) {
  KeyGenerator gen;
  TempDir dir;
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "line of filler text number " + std::to_string(i) + "\n";
  auto key = gen.Make("github-classic-token");
  // Put the key across the 64 KiB read boundary.
  std::string text = body.substr(0, 65536 - 10);
  size_t line = std::count(text.begin(), text.end(), '\n') + 1;
  text += " " + key.text + "\n" + body;
  std::string path = dir.Write("big.txt", text);
  std::ostringstream out, err;
  EXPECT_EQ(RunScan({path}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err), 1);
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["line"], line);
}

TEST(RunScan, DashReadsStdin) {
  KeyGenerator gen;
  auto key = gen.Make("anthropic-api-key");
  std::string text = "header\nx-api-key: " + key.text + "\n";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fds[1]);
  int saved = dup(STDIN_FILENO);
  dup2(fds[0], STDIN_FILENO);
  close(fds[0]);
  std::ostringstream out, err;
  int rc = RunScan({"-"}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err);
  dup2(saved, STDIN_FILENO);
  close(saved);
  EXPECT_EQ(rc, 1);
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["path"], "-");
  EXPECT_EQ(lines[0]["line"], 2);
  EXPECT_EQ(lines[0]["kind"], "anthropic-api-key");
}

TEST(RunScan, CleanTreeExitsZero) {
  TempDir dir;
  KeyGenerator gen;
  dir.Write("a.txt", "sha " + gen.Hex(64) + "\nuuid 123e4567-e89b-12d3-a456-426614174000\n");
  std::ostringstream out, err;
  EXPECT_EQ(RunScan({dir.path()}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err), 0);
  EXPECT_EQ(out.str(), "");
}

TEST(RunScan, MissingPathExitsTwoAndSaysWhich) {
  std::ostringstream out, err;
  EXPECT_EQ(RunScan({"/nonexistent/credsentry-scan"}, Db(),
                    report::Fingerprinter(std::string(32, 'k')), out, err),
            2);
  EXPECT_THAT(err.str(), HasSubstr("/nonexistent/credsentry-scan"));
}

// What one scan reported, so a scan run in a child process can be checked by the parent.
struct ScanOutcome {
  int rc = -1;
  uint64_t skipped = 0;
  std::string err;
};

ScanOutcome ScanTree(const std::string& path) {
  std::ostringstream out, err;
  ScanSummary s;
  ScanOutcome o;
  o.rc = RunScan({path}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err, {}, &s);
  o.skipped = s.skipped;
  o.err = err.str();
  return o;
}

// Root reads mode-000 files, so as root (CI) the scan runs in a child that became `nobody`.
ScanOutcome ScanTreeAsNobody(const std::string& path) {
  Db();  // compiled before the fork: the child only scans
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    ScanOutcome o = ScanTree(path);
    std::string report = std::to_string(o.rc) + "\n" + std::to_string(o.skipped) + "\n" + o.err;
    ssize_t ignored = write(fds[1], report.data(), report.size());
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ScanOutcome o;
  std::istringstream in(report);
  std::string rc, skipped;
  if (!std::getline(in, rc) || !std::getline(in, skipped)) return o;
  o.rc = std::stoi(rc);
  o.skipped = std::stoull(skipped);
  o.err.assign(std::istreambuf_iterator<char>(in), {});
  return o;
}

TEST(RunScan, UnreadableFilesInATreeAreSkippedWithAMessage) {
  TempDir dir;
  std::string locked = dir.Write("locked.txt", "x");
  chmod(locked.c_str(), 0);
  chmod(dir.path().c_str(), 0755);  // the tree itself stays readable to the scanning user
  ScanOutcome o = geteuid() == 0 ? ScanTreeAsNobody(dir.path()) : ScanTree(dir.path());
  EXPECT_EQ(o.rc, 0);
  EXPECT_THAT(o.err, HasSubstr(locked));
  EXPECT_EQ(o.skipped, 1u);
}

TEST(RunScan, FileLimitStopsEarlyAndSaysSo) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) dir.Write("f" + std::to_string(i), "x");
  std::ostringstream out, err;
  ScanSummary s;
  ScanLimits limits;
  limits.max_files = 2;
  RunScan({dir.path()}, Db(), report::Fingerprinter(std::string(32, 'k')), out, err, limits, &s);
  EXPECT_EQ(s.files, 2u);
  EXPECT_TRUE(s.truncated);
  EXPECT_THAT(err.str(), HasSubstr("limit reached"));
}

}  // namespace
}  // namespace credsentry::scan
