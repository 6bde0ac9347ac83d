#include "state/environ.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace credsentry::state {
namespace {

std::string Synthetic(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36]);
  return s;
}

std::string Block(std::initializer_list<std::string> entries) {
  std::string out;
  for (const auto& e : entries) {
    out += e;
    out.push_back('\0');
  }
  return out;
}

TEST(Environment, NamesCredentialVariablesAndKeepsValuesApart) {
  const std::string key = "sk-" + Synthetic(40);
  const std::string aws = Synthetic(40);
  auto found = InspectEnvironment(
      Block({"PATH=/usr/bin", "OPENAI_API_KEY=" + key, "AWS_SECRET_ACCESS_KEY=" + aws, "HOME=/root",
             "GITHUB_TOKEN=", "OPENAI_API_KEY=second"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(found.credential_names,
            (std::vector<std::string>{"AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY"}));
  ASSERT_EQ(found.credential_values.size(), 2u);
  EXPECT_EQ(found.credential_values[0].second, key);  // the first of a repeated name wins
  EXPECT_EQ(found.credential_values[1].second, aws);
  EXPECT_TRUE(found.ci.empty());
}

TEST(Environment, ShortValuesAreNamedButNotLearned) {
  auto found = InspectEnvironment(Block({"HF_TOKEN=abc"}), BuiltinCredentialEnvNames());
  EXPECT_EQ(found.credential_names, std::vector<std::string>{"HF_TOKEN"});
  EXPECT_TRUE(found.credential_values.empty());
}

TEST(Environment, RulesNamesAreHonouredAndNamesAreBounded) {
  std::unordered_set<std::string> names;
  std::string block;
  for (size_t i = 0; i < kMaxCredentialNames + 5; ++i) {
    names.insert("K" + std::to_string(i));
    block += "K" + std::to_string(i) + "=" + Synthetic(12) + '\0';
  }
  auto found = InspectEnvironment(block, names);
  EXPECT_EQ(found.credential_names.size(), kMaxCredentialNames);
  EXPECT_TRUE(found.truncated);
}

TEST(Environment, MalformedEntriesAreIgnored) {
  auto found = InspectEnvironment(std::string("=x\0NOEQUALS\0\0OPENAI_API_KEY", 28),
                                  BuiltinCredentialEnvNames());
  EXPECT_TRUE(found.credential_names.empty());
}

TEST(Environment, GithubActionsJob) {
  auto found = InspectEnvironment(
      Block({"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/widgets", "GITHUB_WORKFLOW=release",
             "GITHUB_RUN_ID=4242", "GITHUB_JOB=publish"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(found.ci.provider, "github-actions");
  EXPECT_EQ(found.ci.repository, "acme/widgets");
  EXPECT_EQ(found.ci.workflow, "release");
  EXPECT_EQ(found.ci.run_id, "4242");
  EXPECT_EQ(found.ci.job, "publish");
}

TEST(Environment, GitlabJobAndNoJobWithoutTheMarker) {
  auto gitlab = InspectEnvironment(
      Block({"GITLAB_CI=true", "CI_PROJECT_PATH=acme/api", "CI_JOB_ID=77", "CI_PIPELINE_ID=9"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(gitlab.ci.provider, "gitlab-ci");
  EXPECT_EQ(gitlab.ci.repository, "acme/api");
  EXPECT_EQ(gitlab.ci.job, "77");
  EXPECT_EQ(gitlab.ci.run_id, "9");
  // GITHUB_* variables without GITHUB_ACTIONS=true are not a runner (anyone can set them).
  auto none =
      InspectEnvironment(Block({"GITHUB_REPOSITORY=acme/widgets"}), BuiltinCredentialEnvNames());
  EXPECT_TRUE(none.ci.empty());
}

TEST(Environment, ReadEnvironIsBoundedAndErrorsNameThePath) {
  auto root = std::filesystem::temp_directory_path() / ("cs-env-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "42");
  { std::ofstream(root / "42" / "environ") << std::string(100, 'x'); }
  auto whole = ReadEnviron(root.string(), 42, 100);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->bytes.size(), 100u);
  EXPECT_FALSE(whole->truncated);
  auto cut = ReadEnviron(root.string(), 42, 64);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->bytes.size(), 64u);
  EXPECT_TRUE(cut->truncated);
  auto missing = ReadEnviron(root.string(), 43);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("43/environ"), std::string::npos);
  std::filesystem::remove_all(root);
}

TEST(Environment, WipeClears) {
  std::string s = Synthetic(32);
  Wipe(s);
  EXPECT_TRUE(s.empty());
}

TEST(SystemdUnit, LastServiceOrScopeComponent) {
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/nginx.service"), "nginx.service");
  EXPECT_EQ(SystemdUnitFromCgroup("/user.slice/user-1000.slice/session-3.scope"),
            "session-3.scope");
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/docker-" + std::string(64, 'a') + ".scope"),
            "docker-" + std::string(64, 'a') + ".scope");
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/runner.service/job-1"), "runner.service");
  EXPECT_EQ(SystemdUnitFromCgroup("/credsentry-test/inner"), "");
  EXPECT_EQ(SystemdUnitFromCgroup(""), "");
}

}  // namespace
}  // namespace credsentry::state
