// A credential file may name where its secrets go, beside its kinds' destinations: a value of no
// known format read from it, and a process that read it, are then judged by the union.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catalogue/rules.h"
#include "../config/temp_dir.h"

namespace credsentry::catalogue {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kRules = R"(version: 1
credentials:
  - id: demo-key
    provider: demo
    name: Demo key
    pattern: 'demo_[a-z0-9]{20}'
    charset: 'a-z0-9_'
    destinations: ['api.demo.example', 'registry.demo.example']
credential_files:
  - id: demo-rc
    paths: ['~/.demorc']
    kinds: [demo-key]
)";

Result<RuleSet> Load(const std::string& file_lines) {
  TempDir dir;
  dir.Write("rules.yaml", std::string(kRules) + file_lines);
  return LoadRules({dir.path()});
}

TEST(CredentialFileDestinations, AreTheFilesOwnThenItsKindsWithoutDuplicates) {
  auto r = Load("    destinations: ['registry.demo.example', '*.mirror.example']\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_THAT(r->files[0].destinations, ElementsAre("registry.demo.example", "*.mirror.example"));
  EXPECT_THAT(r->ExpectedDestinations(r->files[0]),
              ElementsAre("registry.demo.example", "*.mirror.example", "api.demo.example"));
}

TEST(CredentialFileDestinations, WithoutAnyTheKindsAloneCount) {
  auto r = Load("");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_THAT(r->ExpectedDestinations(r->files[0]),
              ElementsAre("api.demo.example", "registry.demo.example"));
}

TEST(CredentialFileDestinations, ABadGlobNamesFileAndLine) {
  auto r = Load("    destinations: ['registry.demo.example', 'evil*.example']\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("rules.yaml:13: bad destination glob 'evil*.example'"));
}

TEST(CredentialFileDestinations, EveryShippedFileWithSendableSecretsHasSome) {
  auto r = LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
  ASSERT_TRUE(r.ok()) << r.message();
  for (const char* id : {"npmrc", "git-credentials", "aws-credentials", "docker-config", "pypirc"}) {
    auto f = std::find_if(r->files.begin(), r->files.end(),
                          [&](const CredentialFile& x) { return x.id == id; });
    ASSERT_NE(f, r->files.end()) << id;
    EXPECT_FALSE(r->ExpectedDestinations(*f).empty()) << id;
  }
}

}  // namespace
}  // namespace credsentry::catalogue
