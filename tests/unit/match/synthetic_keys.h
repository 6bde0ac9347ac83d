// Format-valid, random, synthetic credentials for every shipped kind, generated at run time so
// no real key is ever in the tree. Shared by the matcher, catalogue and scan tests and the bench.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "catalogue/validators.h"

namespace credsentry::testing {

struct SyntheticKey {
  std::string kind;   // rule id
  std::string value;  // the secret
  std::string text;   // how it appears in data (value, or context + value)
};

class KeyGenerator {
 public:
  KeyGenerator() : rng_(std::random_device{}()) {}
  explicit KeyGenerator(uint64_t seed) : rng_(seed) {}

  std::string Chars(std::string_view alphabet, size_t n) {
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    std::string out;
    for (size_t i = 0; i < n; ++i) out += alphabet[pick(rng_)];
    return out;
  }
  std::string Alnum(size_t n) { return Chars(kAlnum, n); }
  std::string Token(size_t n) { return Chars(kToken, n); }
  std::string Hex(size_t n) { return Chars("0123456789abcdef", n); }
  std::string Base64(size_t n) { return Chars(kBase64, n); }
  std::string Base36(size_t n) { return Chars("0123456789abcdefghijklmnopqrstuvwxyz", n); }
  std::string Github(std::string_view prefix) {
    std::string random = Alnum(30);
    return std::string(prefix) + random + catalogue::GithubChecksum(random);
  }

  SyntheticKey Make(const std::string& kind) {
    auto plain = [&](std::string v) { return SyntheticKey{kind, v, v}; };
    if (kind == "openai-legacy-key") return plain("sk-" + Alnum(20) + "T3BlbkFJ" + Alnum(20));
    if (kind == "openai-project-key") return plain("sk-proj-" + Token(74) + "T3BlbkFJ" + Token(74));
    if (kind == "openai-service-account-key") {
      return plain("sk-svcacct-" + Token(58) + "T3BlbkFJ" + Token(58));
    }
    if (kind == "openai-admin-key") return plain("sk-admin-" + Token(58) + "T3BlbkFJ" + Token(58));
    if (kind == "anthropic-api-key") return plain("sk-ant-api03-" + Token(93) + "AA");
    if (kind == "anthropic-admin-key") return plain("sk-ant-admin01-" + Token(93) + "AA");
    if (kind == "anthropic-oauth-token") return plain("sk-ant-oat01-" + Token(95) + "AA");
    if (kind == "huggingface-token") return plain("hf_" + Chars(kLetters, 34));
    if (kind == "databricks-token") return plain("dapi" + Hex(32));
    if (kind == "google-api-key") return plain("AIza" + Token(35));
    if (kind == "aws-access-key-id")
      return plain("AKIA" + Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    if (kind == "aws-secret-access-key") {
      std::string v = Base64(40);
      return {kind, v, "aws_secret_access_key = " + v};
    }
    if (kind == "github-classic-token") return plain(Github("ghp_"));
    if (kind == "github-oauth-token") return plain(Github("gho_"));
    if (kind == "github-user-to-server-token") return plain(Github("ghu_"));
    if (kind == "github-server-to-server-token") return plain(Github("ghs_"));
    if (kind == "github-refresh-token") return plain(Github("ghr_"));
    if (kind == "github-fine-grained-token") {
      return plain("github_pat_" + Alnum(22) + "_" + Alnum(59));
    }
    if (kind == "groq-api-key") return plain("gsk_" + Alnum(52));
    if (kind == "xai-api-key") return plain("xai-" + Alnum(40) + "_" + Chars(kWord, 39));
    if (kind == "perplexity-api-key") return plain("pplx-" + Alnum(48));
    if (kind == "openrouter-api-key") return plain("sk-or-v1-" + Hex(64));
    if (kind == "replicate-api-token") return plain("r8_" + Token(37));
    if (kind == "langsmith-api-key") return plain("lsv2_pt_" + Hex(32) + "_" + Hex(10));
    if (kind == "gitlab-personal-access-token") return plain("glpat-" + Token(20));
    if (kind == "npm-access-token") return plain(Github("npm_"));
    if (kind == "pypi-api-token") return plain("pypi-AgEIcHlwaS5vcmc" + Token(160));
    if (kind == "slack-bot-token") {
      return plain("xoxb-" + Chars(kDigits, 12) + "-" + Chars(kDigits, 13) + "-" + Alnum(24));
    }
    if (kind == "slack-user-token") {
      return plain("xoxp-" + Chars(kDigits, 12) + "-" + Chars(kDigits, 12) + "-" +
                   Chars(kDigits, 13) + "-" + Hex(32));
    }
    if (kind == "stripe-live-secret-key") return plain("sk_live_" + Alnum(99));
    auto context = [&](const std::string& ctx, std::string v) {
      return SyntheticKey{kind, v, ctx + v};
    };
    if (kind == "azure-openai-key") return context("AZURE_OPENAI_API_KEY=", Hex(32));
    if (kind == "mistral-api-key") return context("MISTRAL_API_KEY=", Alnum(32));
    if (kind == "cohere-api-key") return context("COHERE_API_KEY=\"", Alnum(40));
    if (kind == "deepseek-api-key") return context("DEEPSEEK_API_KEY: ", "sk-" + Hex(32));
    if (kind == "together-api-key") return plain("tgp_v1_" + Token(43));
    // random-alnum wants a digit and both cases: make sure of them.
    if (kind == "fireworks-api-key") return plain("fw_" + Alnum(10) + "7Qd" + Alnum(11));
    if (kind == "pinecone-api-key") return plain("pcsk_" + Alnum(6) + "_" + Alnum(63));
    if (kind == "wandb-api-key") return context("WANDB_API_KEY=", Hex(40));
    if (kind == "wandb-v1-api-key") return plain("wandb_v1_" + Chars(kWord, 77));
    if (kind == "aws-bedrock-api-key") {
      return plain("ABSK" + Base64Of("BedrockAPIKey-" + Alnum(4) + "-at-" + Digits(12) + ":" +
                                     Base64(40)));
    }
    if (kind == "gcp-oauth-refresh-token") return plain("1//0" + Token(99));
    if (kind == "azure-entra-client-secret") {
      return plain(Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.", 3) +
                   Digits(1) + "Q~" + Chars(kToken, 16) + "." + Chars(kToken, 17));
    }
    if (kind == "kubernetes-service-account-token") return plain(KubernetesToken());
    if (kind == "kubeconfig-client-key") {
      return context("    client-key-data: ", Base64Of(Make("private-key").text));
    }
    if (kind == "gitlab-runner-token") return plain("glrt-" + Token(20));
    if (kind == "gitlab-ci-job-token") return plain("glcbt-" + Alnum(2) + "_" + Token(20));
    if (kind == "gitlab-other-token") return plain("gldt-" + Token(20));
    if (kind == "github-installation-token-jwt") {
      return plain("ghs_" + Digits(7) + "_" + Base64UrlOf("{\"typ\":\"JWT\",\"alg\":\"RS256\"}") +
                   "." + Base64UrlOf("{\"iss\":\"" + Digits(7) + "\",\"inst\":\"" + Alnum(30) + "\"}") +
                   "." + Token(342));
    }
    if (kind == "docker-hub-access-token") return plain("dckr_pat_" + Token(27));
    if (kind == "docker-config-auth") {
      return context("{\"auths\":{\"registry.example\":{\"auth\": \"",
                     Base64Of("builder:" + Alnum(24)));
    }
    if (kind == "nvidia-api-key") return plain("nvapi-" + Token(64));
    if (kind == "cerebras-api-key") return plain("csk-" + Chars(kLowerAlnum, 48));
    if (kind == "elevenlabs-api-key") return plain("sk_" + Hex(48));
    if (kind == "vercel-ai-gateway-key") return plain("vck_" + Token(56));
    if (kind == "azure-ai-services-key") return plain(AzureAiServicesKey());
    if (kind == "github-actions-oidc-token") return plain(GithubActionsOidcToken());
    if (kind == "gitlab-pipeline-trigger-token") return plain("glptt-" + Hex(40));
    if (kind == "gitlab-runner-registration-token") return plain("GR1348941" + Token(20));
    if (kind == "private-key") {
      std::string body;
      for (int line = 0; line < 25; ++line) body += "\n" + Base64(64);
      body += "\n" + Base64(20) + "==\n";
      return {kind, body, "-----BEGIN PRIVATE KEY-----" + body + "-----END PRIVATE KEY-----"};
    }
    return {kind, "", ""};
  }

  static std::vector<std::string> ShippedKinds() {
    return {"openai-legacy-key",
            "openai-project-key",
            "openai-service-account-key",
            "openai-admin-key",
            "anthropic-api-key",
            "anthropic-admin-key",
            "huggingface-token",
            "databricks-token",
            "google-api-key",
            "aws-access-key-id",
            "aws-secret-access-key",
            "github-classic-token",
            "github-oauth-token",
            "github-user-to-server-token",
            "github-server-to-server-token",
            "github-refresh-token",
            "github-fine-grained-token",
            "groq-api-key",
            "xai-api-key",
            "perplexity-api-key",
            "openrouter-api-key",
            "replicate-api-token",
            "langsmith-api-key",
            "gitlab-personal-access-token",
            "npm-access-token",
            "pypi-api-token",
            "slack-bot-token",
            "slack-user-token",
            "stripe-live-secret-key",
            "private-key",
            "azure-openai-key",
            "mistral-api-key",
            "cohere-api-key",
            "deepseek-api-key",
            "together-api-key",
            "fireworks-api-key",
            "pinecone-api-key",
            "wandb-api-key",
            "wandb-v1-api-key",
            "aws-bedrock-api-key",
            "gcp-oauth-refresh-token",
            "azure-entra-client-secret",
            "kubernetes-service-account-token",
            "kubeconfig-client-key",
            "gitlab-runner-token",
            "gitlab-ci-job-token",
            "gitlab-other-token",
            "github-installation-token-jwt",
            "docker-hub-access-token",
            "docker-config-auth",
            "anthropic-oauth-token",
            "nvidia-api-key",
            "cerebras-api-key",
            "elevenlabs-api-key",
            "vercel-ai-gateway-key",
            "azure-ai-services-key",
            "github-actions-oidc-token",
            "gitlab-pipeline-trigger-token",
            "gitlab-runner-registration-token"};
  }

  // A routable GitLab token: glpat- + base64url payload + .01. + 9 base36 characters, or
  // (unversioned) the payload + . + 9 base36 characters.
  std::string GitlabRoutable() { return "glpat-" + Token(40) + ".01." + Base36(9); }
  std::string GitlabRoutableUnversioned(std::string_view prefix = "glpat-") {
    return std::string(prefix) + Token(40) + "." + Base36(9);
  }

  // A short-term Bedrock key: bedrock-api-key- + base64 of a presigned bedrock URL (261 bytes:
  // no padding, so the value is the whole text).
  std::string BedrockShortTerm() {
    return "bedrock-api-key-" +
           Base64Of("bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-"
                    "SHA256&X-Amz-Credential=ASIA" +
                    Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) + "%2F20260101%2Fus-east-1%2F" +
                    "bedrock%2Faws4_request&X-Amz-Signature=" + Hex(64) + "&Version=123");
  }

  // Microsoft's common annotated key layout with the Cognitive Services signature: 52 random,
  // JQQJ99, year and month, 16 reserved, ACOG, 4 checksum (random here: not verified).
  std::string AzureAiServicesKey(std::string_view signature = "ACOG") {
    return Alnum(52) + "JQQJ99" + Chars("AB", 1) + Chars("ABCDEFGHIJKL", 1) + Alnum(16) +
           std::string(signature) + Alnum(4);
  }

  // An Actions OIDC ID token as a job receives it; `issuer` replaces the Actions issuer to
  // make a lookalike, `pad` shifts the claims through the three base64 alignments.
  std::string GithubActionsOidcToken(
      std::string_view issuer = "https://token.actions.githubusercontent.com", size_t pad = 0) {
    std::string header = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"" + Token(27) +
                         "\",\"kid\":\"" + Hex(40) + "\"}";
    std::string payload = "{\"jti\":\"" + Hex(8 + pad) +
                          "\",\"sub\":\"repo:octo-org/octo-repo:ref:refs/heads/main\"," +
                          "\"aud\":\"sts.amazonaws.com\",\"ref\":\"refs/heads/main\"," +
                          "\"repository\":\"octo-org/octo-repo\",\"run_id\":\"" + Digits(10) +
                          "\",\"iss\":\"" + std::string(issuer) + "\",\"nbf\":" + Digits(10) +
                          ",\"exp\":" + Digits(10) + ",\"iat\":" + Digits(10) + "}";
    return Base64UrlOf(header) + "." + Base64UrlOf(payload) + "." + Token(342);
  }

  std::string Digits(size_t n) { return Chars(kDigits, n); }

  static std::string Base64Of(std::string_view bytes, bool url = false, bool pad = true) {
    std::string_view alphabet = url ? kBase64Url : kBase64;
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
      uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
      for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
    }
    if (i < bytes.size()) {
      uint32_t v = uint8_t(bytes[i]) << 16;
      if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
      out += alphabet[(v >> 18) & 63];
      out += alphabet[(v >> 12) & 63];
      if (i + 1 < bytes.size()) out += alphabet[(v >> 6) & 63];
      if (pad) out.append(i + 1 < bytes.size() ? 1 : 2, '=');
    }
    return out;
  }
  static std::string Base64UrlOf(std::string_view bytes) { return Base64Of(bytes, true, false); }

  // header.payload.signature of an RS256 service-account token with kubernetes.io claims.
  std::string KubernetesToken() {
    std::string header = "{\"alg\":\"RS256\",\"kid\":\"" + Token(43) + "\"}";
    std::string payload = "{\"aud\":[\"https://kubernetes.default.svc.cluster.local\"],\"exp\":" +
                          Digits(10) + ",\"iss\":\"https://kubernetes.default.svc\",\"kubernetes.io\":" +
                          "{\"namespace\":\"ci\",\"serviceaccount\":{\"name\":\"builder\",\"uid\":\"" +
                          Hex(8) + "\"}},\"sub\":\"system:serviceaccount:ci:builder\"}";
    return Base64UrlOf(header) + "." + Base64UrlOf(payload) + "." + Token(342);
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  static constexpr std::string_view kAlnum =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr std::string_view kToken =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  static constexpr std::string_view kWord =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
  static constexpr std::string_view kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr std::string_view kLetters =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  static constexpr std::string_view kDigits = "0123456789";
  static constexpr std::string_view kBase64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr std::string_view kBase64Url =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::mt19937_64 rng_;
};

}  // namespace credsentry::testing
