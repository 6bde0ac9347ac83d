#include <gtest/gtest.h>

#include "detect/verdict.h"

namespace credsentry::detect {
namespace {

catalogue::CredentialKind OpenAi() {
  catalogue::CredentialKind k;
  k.id = "openai-project-key";
  k.name = "OpenAI project API key";
  k.destinations = {"api.openai.com", "*.openai.azure.com"};
  return k;
}

TEST(Judge, ExpectedHostIsQuiet) {
  EXPECT_FALSE(Judge(OpenAi(), {"api.openai.com", "sni", "127.0.0.1", 443, "tls"}).alert);
  EXPECT_FALSE(Judge(OpenAi(), {"API.OpenAI.com.", "sni", "", 443, "tls"}).alert);
  EXPECT_FALSE(Judge(OpenAi(), {"x.openai.azure.com", "sni", "", 443, "tls"}).alert);
}

TEST(Judge, UnexpectedHostOrBareIpAlerts) {
  auto v = Judge(OpenAi(), {"exfil.test", "sni", "127.0.0.1", 443, "tls"});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("exfil.test"), std::string::npos);
  v = Judge(OpenAi(), {"", "ip", "127.0.0.1", 8080, "tcp"});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("127.0.0.1"), std::string::npos);
  // A look-alike suffix is not the provider.
  EXPECT_TRUE(Judge(OpenAi(), {"api.openai.com.evil.test", "sni", "", 443, "tls"}).alert);
}

// A gateway allowed by address matches however the rule writes it; the destination's text is
// canonical (IPv6 compressed and lower case, v4-mapped as the dotted quad).
TEST(Judge, AddressAllowListMatchesAnyWrittenForm) {
  catalogue::CredentialKind k = OpenAi();
  k.destinations = {"FD00:C5:0::1", "[::1]", "::ffff:10.0.0.5"};
  EXPECT_FALSE(Judge(k, {"", "ip", "fd00:c5::1", 443, "tcp"}).alert);
  EXPECT_FALSE(Judge(k, {"", "ip", "::1", 443, "tcp"}).alert);
  EXPECT_FALSE(Judge(k, {"", "ip", "10.0.0.5", 443, "tcp"}).alert);
  EXPECT_TRUE(Judge(k, {"", "ip", "fd00:c5::2", 443, "tcp"}).alert);
}

TEST(Judge, NeverSentKindsAlwaysAlert) {
  catalogue::CredentialKind k;
  k.name = "AWS secret access key";
  k.never_sent = true;
  auto v = Judge(k, {"sts.amazonaws.com", "sni", "", 443, "tls"});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("never"), std::string::npos);
}

TEST(Deduplicator, SuppressesWithinWindowOnly) {
  Deduplicator d(100, 10);
  EXPECT_TRUE(d.FirstTime("a", 0));
  EXPECT_FALSE(d.FirstTime("a", 50));
  EXPECT_TRUE(d.FirstTime("b", 60));
  EXPECT_TRUE(d.FirstTime("a", 200));
  EXPECT_EQ(d.suppressed(), 1u);
}

TEST(Deduplicator, BoundedKeys) {
  Deduplicator d(1000000, 4);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(d.FirstTime(std::to_string(i), 1));
  EXPECT_TRUE(d.FirstTime("0", 2));  // forgotten: the table holds the newest 4 only
  EXPECT_FALSE(d.FirstTime("99", 3));
}

}  // namespace
}  // namespace credsentry::detect
