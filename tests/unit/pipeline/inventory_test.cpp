#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "catalogue/rules.h"
#include "pipeline/inventory.h"

namespace credsentry::pipeline {
namespace {

TEST(Inventory, FindsStoredCredentialsWithoutTheirValues) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cs-inv-" + std::to_string(getpid()));
  fs::create_directories(dir / "rules");
  std::mt19937_64 rng(std::random_device{}());
  std::string id = "AKIA";
  for (int i = 0; i < 16; ++i) id.push_back("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rng() % 32]);
  std::ofstream(dir / "credentials") << "[default]\naws_access_key_id = " << id << "\n";
  std::ofstream(dir / "rules" / "files.yaml")
      << "version: 1\ncredential_files:\n  - id: test-aws\n    paths: ['" << (dir / "credentials").string()
      << "']\n";
  auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR, (dir / "rules").string()});
  ASSERT_TRUE(rules.ok()) << rules.message();
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  ASSERT_TRUE(db.ok()) << db.message();
  report::Fingerprinter fp("inventory-test-key");

  auto inv = BuildInventory(*db, fp);
  auto it = std::find_if(inv.begin(), inv.end(),
                         [&](const auto& c) { return c.path == (dir / "credentials").string(); });
  ASSERT_NE(it, inv.end());
  EXPECT_EQ(it->type, "aws-access-key-id");
  EXPECT_EQ(it->provider, "aws");
  EXPECT_EQ(it->owner_uid, getuid());
  EXPECT_TRUE(it->fingerprint == fp.Of(id));
  EXPECT_EQ(it->redacted.find(id), std::string::npos);
  EXPECT_GT(it->file_mtime_ns, 0u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace credsentry::pipeline
