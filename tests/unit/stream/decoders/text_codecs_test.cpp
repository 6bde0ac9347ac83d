#include "stream/decoders/text_codecs.h"

#include <gtest/gtest.h>

namespace credsentry::stream::decoders {
namespace {

TEST(TextCodecs, PercentDecoding) {
  EXPECT_EQ(PercentDecode("a%2Db+c%zz%4", false), "a-b+c%zz%4");
  EXPECT_EQ(PercentDecode("a%2Db+c", true), "a-b c");
}

TEST(TextCodecs, JsonUnescapeHandlesSurrogatesAndLeavesBadEscapes) {
  EXPECT_EQ(JsonUnescape("no escapes"), std::nullopt);
  EXPECT_EQ(*JsonUnescape("a\\/b\\u0041\\n\\ud83d\\ude00\\q"), "a/bA\n\xF0\x9F\x98\x80\\q");
  EXPECT_EQ(*JsonUnescape("\\u00e9\\u12"), "\xC3\xA9\\u12");
}

TEST(TextCodecs, Base64RunsAndAlphabets) {
  std::string text = "x=SGVsbG8sIHdvcmxkIQ==&y=short&z=SGVsbG8sIHdvcmxkIQ";
  auto runs = FindBase64Runs(text);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(*Base64Decode(text.substr(runs[0].offset, runs[0].length)), "Hello, world!");
  EXPECT_EQ(*Base64Decode(text.substr(runs[1].offset, runs[1].length)), "Hello, world!");
  EXPECT_EQ(*Base64Decode("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(Base64Decode("abcde"), std::nullopt);
  EXPECT_EQ(Base64Decode("ab$d"), std::nullopt);
}

TEST(TextCodecs, HexAndBase32) {
  EXPECT_EQ(*HexDecode("48692e"), "Hi.");
  EXPECT_EQ(HexDecode("486"), std::nullopt);
  EXPECT_EQ(*Base32Decode("JBSWY3DP"), "Hello");
  EXPECT_EQ(*Base32Decode("jbswy3dp"), "Hello");
  EXPECT_EQ(Base32Decode("jbswy3d1"), std::nullopt);
  EXPECT_TRUE(LooksLikeText("hello world"));
  EXPECT_FALSE(LooksLikeText(std::string("\x01\x02\x03\x04xy", 6)));
}

}  // namespace
}  // namespace credsentry::stream::decoders
