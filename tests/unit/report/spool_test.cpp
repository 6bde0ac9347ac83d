// The collector spool: bytes on disk, restarts, torn tails, bounds and drop policy.
#include "report/spool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace credsentry::report {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "spool-test-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Spool> Open(uint64_t max_bytes = 1 << 20) {
    SpoolOptions opts;
    opts.dir = dir_ + "/spool";
    opts.max_bytes = max_bytes;
    auto s = Spool::Open(opts);
    EXPECT_TRUE(s.ok()) << s.message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::vector<std::string> Ids(Spool& s) {
    std::vector<std::string> ids;
    auto records = s.Oldest(100000, 1 << 30);
    EXPECT_TRUE(records.ok()) << records.message();
    for (const auto& r : *records) ids.push_back(r.id);
    return ids;
  }
  uint64_t FilesBytes() {
    uint64_t total = 0;
    for (const auto& e : fs::directory_iterator(dir_ + "/spool")) total += e.file_size();
    return total;
  }
  std::string dir_;
};

TEST_F(SpoolTest, ReplaysOldestFirstAcrossRestartWithPayloadIntact) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append("a", alert::Severity::kHigh, "payload-a").ok());
    ASSERT_TRUE(s->Append("b", alert::Severity::kLow, std::string("pay\0load-b", 10)).ok());
    ASSERT_TRUE(s->Append("c", alert::Severity::kCritical, "payload-c").ok());
  }
  auto s = Open();
  auto recs = s->Oldest(10, 1 << 20);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0].id, "a");
  EXPECT_EQ((*recs)[0].payload, "payload-a");
  EXPECT_EQ((*recs)[1].payload, std::string("pay\0load-b", 10));
  EXPECT_EQ((*recs)[1].severity, alert::Severity::kLow);
  EXPECT_EQ((*recs)[2].id, "c");
  EXPECT_LT((*recs)[0].seq, (*recs)[2].seq);
}

TEST_F(SpoolTest, AcknowledgedIdsStayGoneAfterRestartAndDiskIsReclaimed) {
  {
    auto s = Open();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(s->Append("id-" + std::to_string(i), alert::Severity::kHigh, std::string(200, 'x')).ok());
    }
    std::vector<std::string> acked;
    for (int i = 0; i < 50; i += 2) acked.push_back("id-" + std::to_string(i));
    ASSERT_TRUE(s->Remove(acked).ok());
    EXPECT_EQ(s->pending(), 25u);
  }
  {
    auto s = Open();
    auto ids = Ids(*s);
    ASSERT_EQ(ids.size(), 25u);
    EXPECT_EQ(ids.front(), "id-1");
    EXPECT_EQ(ids.back(), "id-49");
    ASSERT_TRUE(s->Remove(ids).ok());
    EXPECT_EQ(s->pending(), 0u);
  }
  auto s = Open();
  EXPECT_EQ(s->pending(), 0u);
  EXPECT_EQ(FilesBytes(), 0u);  // everything acknowledged: nothing left on disk
}

TEST_F(SpoolTest, SecondAppendOfAPendingIdIsIgnored) {
  auto s = Open();
  ASSERT_TRUE(s->Append("same", alert::Severity::kHigh, "1").ok());
  ASSERT_TRUE(s->Append("same", alert::Severity::kHigh, "2").ok());
  EXPECT_EQ(s->pending(), 1u);
  EXPECT_EQ(s->Counters()["duplicate"], 1u);
}

TEST_F(SpoolTest, TornTailIsCutAndEarlierRecordsSurvive) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append("whole-1", alert::Severity::kHigh, "p1").ok());
    ASSERT_TRUE(s->Append("whole-2", alert::Severity::kHigh, "p2").ok());
  }
  // The agent died halfway through writing a record: half a header and some bytes.
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir_ + "/spool")) {
    if (e.path().extension() == ".log" && e.file_size() > 0) seg = e.path();
  }
  ASSERT_FALSE(seg.empty());
  {
    std::ofstream out(seg, std::ios::app | std::ios::binary);
    out.write("\x43\x53\x52\x31\x40\x00\x00\x00garbage", 15);
  }
  auto s = Open();
  EXPECT_EQ(Ids(*s), (std::vector<std::string>{"whole-1", "whole-2"}));
  EXPECT_EQ(s->Counters()["corrupt_tail"], 1u);
  ASSERT_TRUE(s->Append("after", alert::Severity::kHigh, "p3").ok());
  auto again = Open();
  EXPECT_EQ(Ids(*again), (std::vector<std::string>{"whole-1", "whole-2", "after"}));
}

TEST_F(SpoolTest, FlippedBitIsDetectedByTheCrc) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append("one", alert::Severity::kHigh, "payload-one").ok());
  }
  for (const auto& e : fs::directory_iterator(dir_ + "/spool")) {
    if (e.path().extension() != ".log" || e.file_size() == 0) continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('Z');
  }
  auto s = Open();
  EXPECT_EQ(s->pending(), 0u);
  EXPECT_EQ(s->Counters()["corrupt_tail"], 1u);
}

TEST_F(SpoolTest, FullSpoolDropsOldestLowSeverityFirstAndKeepsCritical) {
  const uint64_t max = 64 * 1024;
  auto s = Open(max);
  const std::string body(1000, 'p');
  // Interleave: critical every 4th, the rest low/medium/high.
  for (int i = 0; i < 200; ++i) {
    alert::Severity sev = i % 4 == 0 ? alert::Severity::kCritical : static_cast<alert::Severity>(i % 3);
    ASSERT_TRUE(s->Append("a" + std::to_string(i), sev, body).ok()) << i;
    ASSERT_LE(s->bytes_on_disk(), max);
    ASSERT_LE(FilesBytes(), max);
  }
  auto counters = s->Counters();
  EXPECT_GT(counters["dropped_full"], 0u);
  EXPECT_EQ(counters["dropped_full"], 200 - s->pending());
  auto ids = Ids(*s);
  std::set<std::string> kept(ids.begin(), ids.end());
  for (int i = 0; i < 200; i += 4) EXPECT_TRUE(kept.count("a" + std::to_string(i))) << i;
  // Low ones go before medium ones, medium before high: the newest high survives.
  EXPECT_GE(counters["dropped_full_low"], counters["dropped_full_high"]);
  EXPECT_TRUE(kept.count("a199"));
  // The same holds after a restart.
  s.reset();
  auto again = Open(max);
  EXPECT_EQ(Ids(*again), ids);
}

TEST_F(SpoolTest, OnlyCriticalLeftRefusesNewAlertWithClearError) {
  const uint64_t max = 64 * 1024;
  auto s = Open(max);
  const std::string body(4000, 'c');
  int accepted = 0;
  Status last;
  for (int i = 0; i < 40; ++i) {
    last = s->Append("crit" + std::to_string(i), alert::Severity::kCritical, body);
    if (last.ok()) ++accepted;
  }
  ASSERT_FALSE(last.ok());
  EXPECT_NE(last.message().find("full of critical alerts"), std::string::npos) << last.message();
  EXPECT_EQ(s->pending(), static_cast<size_t>(accepted));
  EXPECT_EQ(s->Counters()["refused_full"], 40u - accepted);
  EXPECT_EQ(Ids(*s).front(), "crit0");  // the oldest critical alerts are kept
}

TEST_F(SpoolTest, WriteErrorIsReportedAndCountedAndSpoolKeepsWorking) {
  auto s = Open();
  ASSERT_TRUE(s->Append("before", alert::Severity::kHigh, "x").ok());
  // A file-size limit makes write() fail like a full disk does, without touching the host.
  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit tiny = old;
  tiny.rlim_cur = 200;
  setrlimit(RLIMIT_FSIZE, &tiny);
  Status st = s->Append("too-big", alert::Severity::kHigh, std::string(4096, 'y'));
  setrlimit(RLIMIT_FSIZE, &old);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/spool"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("File too large"), std::string::npos) << st.message();
  EXPECT_EQ(s->Counters()["io_errors"], 1u);
  ASSERT_TRUE(s->Append("after", alert::Severity::kHigh, "z").ok());
  auto again = Open();
  EXPECT_EQ(Ids(*again), (std::vector<std::string>{"before", "after"}));
}

TEST_F(SpoolTest, UnusableDirectoryIsAClearError) {
  SpoolOptions opts;
  opts.dir = "/proc/credsentry-spool";
  auto s = Spool::Open(opts);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/credsentry-spool"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace credsentry::report
