// `credsentry-agent scan` over every shipped kind, as a user auditing a host meets them: a file
// holding the key as written, and a file holding it base64-coded (the way stealers stage loot),
// each reported once with the key's kind and never with its value. Base64 is found through the
// kind's literal prefix, so kinds identified by context or shape alone are checked raw only.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../config/temp_dir.h"
#include "../match/shipped_database.h"
#include "../match/synthetic_keys.h"
#include "match/encoded_prefixes.h"
#include "scan/scan.h"

namespace credsentry::scan {
namespace {

using testing::KeyGenerator;

TEST(RunScan, FindsEveryShippedKindRawAndBase64Coded) {
  const auto& db = *testing::ShippedMatcherDatabase();
  KeyGenerator gen;
  testing::TempDir dir;
  std::map<std::string, std::string> expected_kind;  // path -> kind
  std::vector<std::string> values;
  for (const auto& kind : KeyGenerator::ShippedKinds()) {
    auto key = gen.Make(kind);
    ASSERT_FALSE(key.value.empty()) << kind << " has no synthetic key";
    values.push_back(key.value);
    std::string text = "# staged\n" + key.text + "\n";
    expected_kind[dir.Write("raw/" + kind + ".txt", text)] = kind;
    const catalogue::CredentialKind* rule = db.rules().FindKind(kind);
    ASSERT_NE(rule, nullptr) << kind;
    if (match::LiteralPrefixes(rule->pattern).empty()) continue;
    expected_kind[dir.Write("base64/" + kind + ".txt",
                            "loot=" + KeyGenerator::Base64Of(text) + "\n")] = kind;
  }
  std::ostringstream out, err;
  EXPECT_EQ(RunScan({dir.path()}, db, report::Fingerprinter(std::string(32, 'k')), out, err), 1);
  std::map<std::string, std::multiset<std::string>> found;  // path -> kinds
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    found[j["path"].get<std::string>()].insert(j["kind"].get<std::string>());
  }
  // A kubeconfig key is a base64 PEM key: the PEM inside is found as well.
  const std::map<std::string, std::string> wraps = {{"kubeconfig-client-key", "private-key"}};
  for (const auto& [path, kind] : expected_kind) {
    EXPECT_EQ(found[path].count(kind), 1u) << path;
    for (const auto& other : found[path]) {
      if (other == kind) continue;
      EXPECT_TRUE(wraps.contains(kind) && wraps.at(kind) == other) << other << " in " << path;
    }
  }
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(out.str().find(values[i]), std::string::npos) << "a raw value in scan output";
  }
}

}  // namespace
}  // namespace credsentry::scan
