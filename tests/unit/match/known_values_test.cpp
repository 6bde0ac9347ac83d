// Known-value matching as users notice it: a secret that fits no format, learned from a
// credential file, is found when it leaves raw, in base64 at every alignment, hex and
// percent-encoded, split across writes, and named with the file it came from; the learned set
// and its rebuilds are bounded and counted. Values are compared with EXPECT_TRUE(a == b) so a
// failure never prints a secret.
#include "match/known_values.h"

#include <gtest/gtest.h>

#include "../config/temp_dir.h"
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

// A custom secret no catalogue format describes: mixed classes, punctuation, random.
std::string CustomSecret(KeyGenerator& gen) {
  return "Zx" + gen.Alnum(10) + "!4" + gen.Alnum(8) + "#q";
}

std::shared_ptr<KnownValues> Learned(const std::string& value, const std::string& path) {
  auto kv = std::make_shared<KnownValues>();
  LearnedValue v;
  v.value = value;
  v.source_path = path;
  EXPECT_TRUE(kv->Learn(std::move(v)));
  return kv;
}

std::vector<SecretMatch> Scan(const std::shared_ptr<KnownValues>& kv,
                              const std::vector<std::string>& parts) {
  MatchStream s(testing::ShippedMatcherDatabase());
  s.SetKnownValues(kv);
  std::vector<SecretMatch> out;
  auto on = [&](const SecretMatch& m) { out.push_back(m); };
  for (const auto& p : parts) s.Feed(Bytes(p), on);
  s.Close(on);
  return out;
}

std::string Hex(std::string_view v, bool upper) {
  const char* d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : v) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(Base64Core, IsASubstringOfTheEncodingAtEachAlignment) {
  KeyGenerator gen;
  for (int trial = 0; trial < 50; ++trial) {
    std::string value = gen.Token(8 + trial % 13);
    for (int a = 0; a < 3; ++a) {
      for (bool url : {false, true}) {
        std::string encoded = KeyGenerator::Base64Of(gen.Alnum(a) + value + gen.Alnum(2), url);
        size_t lead = 0;
        std::string core = Base64Core(value, a, url, &lead);
        EXPECT_GE(core.size(), value.size() * 4 / 3 - 2);
        ASSERT_NE(encoded.find(core), std::string::npos) << "alignment " << a;
        EXPECT_EQ(encoded.find(core) % 4, lead % 4) << "group start recoverable";
      }
    }
  }
}

TEST(KnownValues, CustomSecretIsFoundRawAndNamesItsFile) {
  KeyGenerator gen;
  std::string secret = CustomSecret(gen);
  auto kv = Learned(secret, "/home/dev/.config/acme/token");
  auto found = Scan(kv, {"POST /upload HTTP/1.1\r\n\r\nfile=" + secret + "&x=1"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind_index, kKnownValueKind);
  EXPECT_TRUE(found[0].value == secret);
  ASSERT_TRUE(found[0].known);
  EXPECT_EQ(found[0].known->source_path, "/home/dev/.config/acme/token");
  EXPECT_TRUE(found[0].decoding.empty());
  EXPECT_EQ(KnownValueKind(*found[0].known).id, "known-value");
}

TEST(KnownValues, EveryEncodingIsFoundWithItsName) {
  KeyGenerator gen;
  std::string secret = CustomSecret(gen);
  auto kv = Learned(secret, "/etc/acme/key");
  std::vector<std::pair<std::string, std::string>> cases;
  for (int shift = 0; shift < 3; ++shift) {
    cases.emplace_back(KeyGenerator::Base64Of(std::string(shift, ' ') + "k=" + secret), "base64");
    cases.emplace_back(KeyGenerator::Base64UrlOf(std::string(shift, '.') + secret), "base64");
  }
  cases.emplace_back(Hex(secret, false), "hex");
  cases.emplace_back(Hex(secret, true), "hex");
  std::string percent;
  for (char c : secret) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      percent += c;
    } else {
      percent += "%" + Hex(std::string(1, c), true);
    }
  }
  cases.emplace_back(percent, "percent");
  for (const auto& [text, encoding] : cases) {
    auto found = Scan(kv, {"{\"d\":\"" + text + "\"}"});
    ASSERT_EQ(found.size(), 1u) << encoding;
    EXPECT_TRUE(found[0].value == secret) << encoding;
    EXPECT_EQ(found[0].decoding, std::vector<std::string>{encoding});
  }
}

TEST(KnownValues, FoundWhenSplitAcrossWritesAtEveryPoint) {
  KeyGenerator gen;
  std::string secret = CustomSecret(gen);
  auto kv = Learned(secret, "/etc/acme/key");
  std::string text = "payload " + KeyGenerator::Base64Of("x" + secret) + " end";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    auto found = Scan(kv, {text.substr(0, cut), text.substr(cut)});
    ASSERT_EQ(found.size(), 1u) << "split at " << cut;
  }
}

TEST(KnownValues, FormatValueKeepsItsKindAndIsFoundHexEncoded) {
  KeyGenerator gen;
  auto key = gen.Make("aws-secret-access-key");  // needs context raw; as a known value, not
  auto rules = testing::ShippedMatcherDatabase()->rules();
  KnownValues kv;
  auto added = kv.LearnFromCredentialFile("[default]\n" + key.text + "\n", "/root/.aws/credentials",
                                          rules, {{"aws-secret-access-key", key.value}});
  ASSERT_EQ(added.size(), 1u);
  auto shared = std::make_shared<KnownValues>(std::move(kv));
  auto found = Scan(shared, {"q=" + Hex(key.value, false) + "&"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(rules.kinds[found[0].kind_index].id, "aws-secret-access-key");
  EXPECT_EQ(found[0].decoding, std::vector<std::string>{"hex"});
}

TEST(KnownValues, ValuesLearnedAfterTheStreamOpenedAreFollowed) {
  KeyGenerator gen;
  std::string secret = CustomSecret(gen);
  auto kv = std::make_shared<KnownValues>();
  MatchStream s(testing::ShippedMatcherDatabase());
  s.SetKnownValues(kv);
  int n = 0;
  s.Feed(Bytes("hello " + secret + " "), [&](const SecretMatch&) { ++n; });
  EXPECT_EQ(n, 0);
  kv->Learn({secret, "/etc/acme/key", "", {}, false});
  s.Feed(Bytes("again " + secret + " "), [&](const SecretMatch&) { ++n; });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(s.counters().known_value_matches, 1u);
}

TEST(KnownValues, RebuildsAreRateLimitedAndCounted) {
  KnownValueLimits limits;
  limits.min_rebuild_interval_ns = 1000;
  KnownValues kv(limits);
  EXPECT_EQ(kv.Current(0), nullptr);
  kv.Learn({"Aa1Bb2Cc3Dd4Ee5", "/a", "", {}, false});
  auto first = kv.Current(10);
  ASSERT_NE(first, nullptr);
  kv.Learn({"Ff6Gg7Hh8Ii9Jj0", "/b", "", {}, false});
  EXPECT_EQ(kv.Current(20), first) << "too soon: the old database stays";
  EXPECT_EQ(kv.Current(30), first);
  auto second = kv.Current(2000);
  EXPECT_NE(second, first);
  EXPECT_EQ(second->values().size(), 2u);
  EXPECT_EQ(kv.counters().rebuilds, 2u);
  EXPECT_EQ(kv.counters().rebuilds_deferred, 1u);
}

TEST(KnownValues, SetIsBoundedAndShortValuesAreRefused) {
  KnownValueLimits limits;
  limits.max_values = 2;
  KnownValues kv(limits);
  EXPECT_TRUE(kv.Learn({"Aa1Bb2Cc3Dd4", "/a", "", {}, false}));
  EXPECT_FALSE(kv.Learn({"Aa1Bb2Cc3Dd4", "/a", "", {}, false}));
  EXPECT_TRUE(kv.Learn({"Ee5Ff6Gg7Hh8", "/a", "", {}, false}));
  EXPECT_FALSE(kv.Learn({"Ii9Jj0Kk1Ll2", "/a", "", {}, false}));
  EXPECT_FALSE(kv.Learn({"short", "/a", "", {}, false}));
  EXPECT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv.counters().already_known, 1u);
  EXPECT_EQ(kv.counters().dropped_full, 1u);
  EXPECT_EQ(kv.counters().dropped_size, 1u);
}

TEST(CandidateValues, TakesRandomTokensAndLeavesNamesPathsAndUrls) {
  KeyGenerator gen;
  std::string token = gen.Alnum(12) + "7aZ" + gen.Alnum(9);
  std::string text = "# acme cli\nendpoint = https://api.acme.example/v1\nprofile: production\n" +
                     std::string("cache_dir=/var/cache/acme-tool/objects\n") + "token = \"" +
                     token + "\"\nregion=eu-west-1\nversion: 1.2.3\n";
  auto values = CandidateValues(text, 64);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_TRUE(values[0] == token);
  EXPECT_EQ(CandidateValues(text + text + text, 2).size(), 2u) << "bounded per read";
}

TEST(CredentialFileForPath, HomeAndAnyDirectoryForms) {
  auto rules = testing::ShippedMatcherDatabase()->rules();
  const auto* aws = CredentialFileForPath(rules, "/home/dev/.aws/credentials");
  ASSERT_NE(aws, nullptr);
  EXPECT_EQ(aws->id, "aws-credentials");
  const auto* git = CredentialFileForPath(rules, "/home/runner/work/app/app/.git/config");
  ASSERT_NE(git, nullptr);
  EXPECT_EQ(git->id, "git-config-extraheader");
  EXPECT_EQ(CredentialFileForPath(rules, "/home/dev/notes.txt"), nullptr);
}

TEST(KnownValues, CustomFileValueGetsTheFilesKindsDestinations) {
  KeyGenerator gen;
  auto rules = testing::ShippedMatcherDatabase()->rules();
  std::string secret = CustomSecret(gen);
  KnownValues kv;
  auto added = kv.LearnFromCredentialFile("[profile]\nsso_token = " + secret + "\n",
                                          "/home/dev/.databrickscfg", rules, {});
  ASSERT_EQ(added.size(), 1u);
  auto shared = std::make_shared<KnownValues>(std::move(kv));
  auto found = Scan(shared, {" " + secret + " "});
  ASSERT_EQ(found.size(), 1u);
  auto kind = KnownValueKind(*found[0].known);
  EXPECT_FALSE(kind.never_sent);
  EXPECT_EQ(kind.destinations, rules.FindKind("databricks-token")->destinations);
}

}  // namespace
}  // namespace credsentry::match
