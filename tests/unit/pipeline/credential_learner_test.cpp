// What the learner keeps from credential-file reads and environments, from typed values alone:
// where each secret is stored, the literals every stream matches, and what no output may show.
#include "pipeline/credential_learner.h"

#include <gtest/gtest.h>

#include <string>

#include "../match/shipped_database.h"
#include "../match/synthetic_keys.h"

namespace credsentry::pipeline {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string OpenAiKey() {
  credsentry::testing::KeyGenerator keys;
  return "sk-proj-" + keys.Alnum(74) + "T3BlbkFJ" + keys.Alnum(74);
}

class CredentialLearnerTest : public ::testing::Test {
 protected:
  report::Fingerprinter fp_{"unit-test-key"};
  CredentialLearner learner_{16, credsentry::testing::ShippedMatcherDatabase(), fp_};
};

TEST_F(CredentialLearnerTest, AReadNamesItsFileAndReaderAndHidesTheValue) {
  const std::string key = OpenAiKey();
  learner_.OnOpen(300, 4, "/home/u/.config/openai/key");
  EXPECT_EQ(learner_.PathOf(300, 4), "/home/u/.config/openai/key");
  EXPECT_EQ(learner_.PathOf(300, 5), "");
  learner_.LearnFromRead(learner_.PathOf(300, 4), {300, "cat", 77},
                         Bytes("OPENAI_KEY=" + key + "\n"));

  const KnownSecret* known = learner_.Find(fp_.Of(key));
  ASSERT_NE(known, nullptr);
  EXPECT_EQ(known->path, "/home/u/.config/openai/key");
  EXPECT_EQ(known->reader.pid, 300u);
  EXPECT_EQ(known->reader.comm, "cat");
  EXPECT_EQ(known->reader.mono_ns, 77u);
  EXPECT_GT(learner_.known_values()->size(), 0u) << "the value is matched as a literal too";
  const std::string text = learner_.Redact("sent " + key + " away");
  EXPECT_EQ(text.find(key), std::string::npos) << text;
}

// A value no catalogue format matches is still learned from the file, and hidden.
TEST_F(CredentialLearnerTest, AnyValueOfACredentialFileIsLearned) {
  const std::string value = "Zq8" + credsentry::testing::KeyGenerator().Alnum(29);
  learner_.LearnFromRead("/etc/app/token", {301, "app", 1}, Bytes("token: " + value + "\n"));
  EXPECT_NE(learner_.Find(fp_.Of(value)), nullptr);
  EXPECT_EQ(learner_.Redact(value).find(value), std::string::npos);
}

TEST_F(CredentialLearnerTest, AProcessGoneForgetsItsOpenFiles) {
  learner_.OnOpen(302, 3, "/a");
  learner_.OnOpen(302, 7, "/b");
  learner_.OnOpen(303, 3, "/c");
  learner_.OnClose(302, 3);
  EXPECT_EQ(learner_.PathOf(302, 3), "");
  EXPECT_EQ(learner_.ForgetProcess(302), std::vector<int32_t>{7});
  EXPECT_EQ(learner_.PathOf(302, 7), "");
  EXPECT_EQ(learner_.PathOf(303, 3), "/c");
}

TEST_F(CredentialLearnerTest, AnEnvironmentVariableIsLearnedOnceAndNamesItsSource) {
  const std::string key = OpenAiKey();
  ASSERT_TRUE(learner_.CredentialEnvNames().contains("OPENAI_API_KEY"));
  EXPECT_TRUE(learner_.CredentialEnvNames().contains("AZURE_STORAGE_CONNECTION_STRING"))
      << "the rules' credential_env: names count too";
  learner_.LearnFromEnvironment("OPENAI_API_KEY", key, "python3", 304);
  learner_.LearnFromEnvironment("OPENAI_API_KEY", key, "python3", 305);  // every exec repeats it
  const KnownSecret* known = learner_.Find(fp_.Of(key));
  ASSERT_NE(known, nullptr);
  EXPECT_EQ(known->path, "environment variable OPENAI_API_KEY of python3 (pid 304)");
  EXPECT_EQ(known->reader.pid, 0u);
  std::map<std::string, uint64_t> counters;
  learner_.ExportCounters(counters);
  EXPECT_EQ(counters["secrets_learned_from_environments"], 1u);
  EXPECT_EQ(counters["known_secrets"], 1u);
  EXPECT_EQ(counters["known_values"], 1u) << "the catalogue kind lists the variable";
  EXPECT_EQ(counters["redaction_values"], 1u);
}

TEST_F(CredentialLearnerTest, KnownSecretsAreBounded) {
  CredentialLearner small(1, credsentry::testing::ShippedMatcherDatabase(), fp_);
  small.AddKnownSecret("hmac-sha256:1", "/a");
  small.AddKnownSecret("hmac-sha256:2", "/b");
  EXPECT_NE(small.Find("hmac-sha256:1"), nullptr);
  EXPECT_EQ(small.Find("hmac-sha256:2"), nullptr);
  std::map<std::string, uint64_t> counters;
  small.ExportCounters(counters);
  EXPECT_EQ(counters["known_secrets_dropped"], 1u);
}

// A full table refuses an environment's secret once: the next exec repeating it is not learned
// again (no second drop, no second literal offer), and nothing counts it as learned.
TEST_F(CredentialLearnerTest, AFullTableRefusesAnEnvironmentSecretOnce) {
  CredentialLearner small(1, credsentry::testing::ShippedMatcherDatabase(), fp_);
  ASSERT_TRUE(small.AddKnownSecret("hmac-sha256:1", "/a"));
  EXPECT_FALSE(small.AddKnownSecret("hmac-sha256:1", "/b")) << "known already: not added";
  const std::string key = OpenAiKey();
  small.LearnFromEnvironment("OPENAI_API_KEY", key, "python3", 306);
  small.LearnFromEnvironment("OPENAI_API_KEY", key, "python3", 307);
  EXPECT_EQ(small.Find(fp_.Of(key)), nullptr);
  std::map<std::string, uint64_t> counters;
  small.ExportCounters(counters);
  EXPECT_EQ(counters["secrets_learned_from_environments"], 0u);
  EXPECT_EQ(counters["known_secrets_dropped"], 1u);
  EXPECT_EQ(counters["known_values"], 1u) << "still matched as a literal";
  EXPECT_EQ(counters["known_values_already_known"], 0u) << "offered once";
  EXPECT_EQ(small.Redact(key).find(key), std::string::npos);
}

}  // namespace
}  // namespace credsentry::pipeline
