#include "catalogue/validators.h"

#include <gtest/gtest.h>

#include "../match/synthetic_keys.h"

namespace credsentry::catalogue {
namespace {

TEST(Validators, KnownNamesResolveUnknownDoNot) {
  for (const auto& name : ValidatorNames()) EXPECT_NE(FindValidator(name), nullptr) << name;
  EXPECT_EQ(FindValidator("crc-32"), nullptr);
}

TEST(Validators, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);  // CRC-32/ISO-HDLC check value
}

TEST(Validators, GithubChecksumAcceptsGeneratedAndRejectsAlteredTokens) {
  testing::KeyGenerator gen;
  auto check = FindValidator("github-checksum");
  for (int i = 0; i < 100; ++i) {
    std::string token = gen.Make("github-classic-token").value;
    EXPECT_TRUE(check(token));
    std::string altered = token;
    altered[10] = altered[10] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(check(altered));
  }
  EXPECT_EQ(GithubChecksum("").size(), 6u);
  EXPECT_FALSE(check("ghp_short"));
}

TEST(Validators, OpenAiMarkerNeedsTheMarkerBetweenTwoHalves) {
  auto check = FindValidator("openai-marker");
  std::string half(20, 'a');
  EXPECT_TRUE(check("sk-" + half + "T3BlbkFJ" + half));
  EXPECT_FALSE(check("sk-" + half + half + "aaaaaaaa"));
}

TEST(Validators, AwsKeyIdAlphabetAndDocsExample) {
  auto check = FindValidator("aws-key-id");
  EXPECT_TRUE(check("AKIAQWERTYUIOPASDF23"));
  EXPECT_FALSE(check("AKIAIOSFODNN7EXAMPLE"));
  EXPECT_FALSE(check("AKIAQWERTYUIOPASDF01"));  // 0 and 1 are not base32
  EXPECT_FALSE(check("AKIAQWERTY"));
}

TEST(Validators, EntropyRejectsPlaceholders) {
  auto check = FindValidator("entropy");
  testing::KeyGenerator gen;
  EXPECT_TRUE(check(gen.Hex(32)));
  EXPECT_FALSE(check(std::string(32, 'x')));
  EXPECT_FALSE(check("dapi0000000000000000000000000000000"));
}


TEST(Validators, RandomAlnumWantsDigitAndBothCases) {
  auto v = FindValidator("random-alnum");
  ASSERT_NE(v, nullptr);
  testing::KeyGenerator gen;
  EXPECT_TRUE(v("fw_" + gen.Alnum(10) + "7Qd" + gen.Alnum(11)));
  EXPECT_FALSE(v("fw_GetFirmwareVersionNumberFromDevice"));  // identifier: no digit
  EXPECT_FALSE(v("fw_0123456789abcdef0123"));                 // no upper case
}

TEST(Validators, BasicAuthPairDecodesToUserColonSecret) {
  auto v = FindValidator("basic-auth-pair");
  ASSERT_NE(v, nullptr);
  testing::KeyGenerator gen;
  EXPECT_TRUE(v(testing::KeyGenerator::Base64Of("builder:" + gen.Alnum(24))));
  EXPECT_FALSE(v(testing::KeyGenerator::Base64Of("no colon here at all")));
  EXPECT_FALSE(v(testing::KeyGenerator::Base64Of(":" + gen.Alnum(10))));  // empty user
  EXPECT_FALSE(v(gen.Base64(40)));  // random base64 decodes to binary
  EXPECT_FALSE(v(testing::KeyGenerator::Base64Of("user:your_password")));  // placeholder
}

TEST(Validators, GithubActionsOidcIssuerReadsTheIssClaim) {
  auto v = FindValidator("github-actions-oidc-issuer");
  ASSERT_NE(v, nullptr);
  testing::KeyGenerator gen;
  EXPECT_TRUE(v(gen.GithubActionsOidcToken()));
  EXPECT_TRUE(v(gen.GithubActionsOidcToken("https://token.actions.githubusercontent.com/acme")));
  EXPECT_FALSE(v(gen.GithubActionsOidcToken("https://gitlab.example.com")));
  EXPECT_FALSE(v(gen.GithubActionsOidcToken("https://token.actions.githubusercontent.com.evil")));
  EXPECT_FALSE(v(gen.GithubActionsOidcToken("https://token.actions.githubusercontent.com/a/b")));
  // The host in another claim does not make the issuer.
  auto b64 = [](std::string_view s) { return testing::KeyGenerator::Base64UrlOf(s); };
  std::string sig = gen.Token(64);
  EXPECT_FALSE(v(b64("{\"alg\":\"RS256\"}") + "." +
                 b64("{\"aud\":\"https://token.actions.githubusercontent.com\",\"iss\":\"x\"}") +
                 "." + sig));
  // Spaces around the colon are still JSON.
  EXPECT_TRUE(v(b64("{\"alg\":\"RS256\"}") + "." +
                b64("{\"iss\" : \"https://token.actions.githubusercontent.com\"}") + "." + sig));
  EXPECT_FALSE(v("not.a-jwt"));
  EXPECT_FALSE(v(b64("{}") + "." + b64("{}") + "." + sig + "." + sig));  // four segments
  EXPECT_FALSE(v(b64("{}") + ".$$$$." + sig));                              // not base64url
}

}  // namespace
}  // namespace credsentry::catalogue
