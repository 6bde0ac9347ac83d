#include "report/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "../config/temp_dir.h"

namespace credsentry::report {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(Fingerprinter, KeyedStableAndShort) {
  Fingerprinter a(std::string(32, 'k')), b(std::string(32, 'j'));
  std::string fa = a.Of("synthetic-secret-value");
  EXPECT_THAT(fa, MatchesRegex("hmac-sha256:[0-9a-f]{32}"));
  EXPECT_EQ(fa, a.Of("synthetic-secret-value"));
  EXPECT_NE(fa, b.Of("synthetic-secret-value"));
  EXPECT_NE(fa, a.Of("synthetic-secret-valuf"));
}

TEST(Fingerprinter, KnownHmacVector) {
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?"), first 16 bytes.
  // The key is below the file minimum but the constructor takes any key.
  EXPECT_EQ(Fingerprinter("Jefe").Of("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c7");
}

TEST(Fingerprinter, KeyFileCreatedOnceWithMode0600) {
  testing::TempDir dir;
  std::string path = dir.path() + "/fingerprint.key";
  auto first = Fingerprinter::FromKeyFile(path, true);
  ASSERT_TRUE(first.ok()) << first.message();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = Fingerprinter::FromKeyFile(path, false);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(first->Of("x"), again->Of("x"));
}

TEST(Fingerprinter, KeyFileErrorsNameTheFile) {
  testing::TempDir dir;
  std::string missing = dir.path() + "/none.key";
  EXPECT_THAT(Fingerprinter::FromKeyFile(missing, false).message(),
              HasSubstr("cannot open fingerprint key file " + missing));
  std::string shortkey = dir.Write("short.key", "abc\n");
  chmod(shortkey.c_str(), 0600);
  EXPECT_THAT(Fingerprinter::FromKeyFile(shortkey, false).message(),
              HasSubstr(shortkey + " holds fewer than 16 bytes"));
  std::string open = dir.Write("open.key", std::string(40, 'z'));
  chmod(open.c_str(), 0644);
  EXPECT_THAT(Fingerprinter::FromKeyFile(open, false).message(),
              HasSubstr("accessible by group or others"));
}

}  // namespace
}  // namespace credsentry::report
