// The spool's record bytes: what Spool writes it must read back, and a damaged record must end
// the walk where the good data ends.
#include "report/spool_records.h"

#include <gtest/gtest.h>

namespace credsentry::report::spool_records {
namespace {

TEST(SpoolRecords, AlertBodyReadsBackItsKeyAndPayloadOffset) {
  const std::string payload("ser\0ialized", 11);
  const std::string raw = Frame(AlertBody(7, alert::Severity::kMedium, "host-1:42", payload));
  std::vector<AlertRecordKey> keys;
  size_t good = ForEachRecord(raw, [&](size_t offset, const std::string& body, uint32_t len) {
    EXPECT_EQ(offset, 0u);
    EXPECT_EQ(len, raw.size());
    auto key = ParseAlertBody(body);
    ASSERT_TRUE(key.has_value());
    keys.push_back(*key);
  });
  EXPECT_EQ(good, raw.size());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].seq, 7u);
  EXPECT_EQ(keys[0].severity, alert::Severity::kMedium);
  EXPECT_EQ(keys[0].id, "host-1:42");
  EXPECT_EQ(raw.substr(AlertPayloadOffset(keys[0].id.size())), payload);
}

TEST(SpoolRecords, TombstoneBodyListsItsIds) {
  const std::vector<std::string> ids = {"a", "host-1:42", std::string(300, 'x')};
  EXPECT_EQ(ParseTombstoneBody(TombstoneBody(ids)), ids);
  EXPECT_FALSE(ParseAlertBody(TombstoneBody(ids)).has_value());
}

TEST(SpoolRecords, WalkStopsAtAFlippedBitAndAtATornTail) {
  const std::string first = Frame(AlertBody(1, alert::Severity::kLow, "a", "payload-a"));
  const std::string second = Frame(AlertBody(2, alert::Severity::kHigh, "b", "payload-b"));
  int seen = 0;
  auto count = [&](size_t, const std::string&, uint32_t) { ++seen; };

  std::string flipped = first + second;
  flipped[first.size() + kHeader + 3] ^= 0x10;
  EXPECT_EQ(ForEachRecord(flipped, count), first.size());
  EXPECT_EQ(seen, 1);

  seen = 0;
  const std::string torn = first + second.substr(0, second.size() - 1);
  EXPECT_EQ(ForEachRecord(torn, count), first.size());
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace credsentry::report::spool_records
