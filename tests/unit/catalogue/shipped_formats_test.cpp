// The 2025-2026 credential formats and the older ones brought up to what providers issue, as the
// shipped catalogue sees them: each synthetic key is found with its kind and its whole value,
// raw and inside base64 nobody declared; it may go to its provider and not to anyone else; and
// lookalikes stay quiet. Keys are synthetic and compared with EXPECT_TRUE(a == b), so a failure
// never prints one.
#include <gtest/gtest.h>

#include <map>

#include "catalogue/rules.h"
#include "match/encoded_prefixes.h"
#include "match/matcher.h"
#include "../match/shipped_database.h"
#include "../match/synthetic_keys.h"

namespace credsentry::catalogue {
namespace {

using testing::KeyGenerator;
using testing::ShippedMatcherDatabase;

struct Found {
  std::string kind, value;
  std::vector<std::string> decoding;
};

std::vector<Found> Scan(std::string_view text) {
  auto db = ShippedMatcherDatabase();
  match::MatchStream stream(db);
  std::vector<Found> out;
  auto on = [&](const match::SecretMatch& m) {
    out.push_back({db->rules().kinds[m.kind_index].id, m.value, m.decoding});
  };
  stream.Feed({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, on);
  stream.Close(on);
  return out;
}

const CredentialKind& Kind(const std::string& id) {
  const CredentialKind* kind = ShippedMatcherDatabase()->rules().FindKind(id);
  if (kind == nullptr) ADD_FAILURE() << id << " is not shipped";
  static const CredentialKind kMissing;
  return kind ? *kind : kMissing;
}

// Each new or corrected kind with one host its provider serves it on.
const std::map<std::string, std::string>& KindsAndHosts() {
  static const std::map<std::string, std::string> kKinds = {
      {"anthropic-admin-key", "api.anthropic.com"},
      {"anthropic-oauth-token", "api.anthropic.com"},
      {"openai-admin-key", "api.openai.com"},
      {"wandb-v1-api-key", "api.wandb.ai"},
      {"nvidia-api-key", "integrate.api.nvidia.com"},
      {"cerebras-api-key", "api.cerebras.ai"},
      {"aws-bedrock-api-key", "bedrock-runtime.us-east-1.amazonaws.com"},
      {"github-fine-grained-token", "api.github.com"},
      {"github-actions-oidc-token", "sts.amazonaws.com"},
      {"elevenlabs-api-key", "api.elevenlabs.io"},
      {"perplexity-api-key", "api.perplexity.ai"},
      {"pypi-api-token", "upload.pypi.org"},
      {"gitlab-runner-token", "gitlab.com"},
      {"gitlab-ci-job-token", "gitlab.com"},
      {"gitlab-other-token", "gitlab.com"},
      {"gitlab-pipeline-trigger-token", "gitlab.com"},
      {"gitlab-runner-registration-token", "gitlab.com"},
      {"stripe-live-secret-key", "api.stripe.com"},
      {"fireworks-api-key", "api.fireworks.ai"},
      {"together-api-key", "api.together.xyz"},
      {"azure-ai-services-key", "myresource.cognitiveservices.azure.com"},
      {"vercel-ai-gateway-key", "ai-gateway.vercel.sh"},
      {"openrouter-api-key", "openrouter.ai"},
      {"replicate-api-token", "api.replicate.com"},
      {"langsmith-api-key", "api.smith.langchain.com"},
      {"pinecone-api-key", "api.pinecone.io"},
      {"deepseek-api-key", "api.deepseek.com"},
      {"xai-api-key", "api.x.ai"},
  };
  return kKinds;
}

// Kinds whose pattern opens with a literal prefix: the matcher searches base64 of it.
bool HasLiteralPrefix(const std::string& id) {
  return !match::LiteralPrefixes(Kind(id).pattern).empty();
}

// Exactly one finding of `kind` with `value` among those made at the depth `how` names (raw, or
// once decoded from base64): what a key carries inside it (the ASIA key id in a presigned URL)
// may be found one level deeper without counting here.
void ExpectFoundOnce(const std::string& text, const std::string& kind, const std::string& value,
                     const std::string& how) {
  std::vector<std::string> depth;
  if (how.find("base64") != std::string::npos) depth = {"base64"};
  std::vector<Found> found;
  for (auto& f : Scan(text)) {
    if (f.decoding == depth) found.push_back(std::move(f));
  }
  ASSERT_EQ(found.size(), 1u) << kind << " " << how;
  EXPECT_EQ(found[0].kind, kind) << how;
  EXPECT_TRUE(found[0].value == value) << kind << " " << how << ": extracted value differs";
}

TEST(ShippedFormats, EachIsFoundRawAndInsideUndeclaredBase64) {
  KeyGenerator gen;
  for (const auto& [kind, host] : KindsAndHosts()) {
    auto key = gen.Make(kind);
    ASSERT_FALSE(key.value.empty()) << kind << " has no synthetic key";
    ExpectFoundOnce("Authorization: Bearer " + key.text + "\r\n", kind, key.value, "raw");
    if (!HasLiteralPrefix(kind)) continue;
    for (int shift = 0; shift < 3; ++shift) {
      std::string inner = std::string(shift, '#') + "{\"k\":\"" + key.text + "\"}";
      ExpectFoundOnce("{\"blob\":\"" + KeyGenerator::Base64Of(inner) + "\"}", kind, key.value,
                      "in base64, shift " + std::to_string(shift));
    }
  }
}

// Base64 of a prefix-less kind is only found where a decoder unwraps it; the list is short and
// says so, so a new kind cannot lose base64 coverage silently.
TEST(ShippedFormats, OnlyShapeIdentifiedKindsLackALiteralPrefix) {
  std::vector<std::string> without;
  for (const auto& [kind, host] : KindsAndHosts()) {
    if (!HasLiteralPrefix(kind)) without.push_back(kind);
  }
  EXPECT_EQ(without, (std::vector<std::string>{"azure-ai-services-key", "deepseek-api-key"}));
}

TEST(ShippedFormats, EachMayGoToItsProviderAndNowhereElse) {
  for (const auto& [kind, host] : KindsAndHosts()) {
    EXPECT_TRUE(DestinationAllowed(Kind(kind), host)) << kind << " to " << host;
    EXPECT_FALSE(DestinationAllowed(Kind(kind), "collector.exfil.example")) << kind;
  }
}

// Issued xAI keys contain '_'; the catalogue once wanted 80 alphanumerics and missed them.
TEST(ShippedFormats, XaiKeysWithUnderscoresAreFoundRawAndInBase64) {
  KeyGenerator gen;
  std::string key = "xai-" + gen.Alnum(20) + "_" + gen.Alnum(30) + "_" + gen.Alnum(28);
  ExpectFoundOnce("XAI_API_KEY=" + key + "\n", "xai-api-key", key, "raw");
  ExpectFoundOnce("{\"blob\":\"" + KeyGenerator::Base64Of("{\"k\":\"" + key + "\"}") + "\"}",
                  "xai-api-key", key, "in base64");
}

TEST(ShippedFormats, RoutableGitlabTokensAreFoundInBothSuffixForms) {
  KeyGenerator gen;
  const std::vector<std::pair<std::string, std::string>> tokens = {
      {"gitlab-personal-access-token", gen.GitlabRoutable()},
      {"gitlab-personal-access-token", gen.GitlabRoutableUnversioned()},
      {"gitlab-runner-token", gen.GitlabRoutableUnversioned("glrt-t1_")},
      {"gitlab-other-token", gen.GitlabRoutableUnversioned("gldt-")},
      {"gitlab-other-token", gen.GitlabRoutableUnversioned("glsoat-")},
      {"gitlab-other-token", gen.GitlabRoutableUnversioned("glft-")},
  };
  for (const auto& [kind, token] : tokens) {
    ExpectFoundOnce("PRIVATE-TOKEN: " + token + "\r\n", kind, token, "raw");
    ExpectFoundOnce("x=" + KeyGenerator::Base64Of("\n" + token + "\n") + "&", kind, token,
                    "in base64");
  }
}

TEST(ShippedFormats, ShortTermBedrockKeysAreFound) {
  KeyGenerator gen;
  std::string key = gen.BedrockShortTerm();
  ExpectFoundOnce("AWS_BEARER_TOKEN_BEDROCK=" + key + "\n", "aws-bedrock-api-key", key, "raw");
  ExpectFoundOnce("env=" + KeyGenerator::Base64Of("AWS_BEARER_TOKEN_BEDROCK=" + key + "\n"),
                  "aws-bedrock-api-key", key, "in base64");
}

// The issuer, not the JWT shape, makes an Actions token: at every alignment of the iss claim it
// is found, and the same JWT from another issuer is not.
TEST(ShippedFormats, ActionsOidcTokensAreTheJwtsGithubActionsIssues) {
  KeyGenerator gen;
  for (size_t pad = 0; pad < 3; ++pad) {
    std::string token = gen.GithubActionsOidcToken("https://token.actions.githubusercontent.com",
                                                   pad);
    ExpectFoundOnce("Authorization: Bearer " + token + "\r\n", "github-actions-oidc-token", token,
                    "pad " + std::to_string(pad));
    std::string enterprise =
        gen.GithubActionsOidcToken("https://token.actions.githubusercontent.com/octo-corp", pad);
    ExpectFoundOnce("{\"token\":\"" + enterprise + "\"}", "github-actions-oidc-token", enterprise,
                    "enterprise issuer, pad " + std::to_string(pad));
    for (std::string other : {"https://gitlab.example.com",
                              "https://token.actions.githubusercontent.com.evil.example",
                              "https://evil.example/token.actions.githubusercontent.com"}) {
      auto found = Scan("Authorization: Bearer " + gen.GithubActionsOidcToken(other, pad));
      EXPECT_TRUE(found.empty()) << "issuer " << other << " pad " << pad;
    }
  }
}

TEST(ShippedFormats, LookalikesStayQuiet) {
  KeyGenerator gen;
  const std::vector<std::string> lookalikes = {
      "sk_" + gen.Hex(47),                                       // ElevenLabs one short
      "sk_" + gen.Hex(49),                                       // one long
      "csk-" + gen.Alnum(40),                                    // Cerebras too short
      "nvapi-" + gen.Token(40),                                  // NVIDIA too short
      "vck_" + gen.Token(30),                                    // Vercel too short
      gen.Alnum(84),                                             // 84 random, no signature
      gen.AzureAiServicesKey("AZDO"),                            // DevOps, not Cognitive Services
      "sk-ant-oat01-" + std::string(95, 'x'),                    // placeholder
      "GR1348941" + std::string(20, '0'),                        // placeholder
      "tgp_v1_" + gen.Token(30),                                 // Together too short
      gen.Hex(32),                                               // Azure classic key, no context
      "sk-" + gen.Hex(32),                                       // DeepSeek shape, no context
      "sha256=qaN-fw_" + gen.Alnum(10) + "7Qd" + gen.Alnum(20),  // fw_ inside a base64url digest
  };
  for (const auto& text : lookalikes) {
    auto found = Scan("value: " + text + "\n");
    for (const auto& f : found) ADD_FAILURE() << "lookalike reported as " << f.kind;
  }
}

TEST(ShippedFormats, AzureClassicKeysNeedTheirHeaderOrVariable) {
  KeyGenerator gen;
  std::string key = gen.Hex(32);
  ExpectFoundOnce("GET /x HTTP/1.1\r\nOcp-Apim-Subscription-Key: " + key + "\r\n",
                  "azure-openai-key", key, "Ocp-Apim-Subscription-Key header");
  ExpectFoundOnce("POST /x HTTP/1.1\r\napi-key: " + key + "\r\n", "azure-openai-key", key,
                  "api-key header");
}

}  // namespace
}  // namespace credsentry::catalogue
