// Where a tainted process may still connect in prevent mode: DNS answers for a credential file's
// expected names allow their addresses for that file's bit, for the answer's TTL (clamped); a
// full table evicts the grant that ends soonest and says so, so the kernel forgets it too.
#include <gtest/gtest.h>

#include "detect/egress_policy.h"

namespace credsentry::detect {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

catalogue::RuleSet TwoFiles() {
  catalogue::RuleSet rules;
  rules.files.push_back({.id = "aws-credentials", .destinations = {"*.amazonaws.com"}});
  rules.files.push_back({.id = "npmrc", .destinations = {"registry.npmjs.org"}});
  return rules;
}

TEST(EgressPolicy, AnswersForExpectedNamesAllowTheirFilesBitForTheClampedTtl) {
  EgressPolicy policy;
  policy.SetRules(TwoFiles(), {"*.pkg.dev"});
  auto u = policy.OnAnswer("192.0.2.1", "sts.amazonaws.com", 5, 100 * kSecond);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].ip, "192.0.2.1");
  EXPECT_EQ(u[0].creds, 1u);                            // the first file's bit
  EXPECT_EQ(u[0].expires_mono_ns, 130 * kSecond);       // 5 s kept at least 30 s
  u = policy.OnAnswer("192.0.2.2", "registry.npmjs.org", 86400, 0);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].creds, 2u);
  EXPECT_EQ(u[0].expires_mono_ns, 3600 * kSecond);      // a day kept at most an hour
  u = policy.OnAnswer("192.0.2.3", "europe-docker.pkg.dev", 60, 0);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].creds, EgressPolicy::kAllCreds);        // egress.allow: every process
  EXPECT_TRUE(policy.OnAnswer("192.0.2.4", "exfil.test", 60, 0).empty());
  EXPECT_EQ(policy.counters().block_answers_unexpected, 1u);
}

TEST(EgressPolicy, AFullTableEvictsTheSoonestGrantAndTellsTheKernelToForgetIt) {
  EgressPolicy policy({.max_addresses = 2});
  policy.SetRules(TwoFiles(), {});
  policy.OnAnswer("192.0.2.1", "s3.amazonaws.com", 600, 0);
  policy.OnAnswer("192.0.2.2", "sts.amazonaws.com", 60, 0);
  auto u = policy.OnAnswer("192.0.2.3", "registry.npmjs.org", 300, 0);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].ip, "192.0.2.2");  // ends soonest: forgotten in the kernel first
  EXPECT_EQ(u[0].creds, 0u);
  EXPECT_EQ(u[1].ip, "192.0.2.3");
  EXPECT_EQ(policy.size(), 2u);
  EXPECT_EQ(policy.counters().block_addresses_evicted, 1u);
  // Expiry forgets what is over, and only that.
  auto gone = policy.Expire(400 * kSecond);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].ip, "192.0.2.3");
  EXPECT_EQ(gone[0].creds, 0u);
}

}  // namespace
}  // namespace credsentry::detect
