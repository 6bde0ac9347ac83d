// The stream matcher over the shipped catalogue: every kind found whole, split across two
// Feed() calls at every split point, at the very end of a stream; lookalikes not found.
// Secrets are compared with EXPECT_TRUE(a == b) so a failure never prints a key.
#include "match/matcher.h"

#include <gtest/gtest.h>

#include "../config/temp_dir.h"
#include "catalogue/rules.h"
#include "shipped_database.h"
#include "synthetic_keys.h"

namespace credsentry::match {
namespace {

using testing::KeyGenerator;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct Found {
  std::string kind, value;
  bool available;
  uint64_t start, end;
};

// Matches found in the bytes as sent; those found by decoding base64 runs (a key prefix seen
// in base64, encoded_prefixes_test.cpp) are left out unless `decoded_too`.
std::vector<Found> ScanParts(const std::vector<std::string>& parts, MatchStream* keep = nullptr,
                             bool decoded_too = false) {
  auto db = testing::ShippedMatcherDatabase();
  MatchStream local(db);
  MatchStream& s = keep ? *keep : local;
  std::vector<Found> out;
  auto on = [&](const SecretMatch& m) {
    if (!m.decoding.empty() && !decoded_too) return;
    out.push_back({db->rules().kinds[m.kind_index].id, m.value, m.value_available, m.start, m.end});
  };
  for (const auto& p : parts) s.Feed(Bytes(p), on);
  s.Close(on);
  return out;
}

TEST(MatchStream, FindsEveryShippedKindWithItsValueAndOffsets) {
  KeyGenerator gen;
  for (const auto& kind : KeyGenerator::ShippedKinds()) {
    auto key = gen.Make(kind);
    ASSERT_FALSE(key.value.empty()) << kind;
    std::string prefix = "POST /v1 HTTP/1.1\r\nAuthorization: Bearer ";
    if (kind == "aws-secret-access-key") prefix = "[default]\n";
    std::string text = prefix + key.text + "\r\n\r\n{}";
    auto found = ScanParts({text});
    ASSERT_EQ(found.size(), 1u) << kind;
    EXPECT_EQ(found[0].kind, kind);
    EXPECT_TRUE(found[0].value == key.value) << kind << ": extracted value differs";
    EXPECT_EQ(found[0].start, text.find(key.value));
    EXPECT_EQ(found[0].end, found[0].start + key.value.size());
  }
}

TEST(MatchStream, FindsAKeySplitAcrossTwoFeedsAtEverySplitPoint) {
  KeyGenerator gen;
  for (const auto& kind : KeyGenerator::ShippedKinds()) {
    auto key = gen.Make(kind);
    std::string text = "x=1\n" + key.text + "\n";
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      auto found = ScanParts({text.substr(0, cut), text.substr(cut)});
      ASSERT_EQ(found.size(), 1u) << kind << " split at " << cut;
      EXPECT_EQ(found[0].kind, kind);
      EXPECT_TRUE(found[0].value == key.value) << kind << " split at " << cut;
    }
  }
}

TEST(MatchStream, FindsAKeyFedOneByteAtATime) {
  KeyGenerator gen;
  auto key = gen.Make("anthropic-api-key");
  std::string text = "{\"x-api-key\":\"" + key.text + "\"}";
  std::vector<std::string> parts;
  for (char c : text) parts.emplace_back(1, c);
  auto found = ScanParts(parts);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].value == key.value);
}

TEST(MatchStream, KeyThatEndsTheStreamIsReportedOnClose) {
  KeyGenerator gen;
  auto key = gen.Make("huggingface-token");
  auto db = testing::ShippedMatcherDatabase();
  MatchStream s(db);
  int during_feed = 0, on_close = 0;
  s.Feed(Bytes("token=" + key.text), [&](const SecretMatch&) { ++during_feed; });
  EXPECT_EQ(during_feed, 0);  // the next byte could still extend the token
  s.Close([&](const SecretMatch& m) {
    ++on_close;
    EXPECT_TRUE(m.value == key.value);
  });
  EXPECT_EQ(on_close, 1);
}

TEST(MatchStream, KeyFarIntoALongStreamIsFoundAfterTheTailHasMoved) {
  KeyGenerator gen;
  auto key = gen.Make("github-classic-token");
  std::string filler(3 * MatchStream::kSliceBytes + 1234, ' ');
  auto found = ScanParts({filler, filler.substr(0, 100) + key.text, " ", filler});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].value == key.value);
  EXPECT_EQ(found[0].start, filler.size() + 100);
}

TEST(MatchStream, ManyKeysInOneFeedAreAllReported) {
  KeyGenerator gen;
  std::string text;
  std::vector<std::string> values;
  for (int i = 0; i < 500; ++i) {
    values.push_back(gen.Make("google-api-key").value);
    text += values.back() + "\n";
  }
  auto found = ScanParts({text});
  ASSERT_EQ(found.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_TRUE(found[i].value == values[i]) << i;
}

TEST(MatchStream, TokensGluedToTheirAlphabetAreNotMatched) {
  KeyGenerator gen;
  auto gh = gen.Make("github-classic-token").value;
  auto ai = gen.Make("google-api-key").value;
  EXPECT_TRUE(ScanParts({"x" + gh + " "}).empty());   // preceded by a token char
  EXPECT_TRUE(ScanParts({" " + gh + "Z "}).empty());  // 41 characters: not this format
  EXPECT_TRUE(ScanParts({"_" + ai + "_"}).empty());
  EXPECT_TRUE(ScanParts({"x" + ai + " "}).empty());  // no validator guards this one
  EXPECT_TRUE(ScanParts({" " + ai + "x"}).empty());
  EXPECT_EQ(ScanParts({"'" + gh + "'"}).size(), 1u);
}

TEST(MatchStream, LookalikesAreNotSecrets) {
  KeyGenerator gen;
  std::string corpus;
  for (int i = 0; i < 200; ++i) {
    corpus += "commit " + gen.Hex(40) + "\n";  // git SHA
    corpus += gen.Hex(8) + "-" + gen.Hex(4) + "-4" + gen.Hex(3) + "-a" + gen.Hex(3) + "-" +
              gen.Hex(12) + "\n";                                      // UUID
    corpus += "sha256:" + gen.Hex(64) + "\n";                          // digest
    corpus += "\"integrity\": \"sha512-" + gen.Base64(86) + "==\"\n";  // lockfile
    corpus += "data:image/png;base64," + gen.Base64(400) + "\n";       // blob
    corpus += "secret = " + gen.Base64(40) + "\n";                     // no AWS context
    corpus += "sk-" + gen.Alnum(48) + "\n";                            // no OpenAI marker
    corpus += "ghp_" + gen.Alnum(36) + "\n";                           // bad checksum
    corpus += "AKIAIOSFODNN7EXAMPLE\n";                                // AWS docs example
    corpus += "dapi" + std::string(32, 'a') + "\n";                    // placeholder
    corpus += "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    corpus += "-----BEGIN PUBLIC KEY-----\n" + gen.Base64(64) + "\n" + gen.Base64(64) +
              "\n-----END PUBLIC KEY-----\n";
    corpus += "-----BEGIN CERTIFICATE-----\n" + gen.Base64(64) + "\n-----END CERTIFICATE-----\n";
    corpus += "stripe test key sk_test_" + gen.Alnum(99) + "\n";               // test mode
    corpus += "glpat-xxxxxxxxxxxxxxxxxxxx\n";                                 // placeholder
  }
  auto db = testing::ShippedMatcherDatabase();
  MatchStream s(db);
  auto found = ScanParts({corpus}, &s);
  for (const auto& f : found) ADD_FAILURE() << "false positive of kind " << f.kind;
  EXPECT_GE(s.counters().rejected_by_validator, 200u * 3) << "checksum/placeholder rejections";
}

TEST(MatchStream, CountersAndBytesSeen) {
  KeyGenerator gen;
  auto db = testing::ShippedMatcherDatabase();
  MatchStream s(db);
  std::string a = "Bearer " + gen.Make("openai-project-key").value + "\n";
  s.Feed(Bytes(a), [](const SecretMatch&) {});
  s.Feed(Bytes(a), [](const SecretMatch&) {});
  s.Close([](const SecretMatch&) {});
  EXPECT_EQ(s.bytes_seen(), 2 * a.size());
  EXPECT_EQ(s.counters().matches, 2u);
  s.Feed(Bytes(a), [](const SecretMatch&) { ADD_FAILURE() << "fed after close"; });
  EXPECT_EQ(s.counters().bytes_after_close, a.size());
}

TEST(MatcherDatabase, ReportsCompileTimeAndStreamState) {
  auto db = testing::ShippedMatcherDatabase();
  EXPECT_GT(db->compile_ms(), 0.0);
  EXPECT_GT(db->stream_state_bytes(), 0u);
  EXPECT_LT(db->stream_state_bytes(), 16u << 10) << "per-connection state must stay small";
  EXPECT_EQ(db->rules().kinds.size(), KeyGenerator::ShippedKinds().size());
}

std::shared_ptr<const MatcherDatabase> CompileYaml(const std::string& yaml) {
  testing::TempDir dir;
  dir.Write("r.yaml", yaml);
  auto rules = catalogue::LoadRules({dir.path()});
  EXPECT_TRUE(rules.ok()) << rules.message();
  auto db = MatcherDatabase::Compile(std::move(*rules));
  EXPECT_TRUE(db.ok()) << db.message();
  return *db;
}

TEST(MatchStream, ValueOlderThanTheTailIsReportedUnavailableAndCounted) {
  auto db = CompileYaml(R"(version: 1
credentials:
  - id: long-token
    provider: demo
    name: Long token
    pattern: 'tok_[a-z]{5000,9000}'
    charset: 'a-z_'
    destinations: ['x.example']
)");
  MatchStream s(db);
  std::string text = " tok_" + std::string(8500, 'q') + " ";
  std::vector<SecretMatch> found;
  // Small writes: by the end, the token's start has left the retained tail.
  for (size_t i = 0; i < text.size(); i += 100) {
    s.Feed(Bytes(std::string_view(text).substr(i, 100)),
           [&](const SecretMatch& m) { found.push_back(m); });
  }
  s.Close([&](const SecretMatch& m) { found.push_back(m); });
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].value_available);
  EXPECT_TRUE(found[0].value.empty());
  EXPECT_EQ(found[0].end, text.size() - 1);
  EXPECT_EQ(s.counters().value_unavailable, 1u);
}

TEST(MatchStream, TwoKindsMatchingTheSameSpanReportOnce) {
  auto db = CompileYaml(R"(version: 1
credentials:
  - id: first
    provider: demo
    name: First
    pattern: 'dup_[a-z]{20}'
    charset: 'a-z_'
    destinations: ['x.example']
  - id: second
    provider: demo
    name: Second
    pattern: 'dup_[a-z]{20}'
    charset: 'a-z_'
    destinations: ['x.example']
)");
  MatchStream s(db);
  int n = 0;
  s.Feed(Bytes(" dup_" + std::string(20, 'k') + " "), [&](const SecretMatch& m) {
    ++n;
    EXPECT_EQ(m.kind_index, 0u);
  });
  s.Close([&](const SecretMatch&) { ++n; });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(s.counters().duplicates, 1u);
}

TEST(MatchStream, StreamMemoryIsBounded) {
  KeyGenerator gen;
  auto db = testing::ShippedMatcherDatabase();
  MatchStream s(db);
  std::string chunk = gen.Base64(1000);
  for (int i = 0; i < 5000; ++i) s.Feed(Bytes(chunk), [](const SecretMatch&) {});
  EXPECT_LE(s.memory_bytes(), db->stream_state_bytes() + 4 * MatchStream::kTailBytes + 64 * 1024);
}

}  // namespace
}  // namespace credsentry::match
