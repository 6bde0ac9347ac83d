#include "catalogue/validators.h"

#include <array>
#include <cmath>
#include <string>

namespace credsentry::catalogue {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// OpenAI keys (legacy and sk-proj/svcacct/admin) carry "T3BlbkFJ", base64 of "OpenAI", between
// two random halves; a lookalike without it is not an OpenAI key.
bool OpenAiMarker(std::string_view v) {
  size_t pos = v.find("T3BlbkFJ");
  return pos != std::string_view::npos && pos >= 20 && v.size() - pos - 8 >= 20;
}

// ghp_/gho_/ghu_/ghs_/ghr_ (and npm_) + 30 random + 6 checksum characters.
bool GithubTokenChecksum(std::string_view v) {
  if (v.size() != 40 || v[3] != '_') return false;
  std::string_view random = v.substr(4, 30);
  return v.substr(34) == GithubChecksum(random);
}

// AKIA (long-term), ASIA (STS), ABIA/ACCA... followed by 16 base32 (A-Z2-7) characters. The
// documentation example AKIAIOSFODNN7EXAMPLE is everywhere in READMEs; it is not a credential.
bool AwsKeyId(std::string_view v) {
  if (v.size() != 20) return false;
  for (char c : v.substr(4)) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) return false;
  }
  return v.find("EXAMPLE") == std::string_view::npos;
}

// Random tokens of 16+ characters have high entropy; placeholders ("xxxx…", "your-key-here",
// "0000…") do not. 3.0 bits/char leaves margin below random hex (≈3.9 for 32 chars).
bool Entropy(std::string_view v) { return v.size() >= 16 && ShannonEntropy(v) >= 3.0; }

// Placeholder words documentation uses in place of a key.
bool NotPlaceholder(std::string_view v) {
  for (std::string_view word : {"EXAMPLE", "example", "XXXXXXXX", "xxxxxxxx", "your_", "YOUR_"}) {
    if (v.find(word) != std::string_view::npos) return false;
  }
  return true;
}

// Alphanumeric tokens without a distinctive prefix body (fw_…): a random 20+ character token has
// a digit, an upper- and a lower-case letter (P(missing one) < 2% at 24 characters);
// identifiers such as fw_GetVersionNumber do not.
bool RandomAlnum(std::string_view v) {
  bool digit = false, upper = false, lower = false;
  for (char c : v) {
    digit |= c >= '0' && c <= '9';
    upper |= c >= 'A' && c <= 'Z';
    lower |= c >= 'a' && c <= 'z';
  }
  return digit && upper && lower && Entropy(v);
}

// Decodes base64 (standard alphabet, or url-safe when `url`); trailing '=' padding is ignored.
// False on any other byte.
bool DecodeBase64(std::string_view v, bool url, std::string* out) {
  while (!v.empty() && v.back() == '=') v.remove_suffix(1);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : v) {
    int d = c >= 'A' && c <= 'Z'     ? c - 'A'
            : c >= 'a' && c <= 'z'   ? c - 'a' + 26
            : c >= '0' && c <= '9'   ? c - '0' + 52
            : c == (url ? '-' : '+') ? 62
            : c == (url ? '_' : '/') ? 63
                                     : -1;
    if (d < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

// Registry "auth" values are base64("user:secret"): decoded, printable, one colon with both
// sides non-empty. Random base64 decodes to binary and fails.
bool BasicAuthPair(std::string_view v) {
  if (v.size() < 8 || v.size() > 4096) return false;
  std::string out;
  if (!DecodeBase64(v, /*url=*/false, &out) || out.size() < 6) return false;
  for (unsigned char c : out) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  size_t colon = out.find(':');
  return colon != std::string::npos && colon > 0 && colon + 1 < out.size() &&
         NotPlaceholder(out.substr(colon + 1));
}

// GitHub Actions OIDC tokens are JWTs like many others; what makes one is its issuer. The
// payload is decoded and its "iss" claim must be https://token.actions.githubusercontent.com,
// or that URL with an enterprise slug after it (GitHub Enterprise Cloud's custom issuer). A
// JWT that merely mentions the host in another claim is not one.
bool GithubActionsOidcIssuer(std::string_view v) {
  size_t first = v.find('.');
  size_t second = first == std::string_view::npos ? first : v.find('.', first + 1);
  if (second == std::string_view::npos || v.find('.', second + 1) != std::string_view::npos) {
    return false;
  }
  std::string payload;
  if (!DecodeBase64(v.substr(first + 1, second - first - 1), /*url=*/true, &payload)) {
    return false;
  }
  constexpr std::string_view kIssuer = "https://token.actions.githubusercontent.com";
  for (size_t at = payload.find("\"iss\""); at != std::string::npos;
       at = payload.find("\"iss\"", at + 1)) {
    size_t i = at + 5;
    while (i < payload.size() && payload[i] == ' ') ++i;
    if (i >= payload.size() || payload[i] != ':') continue;
    ++i;
    while (i < payload.size() && payload[i] == ' ') ++i;
    if (i >= payload.size() || payload[i] != '"') continue;
    std::string_view value(payload);
    value = value.substr(i + 1);
    size_t end = value.find('"');
    if (end == std::string_view::npos) return false;
    value = value.substr(0, end);
    if (value == kIssuer) return true;
    return value.size() > kIssuer.size() + 1 && value.starts_with(kIssuer) &&
           value[kIssuer.size()] == '/' &&
           value.find('/', kIssuer.size() + 1) == std::string_view::npos;
  }
  return false;
}

struct Named {
  std::string_view name;
  Validator fn;
};
constexpr std::array<Named, 9> kValidators{{
    {"openai-marker", OpenAiMarker},
    {"github-checksum", GithubTokenChecksum},
    {"crc32-base62-checksum", GithubTokenChecksum},  // npm adopted GitHub's scheme
    {"aws-key-id", AwsKeyId},
    {"entropy", Entropy},
    {"not-placeholder", NotPlaceholder},
    {"random-alnum", RandomAlnum},
    {"basic-auth-pair", BasicAuthPair},
    {"github-actions-oidc-issuer", GithubActionsOidcIssuer},
}};

}  // namespace

Validator FindValidator(std::string_view name) {
  for (const auto& v : kValidators) {
    if (v.name == name) return v.fn;
  }
  return nullptr;
}

std::vector<std::string> ValidatorNames() {
  std::vector<std::string> out;
  for (const auto& v : kValidators) out.emplace_back(v.name);
  return out;
}

uint32_t Crc32(std::string_view bytes) {
  static const auto kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) crc = kTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string GithubChecksum(std::string_view random_part) {
  uint32_t crc = Crc32(random_part);
  std::string out(6, '0');
  for (int i = 5; i >= 0 && crc > 0; --i) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
  return out;
}

double ShannonEntropy(std::string_view value) {
  if (value.empty()) return 0;
  std::array<size_t, 256> counts{};
  for (unsigned char c : value) ++counts[c];
  double h = 0;
  for (size_t n : counts) {
    if (n == 0) continue;
    double p = static_cast<double>(n) / value.size();
    h -= p * std::log2(p);
  }
  return h;
}

}  // namespace credsentry::catalogue
