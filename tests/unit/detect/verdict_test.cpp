#include <gtest/gtest.h>

#include "detect/verdict.h"

namespace credsentry::detect {
namespace {

using N = alert::NameSource;
using T = alert::Transport;

catalogue::CredentialKind OpenAi() {
  catalogue::CredentialKind k;
  k.id = "openai-project-key";
  k.name = "OpenAI project API key";
  k.destinations = {"api.openai.com", "*.openai.azure.com"};
  return k;
}

TEST(Judge, ExpectedHostIsQuiet) {
  EXPECT_FALSE(Judge(OpenAi(), {"api.openai.com", "127.0.0.1", 443, T::kTls, N::kSni}).alert);
  EXPECT_FALSE(Judge(OpenAi(), {"API.OpenAI.com.", "", 443, T::kTls, N::kSni}).alert);
  EXPECT_FALSE(Judge(OpenAi(), {"x.openai.azure.com", "", 443, T::kTls, N::kSni}).alert);
}

TEST(Judge, UnexpectedHostOrBareIpAlerts) {
  auto v = Judge(OpenAi(), {"exfil.test", "127.0.0.1", 443, T::kTls, N::kSni});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("exfil.test"), std::string::npos);
  v = Judge(OpenAi(), {"", "127.0.0.1", 8080, T::kTcp, N::kIp});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("127.0.0.1"), std::string::npos);
  // A look-alike suffix is not the provider.
  EXPECT_TRUE(Judge(OpenAi(), {"api.openai.com.evil.test", "", 443, T::kTls, N::kSni}).alert);
}

// A gateway allowed by address matches however the rule writes it; the destination's text is
// canonical (IPv6 compressed and lower case, v4-mapped as the dotted quad).
TEST(Judge, AddressAllowListMatchesAnyWrittenForm) {
  catalogue::CredentialKind k = OpenAi();
  k.destinations = {"FD00:C5:0::1", "[::1]", "::ffff:10.0.0.5"};
  EXPECT_FALSE(Judge(k, {"", "fd00:c5::1", 443, T::kTcp, N::kIp}).alert);
  EXPECT_FALSE(Judge(k, {"", "::1", 443, T::kTcp, N::kIp}).alert);
  EXPECT_FALSE(Judge(k, {"", "10.0.0.5", 443, T::kTcp, N::kIp}).alert);
  EXPECT_TRUE(Judge(k, {"", "fd00:c5::2", 443, T::kTcp, N::kIp}).alert);
}

TEST(Judge, NeverSentKindsAlwaysAlert) {
  catalogue::CredentialKind k;
  k.name = "AWS secret access key";
  k.never_sent = true;
  auto v = Judge(k, {"sts.amazonaws.com", "", 443, T::kTls, N::kSni});
  EXPECT_TRUE(v.alert);
  EXPECT_NE(v.reason.find("never"), std::string::npos);
}

// An unknown destination is a finding of its own, with the resolver's reason in its summary.
TEST(Judge, UnknownDestinationSaysWhyAndIsMarked) {
  auto v = Judge(OpenAi(), alert::Destination{}, "the TLS write could not be tied to a socket");
  EXPECT_TRUE(v.alert);
  EXPECT_TRUE(v.destination_unknown);
  EXPECT_NE(v.reason.find("could not be tied to a socket"), std::string::npos) << v.reason;
  EXPECT_NE(Judge(OpenAi(), alert::Destination{}).reason.find("no connection was seen"),
            std::string::npos);
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
