// Base64 of key prefixes as literals: a key inside a base64 run that no decoder recognised (a
// JSON field, a made-up envelope) is found at all three byte alignments, in the standard and the
// url alphabet, split across writes, and inside double base64; random base64 finds nothing.
// Secrets are compared with EXPECT_TRUE(a == b) so a failure never prints a key.
#include "match/encoded_prefixes.h"

#include <gtest/gtest.h>

#include "catalogue/rules.h"
#include "match/matcher.h"
#include "shipped_database.h"
#include "synthetic_keys.h"

namespace credsentry::match {
namespace {

using testing::KeyGenerator;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<SecretMatch> Scan(const std::vector<std::string>& parts) {
  MatchStream s(testing::ShippedMatcherDatabase());
  std::vector<SecretMatch> out;
  auto on = [&](const SecretMatch& m) { out.push_back(m); };
  for (const auto& p : parts) s.Feed(Bytes(p), on);
  s.Close(on);
  return out;
}

TEST(LiteralPrefixes, LeadingLiteralsAndLiteralAlternatives) {
  EXPECT_EQ(LiteralPrefixes("sk-proj-[A-Za-z0-9_-]{20,200}T3BlbkFJ"),
            std::vector<std::string>{"sk-proj-"});
  EXPECT_EQ(LiteralPrefixes("(?:AKIA|ASIA)[A-Z2-7]{16}"),
            (std::vector<std::string>{"AKIA", "ASIA"}));
  EXPECT_EQ(LiteralPrefixes("(?:sk|rk)_live_[A-Za-z0-9]{24}"),
            (std::vector<std::string>{"sk_live_", "rk_live_"}));
  EXPECT_EQ(LiteralPrefixes("1//0[A-Za-z0-9_-]{40,}"), std::vector<std::string>{"1//0"});
  EXPECT_EQ(LiteralPrefixes("api\\.wandb\\.ai\\s"), std::vector<std::string>{"api.wandb.ai"});
  // An optional last character is not part of every match.
  EXPECT_EQ(LiteralPrefixes("abcd?e"), std::vector<std::string>{"abc"});
  EXPECT_TRUE(LiteralPrefixes("[A-Za-z]{3}Q~").empty());
  EXPECT_TRUE(LiteralPrefixes("(?i:mistral_?api)").empty());
  EXPECT_TRUE(LiteralPrefixes("(?:gl(?:dt|ft)-x|glptt-)").empty());
}

TEST(EncodedPrefixes, EveryAlignmentIsInsideTheBase64OfThePrefix) {
  KeyGenerator gen;
  auto prefixes = EncodedPrefixes({"ghp_[A-Za-z0-9]{36}"});
  ASSERT_GE(prefixes.size(), 6u);  // 3 alignments x 2 alphabets, then twice-encoded forms
  for (int lead = 0; lead < 3; ++lead) {
    std::string encoded = KeyGenerator::Base64Of(gen.Alnum(lead) + "ghp_" + gen.Alnum(36));
    bool found = false;
    for (const auto& p : prefixes) found |= encoded.find(p.literal) != std::string::npos;
    EXPECT_TRUE(found) << "alignment " << lead;
  }
}

// The kinds the issue names, each as the value of a JSON field the decoders do not know is
// base64, shifted through the three alignments.
TEST(MatchStream, KeyInsideUnrecognisedBase64IsFoundAtEveryAlignment) {
  KeyGenerator gen;
  for (const std::string kind :
       {"openai-project-key", "anthropic-api-key", "huggingface-token", "aws-access-key-id",
        "github-classic-token", "gitlab-personal-access-token", "pinecone-api-key",
        "docker-hub-access-token"}) {
    auto key = gen.Make(kind);
    for (int shift = 0; shift < 3; ++shift) {
      for (bool url : {false, true}) {
        std::string inner = std::string(shift, '#') + "{\"k\":\"" + key.text + "\"}";
        std::string body =
            "{\"blob\":\"" + KeyGenerator::Base64Of(inner, url, !url) + "\",\"n\":1}";
        auto found = Scan({body});
        ASSERT_EQ(found.size(), 1u) << kind << " shift " << shift << " url " << url;
        EXPECT_EQ(testing::ShippedMatcherDatabase()->rules().kinds[found[0].kind_index].id, kind);
        EXPECT_TRUE(found[0].value == key.value) << kind << " shift " << shift;
        EXPECT_EQ(found[0].decoding, std::vector<std::string>{"base64"});
      }
    }
  }
}

TEST(MatchStream, EncodedKeySplitAcrossWritesIsFound) {
  KeyGenerator gen;
  auto key = gen.Make("openai-project-key");
  std::string body = "data=" + KeyGenerator::Base64Of("=" + key.text + "\n") + "&more=1";
  for (size_t cut = 1; cut < body.size(); cut += 7) {
    auto found = Scan({body.substr(0, cut), body.substr(cut)});
    ASSERT_EQ(found.size(), 1u) << "split at " << cut;
    EXPECT_TRUE(found[0].value == key.value);
  }
}

TEST(MatchStream, DoubleBase64IsFoundAndDeeperIsNot) {
  KeyGenerator gen;
  auto key = gen.Make("anthropic-api-key");
  std::string once = KeyGenerator::Base64Of("{\"key\":\"" + key.text + "\"}");
  std::string twice = KeyGenerator::Base64Of("v=" + once + ";");
  auto found = Scan({"[" + twice + "]"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].value == key.value);
  EXPECT_EQ(found[0].decoding, (std::vector<std::string>{"base64", "base64"}));
  std::string thrice = KeyGenerator::Base64Of("w=" + twice + ";");
  EXPECT_TRUE(Scan({"[" + thrice + "]"}).empty()) << "depth is bounded at two";
}

TEST(MatchStream, RandomBase64AndEncodedLookalikesFindNothing) {
  KeyGenerator gen;
  std::string corpus;
  for (int i = 0; i < 50; ++i) {
    corpus += "\"img\":\"" + gen.Base64(20000) + "\"\n";
    corpus += KeyGenerator::Base64Of("sk-" + gen.Alnum(48) + " ghp_" + gen.Alnum(36)) + "\n";
    corpus += KeyGenerator::Base64Of("AKIAIOSFODNN7EXAMPLE hf_short") + "\n";
  }
  MatchStream s(testing::ShippedMatcherDatabase());
  std::vector<std::string> kinds;
  s.Feed(Bytes(corpus), [&](const SecretMatch& m) {
    kinds.push_back(testing::ShippedMatcherDatabase()->rules().kinds[m.kind_index].id);
  });
  s.Close([&](const SecretMatch& m) { kinds.push_back("at close"); });
  for (const auto& k : kinds) ADD_FAILURE() << "false positive of kind " << k;
  EXPECT_GT(s.counters().encoded_prefix_hits, 0u) << "the encoded lookalikes were looked at";
}

TEST(MatchStream, PendingDecodesAreBounded) {
  KeyGenerator gen;
  // Many prefix hits inside one unterminated run: at most kMaxPendingDecodes wait at once.
  std::string run;
  for (int i = 0; i < 200; ++i) run += KeyGenerator::Base64Of("ghp_ghp_ghp_");
  MatchStream s(testing::ShippedMatcherDatabase());
  s.Feed(Bytes(run.substr(0, 1000)), [](const SecretMatch&) {});
  EXPECT_LE(s.memory_bytes(),
            testing::ShippedMatcherDatabase()->stream_state_bytes() + 4 * MatchStream::kTailBytes + 64 * 1024);
  s.Close([](const SecretMatch&) {});
}

}  // namespace
}  // namespace credsentry::match
