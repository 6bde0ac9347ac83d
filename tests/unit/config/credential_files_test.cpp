#include "config/credential_files.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "temp_dir.h"

namespace credsentry::config {
namespace {

using testing::TempDir;

catalogue::RuleSet FilesRules(std::vector<std::string> paths) {
  catalogue::RuleSet r;
  r.files.push_back({"f", std::move(paths), {}, "x.yaml", 1});
  return r;
}

bool HasPath(const std::vector<ExpandedCredentialPath>& v, const std::string& p) {
  return std::any_of(v.begin(), v.end(), [&](const auto& e) { return e.path == p; });
}

TEST(CredentialFiles, TildeMeansEveryHomeInPasswdPlusRoot) {
  TempDir dir;
  const std::string alice = dir.Sub("home/alice"), bob = dir.Sub("home/bob");
  std::string passwd = dir.Write("passwd",
                                 "root:x:0:0:root:/root:/bin/bash\n"
                                 "alice:x:1000:1000::" + alice + ":/bin/bash\n"
                                 "bob:x:1001:1001::" + bob + "/:/bin/sh\n"
                                 "broken line\n");
  auto paths = ExpandCredentialPaths(FilesRules({"~/.aws/credentials", "/etc/x.conf"}), passwd);
  EXPECT_TRUE(HasPath(paths, alice + "/.aws/credentials"));
  EXPECT_TRUE(HasPath(paths, bob + "/.aws/credentials"));
  EXPECT_TRUE(HasPath(paths, "/root/.aws/credentials"));
  EXPECT_TRUE(HasPath(paths, "/etc/x.conf"));
  EXPECT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0].file_index, 0u);
}

TEST(CredentialFiles, WildcardNamesExpandToExistingFiles) {
  TempDir dir;
  dir.Write("home/carol/.ssh/id_ed25519", "k");
  dir.Write("home/carol/.ssh/id_rsa", "k");
  dir.Write("home/carol/.ssh/known_hosts", "k");
  std::string passwd = dir.Write("passwd", "carol:x:1:1::" + dir.path() + "/home/carol:/bin/sh\n");
  auto paths = ExpandCredentialPaths(FilesRules({"~/.ssh/id_*"}), passwd);
  EXPECT_TRUE(HasPath(paths, dir.path() + "/home/carol/.ssh/id_ed25519"));
  EXPECT_TRUE(HasPath(paths, dir.path() + "/home/carol/.ssh/id_rsa"));
  EXPECT_FALSE(HasPath(paths, dir.path() + "/home/carol/.ssh/known_hosts"));
}

TEST(CredentialFiles, NameKeysAreParentAndNameAndSkipOverlongOnes) {
  TempDir dir;
  std::string passwd =
      dir.Write("passwd", "alice:x:1000:1000::" + dir.Sub("home/alice") + ":/bin/bash\n");
  auto keys = CredentialNameKeys(FilesRules({"~/.aws/credentials", "~/.netrc",
                                             "/etc/a_directory_name_much_longer_than_31_bytes/x"}),
                                 passwd);
  auto has = [&](const std::string& parent, const std::string& name) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](const auto& k) { return k.parent == parent && k.name == name; });
  };
  EXPECT_TRUE(has(".aws", "credentials"));
  EXPECT_TRUE(has("alice", ".netrc"));
  EXPECT_TRUE(has("root", ".netrc"));
  for (const auto& k : keys) {
    EXPECT_LE(k.parent.size(), kMaxDentryName);
    EXPECT_LE(k.name.size(), kMaxDentryName);
  }
  EXPECT_FALSE(has("a_directory_name_much_longer_than_31_bytes", "x"));
}

// Debian's own passwd: only root and the users with a real home are watched.
TEST(CredentialFiles, HomesSkipSystemDirectoriesAndMissingOnes) {
  TempDir dir;
  const std::string alice = dir.Sub("home/alice");
  const std::string jenkins = dir.Sub("var/lib/jenkins");
  const std::string not_a_dir = dir.Write("home/file", "x");
  std::string passwd = dir.Write("passwd",
                                 "root:x:0:0:root:/root:/bin/bash\n"
                                 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                 "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
                                 "sys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
                                 "irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin\n"
                                 "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
                                 "sshd:x:105:65534::/var/empty:/usr/sbin/nologin\n"
                                 "slash:x:106:106::/:/usr/sbin/nologin\n"
                                 "gone:x:1002:1002::" + dir.path() + "/home/gone:/bin/sh\n"
                                 "odd:x:1003:1003::" + not_a_dir + ":/bin/sh\n"
                                 "jenkins:x:107:107::" + jenkins + ":/bin/bash\n"
                                 "alice:x:1000:1000::" + alice + ":/bin/bash\n");
  EXPECT_EQ(UserHomes(passwd), (std::vector<std::string>{"/root", jenkins, alice}));

  auto keys = CredentialNameKeys(FilesRules({"~/.netrc"}), passwd);
  for (const auto& k : keys) {
    EXPECT_NE(k.parent, "bin");
    EXPECT_NE(k.parent, "dev");
    EXPECT_NE(k.parent, "nonexistent");
  }
  EXPECT_EQ(keys.size(), 3u);  // root, jenkins, alice
}

TEST(CredentialFiles, SystemDirectoriesAreNotHomesEvenWhenTheyExist) {
  for (const char* dir : {"/", "/bin", "/sbin", "/dev", "/proc", "/sys", "/run", "/usr",
                          "/usr/sbin", "/usr/bin", "/var/empty", "/run/sshd", "/var/spool/lpd"}) {
    EXPECT_FALSE(IsWatchedHome(dir)) << dir;
  }
  EXPECT_TRUE(IsWatchedHome("/root"));
  TempDir dir;
  EXPECT_TRUE(IsWatchedHome(dir.Sub("var/lib/jenkins")));
  EXPECT_FALSE(IsWatchedHome(dir.path() + "/missing"));
}

TEST(CredentialFiles, ShippedCatalogueExpands) {
  auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
  ASSERT_TRUE(rules.ok()) << rules.message();
  auto paths = ExpandCredentialPaths(*rules);
  EXPECT_TRUE(HasPath(paths, "/root/.aws/credentials"));
  EXPECT_FALSE(CredentialNameKeys(*rules).empty());
}

}  // namespace
}  // namespace credsentry::config
