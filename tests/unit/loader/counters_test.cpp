#include "loader/counters.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "credsentry_abi.h"

namespace credsentry::loader {
namespace {

TEST(CounterNames, EveryKernelCounterHasAUniqueSnakeCaseName) {
  std::set<std::string_view> seen;
  ASSERT_EQ(CounterCount(), static_cast<uint32_t>(CS_CNT__COUNT));
  for (uint32_t i = 0; i < CounterCount(); ++i) {
    std::string_view name = CounterName(i);
    ASSERT_FALSE(name.empty()) << "counter " << i;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos)
        << name;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
  }
}

TEST(CounterNames, DropCountersAreNamedForWhatWasLost) {
  EXPECT_EQ(CounterName(CS_CNT_RB_DROP_CONTROL), "ringbuf_drop_control");
  EXPECT_EQ(CounterName(CS_CNT_RB_DROP_DATA), "ringbuf_drop_data");
  EXPECT_EQ(CounterName(CS_CNT_TRUNC_TLS), "truncated_tls_write");
  EXPECT_EQ(CounterName(CS_CNT_OUT_OF_SCOPE_TLS), "out_of_scope_tls");
  EXPECT_EQ(CounterName(CS_CNT_EVENTS_DATA), "events_data");
}

TEST(CounterNames, OutOfRangeIndexHasNoName) {
  EXPECT_EQ(CounterName(CS_CNT__COUNT), "");
  EXPECT_EQ(CounterName(~0u), "");
}

}  // namespace
}  // namespace credsentry::loader
