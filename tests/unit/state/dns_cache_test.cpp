#include "state/dns_cache.h"

#include <gtest/gtest.h>

namespace credsentry::state {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

TEST(DnsCache, NamesAnAddressWithinItsTtlOnly) {
  DnsCache cache;  // TTLs clamped to [60 s, 3600 s]
  cache.Add("127.0.0.7", "exfil-dns.test", 300, 10 * kSecond);
  EXPECT_EQ(cache.Lookup("127.0.0.7", 309 * kSecond).value_or(""), "exfil-dns.test");
  EXPECT_FALSE(cache.Lookup("127.0.0.8", 11 * kSecond).has_value());
  EXPECT_FALSE(cache.Lookup("127.0.0.7", 311 * kSecond).has_value());
  EXPECT_EQ(cache.expired(), 1u);
  EXPECT_EQ(cache.size(), 0u) << "an expired entry is dropped when found";
}

TEST(DnsCache, TtlIsClampedToTheConfiguredRange) {
  DnsCache cache({.max_entries = 16, .min_ttl_s = 60, .max_ttl_s = 3600});
  cache.Add("10.0.0.1", "zero-ttl.test", 0, 0);
  cache.Add("10.0.0.2", "week-ttl.test", 7 * 24 * 3600, 0);
  EXPECT_TRUE(cache.Lookup("10.0.0.1", 59 * kSecond).has_value()) << "TTL 0 still names the "
                                                                     "connection made right after";
  EXPECT_FALSE(cache.Lookup("10.0.0.1", 61 * kSecond).has_value());
  EXPECT_TRUE(cache.Lookup("10.0.0.2", 3599 * kSecond).has_value());
  EXPECT_FALSE(cache.Lookup("10.0.0.2", 3601 * kSecond).has_value());
}

TEST(DnsCache, BoundedLeastRecentlyUsedFirst) {
  DnsCache cache({.max_entries = 3, .min_ttl_s = 60, .max_ttl_s = 3600});
  cache.Add("10.0.0.1", "a.test", 300, 0);
  cache.Add("10.0.0.2", "b.test", 300, 0);
  cache.Add("10.0.0.3", "c.test", 300, 0);
  ASSERT_TRUE(cache.Lookup("10.0.0.1", 1).has_value());  // a.test is now the most recent
  cache.Add("10.0.0.4", "d.test", 300, 2);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evicted(), 1u);
  EXPECT_FALSE(cache.Lookup("10.0.0.2", 3).has_value()) << "least recently used goes first";
  EXPECT_TRUE(cache.Lookup("10.0.0.1", 3).has_value());
  EXPECT_TRUE(cache.Lookup("10.0.0.4", 3).has_value());
  for (int i = 0; i < 1000; ++i) cache.Add("10.1.0." + std::to_string(i), "x.test", 300, 4);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evicted(), 1001u);
}

TEST(DnsCache, NewerAnswerForTheSameAddressWins) {
  DnsCache cache;
  cache.Add("127.0.0.9", "old.test", 300, 0);
  cache.Add("127.0.0.9", "new.test", 120, 100 * kSecond);
  EXPECT_EQ(cache.Lookup("127.0.0.9", 101 * kSecond).value_or(""), "new.test");
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Lookup("127.0.0.9", 219 * kSecond).has_value()) << "TTL restarts";
  cache.Add("", "empty-ip.test", 300, 0);
  cache.Add("127.0.0.10", "", 300, 0);
  EXPECT_EQ(cache.size(), 1u) << "empty addresses or names are not stored";
}

}  // namespace
}  // namespace credsentry::state
