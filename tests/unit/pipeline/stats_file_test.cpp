#include "pipeline/stats_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../config/temp_dir.h"

namespace credsentry::pipeline {
namespace {

class CountingSink : public report::AlertSink {
 public:
  std::string Name() const override { return "file"; }
  Status Write(const alert::Alert&) override { return Status::Ok(); }
  std::map<std::string, uint64_t> Counters() const override { return {{"written", 7}}; }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(StatsFile, HoldsTheRulesVersionAndEachComponentsCounters) {
  std::vector<std::unique_ptr<report::AlertSink>> sinks;
  sinks.push_back(std::make_unique<CountingSink>());
  auto doc = StatsDocument("sha256:abc", {{"ringbuf_drops", 2}}, {{"alerts", 1}}, sinks);
  EXPECT_EQ(doc["rules_version"], "sha256:abc");
  EXPECT_EQ(doc["kernel"]["ringbuf_drops"], 2);
  EXPECT_EQ(doc["pipeline"]["alerts"], 1);
  EXPECT_EQ(doc["sinks"]["file"]["written"], 7);
}

TEST(StatsFile, ReplacesTheFileWholeAndLeavesNoTemporaryBehind) {
  testing::TempDir dir;
  const std::string path = dir.Write("stats.json", "{\"old\": true}\n");
  std::vector<std::unique_ptr<report::AlertSink>> sinks;
  StatsFileWriter writer;
  writer.Write(path, StatsDocument("v1", {{"events", 5}}, {}, sinks));
  auto written = nlohmann::json::parse(ReadAll(path));
  EXPECT_EQ(written["rules_version"], "v1");
  EXPECT_EQ(written["kernel"]["events"], 5);
  EXPECT_FALSE(written.contains("old"));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(StatsFile, AnUnwritableDirectoryIsNotFatal) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/missing/stats.json";
  StatsFileWriter writer;
  writer.Write(path, nlohmann::json{{"rules_version", "v1"}});
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(writer.failures(), 1u);
}

TEST(StatsFile, AFailedRenameIsCountedNotThrownAndTheNextGoodWriteLands) {
  testing::TempDir dir;
  // A directory where the file should be: the document is written beside it, then the rename
  // over a non-empty directory fails, as it would every second.
  const std::string path = dir.path() + "/stats.json";
  std::filesystem::create_directories(path + "/in-the-way");
  StatsFileWriter writer;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NO_THROW(writer.Write(path, nlohmann::json{{"rules_version", "v1"}}));
  }
  EXPECT_EQ(writer.failures(), 3u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));  // nothing left beside it either
  std::filesystem::remove_all(path);
  writer.Write(path, nlohmann::json{{"rules_version", "v2"}});
  EXPECT_EQ(nlohmann::json::parse(ReadAll(path))["rules_version"], "v2");
  EXPECT_EQ(writer.failures(), 3u);
}

TEST(StatsFile, HeartbeatsNameKernelCountersApart) {
  auto flat = FlatCounters({{"events", 5}}, {{"events", 9}, {"alerts", 1}});
  EXPECT_EQ(flat, (CounterMap{{"kernel_events", 5}, {"events", 9}, {"alerts", 1}}));
  StatsSnapshot snapshot;
  snapshot.Set(flat);
  EXPECT_EQ(snapshot.Get(), flat);
}

nlohmann::json Losses(uint64_t ringbuf_drops, uint64_t undecodable, uint64_t sink_failed) {
  return {{"kernel", {{"ringbuf_drop_data", ringbuf_drops}, {"events", 100}}},
          {"pipeline", {{"records_undecodable", undecodable}, {"alerts", 3}}},
          {"sinks", {{"file", {{"written", 3}, {"failed", sink_failed}}}}}};
}

TEST(LossSummary, SaysNothingWhileNothingIsLost) {
  LossSummary summary;
  EXPECT_FALSE(summary.Observe(Losses(0, 0, 0), 1).has_value());
  EXPECT_FALSE(summary.Observe(Losses(0, 0, 0), 2 * LossSummary::kIntervalNs).has_value());
}

TEST(LossSummary, NamesWhatGrewAtMostOnceAMinute) {
  LossSummary summary;
  auto first = summary.Observe(Losses(12, 0, 1), 1000);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first,
            "counters: file sink failed +1, kernel ringbuf_drop_data +12 (all counters: "
            "--stats-file, --metrics-listen)");
  // More drops a second later wait for the minute; then only the growth since is named.
  EXPECT_FALSE(summary.Observe(Losses(20, 1, 1), 1000 + 1'000'000'000ull).has_value());
  auto later = summary.Observe(Losses(20, 1, 1), 1000 + LossSummary::kIntervalNs);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(*later,
            "counters: kernel ringbuf_drop_data +8, records_undecodable +1 (all counters: "
            "--stats-file, --metrics-listen)");
  EXPECT_EQ(later->find("events"), std::string::npos);
}

}  // namespace
}  // namespace credsentry::pipeline
