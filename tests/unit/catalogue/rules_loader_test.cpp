// Every class of rule error must name file:line and what is wrong: a typo in a drop-in must
// fail loudly, never be ignored.
#include <gmock/gmock.h>
#include <algorithm>
#include <gtest/gtest.h>

#include "catalogue/rules.h"
#include "../config/temp_dir.h"

namespace credsentry::catalogue {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kGoodKind = R"(version: 1
credentials:
  - id: demo-key
    provider: demo
    name: Demo key
    severity: high
    pattern: 'demo_[a-z0-9]{20}'
    charset: 'a-z0-9_'
    destinations: ['api.demo.example']
)";

// Loads one file named rules.yaml with `text` and returns the error message ("" on success).
std::string LoadError(const std::string& text, std::string* file = nullptr) {
  TempDir dir;
  std::string path = dir.Write("rules.yaml", text);
  if (file) *file = path;
  auto r = LoadRules({dir.path()});
  return r.ok() ? "" : r.message();
}

std::string KindWith(const std::string& extra_lines, const std::string& replace_from = "",
                     const std::string& replace_to = "") {
  std::string text = kGoodKind;
  if (!replace_from.empty()) text.replace(text.find(replace_from), replace_from.size(), replace_to);
  return text + extra_lines;
}

TEST(LoadRules, ShippedRulesLoad) {
  auto r = LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_NE(r->FindKind("openai-project-key"), nullptr);
  EXPECT_TRUE(r->FindKind("aws-secret-access-key")->never_sent);
  EXPECT_FALSE(r->files.empty());
  EXPECT_EQ(r->digest.rfind("sha256:", 0), 0u);
  EXPECT_EQ(r->digest.size(), 7u + 16u);
}

TEST(LoadRules, GoodFileGivesTheKindWithItsSource) {
  TempDir dir;
  std::string path = dir.Write("a.yaml", kGoodKind);
  auto r = LoadRules({dir.path()});
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->kinds.size(), 1u);
  EXPECT_EQ(r->kinds[0].id, "demo-key");
  EXPECT_EQ(r->kinds[0].source_file, path);
  EXPECT_EQ(r->kinds[0].source_line, 3);
  EXPECT_EQ(r->kinds[0].preview_prefix, 4u);
}

TEST(LoadRules, YamlSyntaxErrorNamesFileAndLine) {
  std::string file;
  auto msg = LoadError("version: 1\ncredentials:\n  - id: [unclosed\n", &file);
  EXPECT_THAT(msg, HasSubstr(file + ":"));
  EXPECT_THAT(msg, HasSubstr("YAML syntax error"));
}

TEST(LoadRules, UnknownFieldIsAnErrorWithItsLine) {
  std::string file;
  auto msg = LoadError(
      KindWith("", "    severity: high\n", "    severity: high\n    destination: []\n"), &file);
  EXPECT_THAT(msg, HasSubstr(file + ":7: unknown field 'destination' in credential 'demo-key'"));
}

TEST(LoadRules, UnknownTopLevelField) {
  EXPECT_THAT(LoadError("version: 1\ncredential:\n  - id: x\n"),
              HasSubstr(":2: unknown field 'credential' in rule file"));
}

TEST(LoadRules, MissingRequiredField) {
  EXPECT_THAT(LoadError(KindWith("", "    pattern: 'demo_[a-z0-9]{20}'\n", "")),
              HasSubstr(":3: credential 'demo-key' is missing required field 'pattern'"));
  EXPECT_THAT(LoadError("credentials: []\n"), HasSubstr("missing required field 'version'"));
}

TEST(LoadRules, BadSeverity) {
  EXPECT_THAT(LoadError(KindWith("", "severity: high", "severity: severe")),
              HasSubstr(":6: severity 'severe' is not one of low, medium, high, critical"));
}

TEST(LoadRules, DuplicateIdInOneDirectoryNamesBothPlaces) {
  TempDir dir;
  std::string a = dir.Write("a.yaml", kGoodKind);
  std::string b = dir.Write("b.yaml", kGoodKind);
  auto r = LoadRules({dir.path()});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr(b + ":3: duplicate credential id 'demo-key'"));
  EXPECT_THAT(r.message(), HasSubstr("first defined at " + a + ":3"));
}

TEST(LoadRules, BadGlob) {
  EXPECT_THAT(LoadError(KindWith("", "['api.demo.example']", "['api.*.example']")),
              HasSubstr(":9: bad destination glob 'api.*.example'"));
  EXPECT_THAT(LoadError(KindWith("", "['api.demo.example']", "['https://x.example/']")),
              HasSubstr("bad destination glob"));
}

TEST(LoadRules, PatternHyperscanCannotCompileNamesTheRule) {
  auto msg = LoadError(KindWith("", "'demo_[a-z0-9]{20}'", "'demo_(?<=x)[a-z]{3}'"));
  EXPECT_THAT(msg, HasSubstr(":7: pattern of 'demo-key' does not compile with Hyperscan"));
  EXPECT_THAT(LoadError(KindWith("", "'demo_[a-z0-9]{20}'", "'demo_([a-z'")),
              HasSubstr("pattern of 'demo-key' does not compile"));
}

TEST(LoadRules, UnknownValidator) {
  EXPECT_THAT(LoadError(KindWith("    validate: [crc-32]\n")),
              HasSubstr(":10: unknown validator 'crc-32' (known: openai-marker"));
}

TEST(LoadRules, BadBoundary) {
  EXPECT_THAT(LoadError(KindWith("    boundary: left\n")),
              HasSubstr(":10: boundary 'left' is not one of both, end"));
}

TEST(LoadRules, BadCharset) {
  EXPECT_THAT(LoadError(KindWith("", "'a-z0-9_'", "'z-a'")), HasSubstr(":8: bad charset"));
}

TEST(LoadRules, NeverSentAndDestinationsExcludeEachOther) {
  EXPECT_THAT(LoadError(KindWith("    never_sent: true\n")),
              HasSubstr("has both never_sent and destinations"));
  EXPECT_THAT(LoadError(KindWith("", "    destinations: ['api.demo.example']\n", "")),
              HasSubstr("needs destinations (or never_sent: true)"));
}

TEST(LoadRules, BadCredentialFileEntries) {
  std::string base = std::string(kGoodKind) + "credential_files:\n";
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['.aws/credentials']\n"),
              HasSubstr(":12: path '.aws/credentials' must start with ~/ or /"));
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['~/*/credentials']\n"),
              HasSubstr("wildcards only in its last component"));
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['~/.x']\n    kinds: [nope]\n"),
              HasSubstr(":11: credential file 'f' names unknown kind 'nope'"));
}

TEST(LoadRules, MissingDirectoryAndNoKinds) {
  EXPECT_THAT(LoadRules({"/nonexistent/credsentry"}).message(),
              HasSubstr("rules directory /nonexistent/credsentry does not exist"));
  TempDir empty;
  EXPECT_THAT(LoadRules({empty.path()}).message(), HasSubstr("no credential kinds loaded"));
}

TEST(LoadRules, LaterDirectoryOverridesById) {
  TempDir shipped, dropin;
  shipped.Write("a.yaml", kGoodKind);
  std::string override_text = kGoodKind;
  override_text.replace(override_text.find("severity: high"), 14, "severity: low");
  dropin.Write("z.yaml", override_text);
  auto r = LoadRules({shipped.path(), dropin.path()});
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->kinds.size(), 1u);
  EXPECT_EQ(r->kinds[0].severity, alert::Severity::kLow);
  EXPECT_EQ(r->kinds[0].source_file, dropin.path() + "/z.yaml");
}

TEST(LoadRules, DropInCanDisableAKind) {
  TempDir shipped, dropin;
  shipped.Write("a.yaml", std::string(kGoodKind) + R"(  - id: other-key
    provider: demo
    name: Other
    pattern: 'other_[a-z]{20}'
    charset: 'a-z_'
    destinations: ['x.example']
)");
  dropin.Write("off.yaml", "version: 1\ncredentials:\n  - id: demo-key\n    enabled: false\n");
  auto r = LoadRules({shipped.path(), dropin.path()});
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->kinds.size(), 1u);
  EXPECT_EQ(r->kinds[0].id, "other-key");
}

TEST(LoadRules, SiteDestinationOverridesApplyByKindGlob) {
  TempDir shipped, dropin;
  shipped.Write("a.yaml", kGoodKind);
  dropin.Write(
      "gw.yaml",
      "version: 1\ndestinations:\n  - kinds: ['demo-*']\n    allow: ['llm-gw.corp.example']\n");
  auto r = LoadRules({shipped.path(), dropin.path()});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(DestinationAllowed(r->kinds[0], "LLM-GW.corp.example"));
  EXPECT_TRUE(DestinationAllowed(r->kinds[0], "api.demo.example"));
  EXPECT_FALSE(DestinationAllowed(r->kinds[0], "evil.example"));

  TempDir typo;
  typo.Write("gw.yaml",
             "version: 1\ndestinations:\n  - kinds: ['dmeo-*']\n    allow: ['gw.example']\n");
  EXPECT_THAT(LoadRules({shipped.path(), typo.path()}).message(),
              HasSubstr("gw.yaml:3: destinations override matches no credential kind"));
}


TEST(LoadRules, CredentialEnvNamesAreTheUnionSortedWithoutDuplicates) {
  auto r = LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
  ASSERT_TRUE(r.ok()) << r.message();
  const std::vector<std::string>& names = r->CredentialEnvNames();
  for (const char* n : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "CI_JOB_TOKEN", "WANDB_API_KEY",
                        "AZURE_CLIENT_SECRET", "ACTIONS_RUNTIME_TOKEN"}) {
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), n)) << n;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

TEST(LoadRules, CredentialEnvEntriesAreChecked) {
  EXPECT_THAT(LoadError(std::string(kGoodKind) + "credential_env: [GOOD_NAME, 'BAD-NAME']\n"),
              HasSubstr(":10: 'BAD-NAME' is not an environment variable name"));
  EXPECT_THAT(LoadError(std::string(kGoodKind) + "credential_env: 5\n"),
              HasSubstr("field 'credential_env' must be a list"));
  EXPECT_THAT(LoadError(KindWith("    env: ['1X']\n")),
              HasSubstr("'1X' is not an environment variable name"));
}

TEST(LoadRules, AnyDirectoryCredentialPaths) {
  std::string base = std::string(kGoodKind) + "credential_files:\n";
  TempDir dir;
  dir.Write("r.yaml", base + "  - id: git\n    paths: ['**/.git/config']\n");
  auto r = LoadRules({dir.path()});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['**/config']\n"),
              HasSubstr("**/ must be followed by exactly dir/name"));
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['**/a/b/c']\n"),
              HasSubstr("**/ must be followed by exactly dir/name"));
  EXPECT_THAT(LoadError(base + "  - id: f\n    paths: ['**/a/*.key']\n"),
              HasSubstr("without wildcards"));
}
TEST(LoadRules, AddressesAreDestinationsInAnyForm) {
  EXPECT_EQ(LoadError(KindWith("", "['api.demo.example']",
                               "['10.0.0.5', 'fd00:c5::5', '[::1]', '::ffff:10.0.0.6']")),
            "");
  EXPECT_THAT(LoadError(KindWith("", "['api.demo.example']", "['fd00:c5::5::1']")),
              HasSubstr("bad destination glob 'fd00:c5::5::1'"));
}

TEST(HostMatchesGlob, ExactAndWildcard) {
  EXPECT_TRUE(HostMatchesGlob("api.openai.com", "api.openai.com"));
  EXPECT_TRUE(HostMatchesGlob("API.OpenAI.com.", "api.openai.com"));
  EXPECT_FALSE(HostMatchesGlob("api.openai.com.evil.example", "api.openai.com"));
  EXPECT_TRUE(HostMatchesGlob("a.b.huggingface.co", "*.huggingface.co"));
  EXPECT_FALSE(HostMatchesGlob("huggingface.co", "*.huggingface.co"));
  EXPECT_FALSE(HostMatchesGlob("evilhuggingface.co", "*.huggingface.co"));
  EXPECT_FALSE(HostMatchesGlob("", "*.x"));
}

}  // namespace
}  // namespace credsentry::catalogue
