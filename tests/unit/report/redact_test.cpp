#include "report/redact.h"

#include <gtest/gtest.h>

namespace credsentry::report {
namespace {

TEST(Redact, PrefixEllipsisLastFour) {
  std::string key = "sk-ant-api03-" + std::string(91, 'q') + "Xa9f";
  EXPECT_EQ(Redact(key, 7), "sk-ant-\u2026Xa9f");
}

TEST(Redact, ShortSecretsKeepTwelveCharactersHidden) {
  // 20 characters: 8 may show; the prefix is served first.
  EXPECT_EQ(Redact("AKIAABCDEFGHIJKLWXYZ", 4), "AKIA\u2026WXYZ");
  EXPECT_EQ(Redact("AKIAABCDEFGHIJKLWXYZ", 8), "AKIAABCD\u2026");
  EXPECT_EQ(Redact("0123456789abcdef", 8), "0123\u2026");
  EXPECT_EQ(Redact("short", 4), "\u2026");
  EXPECT_EQ(Redact("", 4), "\u2026");
  for (size_t len = 0; len < 64; ++len) {
    std::string s(len, 'k');
    std::string r = Redact(s, 16);
    size_t shown = r.size() - std::string("\u2026").size();
    EXPECT_LE(shown + kMinHiddenChars, std::max(len, kMinHiddenChars)) << len;
  }
}

TEST(Redact, NonPrintableBytesAreMasked) {
  std::string s = std::string("\x01\n") + std::string(30, 'a') + "\xff\t";
  EXPECT_EQ(Redact(s, 2), "??\u2026aa??");
}

}  // namespace
}  // namespace credsentry::report
