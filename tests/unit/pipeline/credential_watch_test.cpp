#include "pipeline/credential_watch.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <tuple>
#include <vector>

#include "../config/temp_dir.h"
#include "catalogue/rules.h"
#include "loader/host.h"

namespace credsentry::pipeline {
namespace {

// Records what would go into the kernel; refuses the names listed in `refuse`.
class FakeCredentialTable : public loader::CredentialFileTable {
 public:
  Status WatchInode(uint64_t kernel_dev, uint64_t ino, uint32_t cred_id) override {
    calls.push_back("inode");
    inodes.emplace_back(kernel_dev, ino, cred_id);
    return Status::Ok();
  }
  Status WatchName(std::string_view parent, std::string_view name, uint32_t cred_id) override {
    calls.push_back("name");
    if (std::string(name) == refuse) return Error{"the credential file table is full"};
    names.emplace_back(std::string(parent), std::string(name), cred_id);
    return Status::Ok();
  }
  Status Clear() override {
    calls.push_back("clear");
    inodes.clear();
    names.clear();
    return Status::Ok();
  }

  std::vector<std::string> calls;
  std::vector<std::tuple<uint64_t, uint64_t, uint32_t>> inodes;
  std::vector<std::tuple<std::string, std::string, uint32_t>> names;
  std::string refuse;
};

class CredentialWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stored_ = dir_.Write("home/credentials", "[default]\n");
    dir_.Sub("home/config.d");
    dir_.Write("rules/test.yaml",
               "version: 1\n"
               "credentials:\n"
               "  - id: test-token\n    provider: test\n    name: test token\n"
               "    severity: high\n    pattern: 'tok_[a-z]{20}'\n    charset: 'a-z_'\n"
               "    never_sent: true\n"
               "credential_files:\n"
               "  - id: test-files\n    paths: ['" +
                   stored_ + "', '" + dir_.path() + "/home/config.d', '" + dir_.path() +
                   "/home/later.json']\n");
    auto rules = catalogue::LoadRules({dir_.path() + "/rules"});
    ASSERT_TRUE(rules.ok()) << rules.message();
    rules_ = std::move(*rules);
  }

  testing::TempDir dir_;
  std::string stored_;
  catalogue::RuleSet rules_;
};

TEST_F(CredentialWatchTest, ClearsThenWatchesTheInodeOfEachStoredFileAndEveryName) {
  FakeCredentialTable table;
  table.inodes.emplace_back(1, 2, 3);  // a watch from the rules before
  auto count = WatchCredentialFiles(table, rules_);
  ASSERT_TRUE(count.ok()) << count.message();

  ASSERT_FALSE(table.calls.empty());
  EXPECT_EQ(table.calls.front(), "clear");
  struct stat st {};
  ASSERT_EQ(stat(stored_.c_str(), &st), 0);
  // Only the regular file that exists has an inode; the directory and the missing file do not.
  ASSERT_EQ(table.inodes.size(), 1u);
  EXPECT_EQ(table.inodes[0],
            std::make_tuple(loader::KernelDev(st.st_dev), static_cast<uint64_t>(st.st_ino), 1u));
  EXPECT_EQ(count->inodes, 1u);
  // Every path is also watched by name, so a file created later is still seen.
  const std::string parent = "home";
  EXPECT_EQ(table.names.size(), 3u);
  EXPECT_EQ(count->names, 3u);
  EXPECT_NE(std::find(table.names.begin(), table.names.end(),
                      std::make_tuple(parent, std::string("later.json"), 1u)),
            table.names.end());
}

TEST_F(CredentialWatchTest, AWatchTheKernelRefusesIsLeftOutOfTheCount) {
  FakeCredentialTable table;
  table.refuse = "later.json";
  auto count = WatchCredentialFiles(table, rules_);
  ASSERT_TRUE(count.ok()) << count.message();
  EXPECT_EQ(count->inodes, 1u);
  EXPECT_EQ(count->names, 2u);
}

}  // namespace
}  // namespace credsentry::pipeline
