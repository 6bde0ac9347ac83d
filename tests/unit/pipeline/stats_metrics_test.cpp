#include "pipeline/stats_metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "pipeline/stats_file.h"

namespace credsentry::pipeline {
namespace {

class CollectorLikeSink : public report::AlertSink {
 public:
  std::string Name() const override { return "collector"; }
  Status Write(const alert::Alert&) override { return Status::Ok(); }
  std::map<std::string, uint64_t> Counters() const override {
    return {{"sent", 4}, {"send_failures", 2}, {"pending", 3}, {"spool_bytes", 2048}};
  }
};

nlohmann::json Document() {
  std::vector<std::unique_ptr<report::AlertSink>> sinks;
  sinks.push_back(std::make_unique<CollectorLikeSink>());
  CounterMap kernel = {{"ringbuf_drop_data", 5},       {"fd_table_full", 1},
                       {"truncated_tls_write", 2},     {"truncated_capture_budget", 0},
                       {"events_control", 40},         {"events_data", 9},
                       {"tls_libraries_hooked", 3},    {"go_binaries_hooked", 1},
                       {"exe_attach_scan_ms", 129},    {"exe_attach_exec_to_attach_us_max", 250}};
  CounterMap pipeline = {{"alerts", 1}, {"records", 49}, {"processes", 6},
                         {"matcher_matches", 2}, {"dns_messages", 1}};
  return StatsDocument("sha256:abc", kernel, pipeline, sinks);
}

const metrics::Sample* Find(const metrics::Exposition& e, const std::string& family,
                            const metrics::Labels& labels = {}) {
  for (const auto& f : e.families()) {
    if (f.name != family) continue;
    for (const auto& s : f.samples) {
      if (s.labels == labels) return &s;
    }
  }
  return nullptr;
}

metrics::MetricType TypeOf(const metrics::Exposition& e, const std::string& family) {
  for (const auto& f : e.families()) {
    if (f.name == family) return f.type;
  }
  ADD_FAILURE() << "no family " << family;
  return metrics::MetricType::kHistogram;
}

TEST(StatsMetrics, EveryNumberOfTheStatsFileIsOneSample) {
  nlohmann::json doc = Document();
  size_t numbers = 0;
  for (const auto& section : {"kernel", "pipeline"}) numbers += doc[section].size();
  for (const auto& [sink, counters] : doc["sinks"].items()) numbers += counters.size();
  auto e = StatsMetrics(doc);
  size_t samples = 0;
  std::set<std::string> series;
  for (const auto& f : e.families()) {
    for (const auto& s : f.samples) {
      ++samples;
      std::string id = f.name;
      for (const auto& [k, v] : s.labels) id += "," + k + "=" + v;
      EXPECT_TRUE(series.insert(id).second) << "two samples are " << id;
    }
  }
  EXPECT_EQ(samples, numbers + 1);  // + rules_info
}

TEST(StatsMetrics, KernelDropsAndTruncationsAreLabelledByCategory) {
  auto e = StatsMetrics(Document());
  const auto* drop = Find(e, "credsentry_agent_kernel_drops_total", {{"category", "ringbuf_data"}});
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->value, 5);
  ASSERT_TRUE(Find(e, "credsentry_agent_kernel_drops_total", {{"category", "fd_table_full"}}));
  const auto* trunc =
      Find(e, "credsentry_agent_kernel_truncations_total", {{"category", "tls_write"}});
  ASSERT_TRUE(trunc);
  EXPECT_EQ(trunc->value, 2);
  const auto* events = Find(e, "credsentry_agent_kernel_events_total", {{"ring", "control"}});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->value, 40);
  EXPECT_EQ(TypeOf(e, "credsentry_agent_kernel_drops_total"), metrics::MetricType::kCounter);
}

TEST(StatsMetrics, CountersEndInTotalAndSizesAreGauges) {
  auto e = StatsMetrics(Document());
  const auto* alerts = Find(e, "credsentry_agent_pipeline_alerts_total");
  ASSERT_TRUE(alerts);
  EXPECT_EQ(alerts->value, 1);
  ASSERT_TRUE(Find(e, "credsentry_agent_pipeline_matcher_matches_total"));
  ASSERT_TRUE(Find(e, "credsentry_agent_kernel_go_binaries_hooked_total"));
  EXPECT_EQ(TypeOf(e, "credsentry_agent_pipeline_processes"), metrics::MetricType::kGauge);
  EXPECT_EQ(TypeOf(e, "credsentry_agent_kernel_tls_libraries_hooked"),
            metrics::MetricType::kGauge);
  for (const auto& f : e.families()) {
    EXPECT_EQ(f.type == metrics::MetricType::kCounter, f.name.ends_with("_total")) << f.name;
  }
}

TEST(StatsMetrics, PipelineCountersCarryTheirDescription) {
  auto e = StatsMetrics(Document());
  for (const auto& f : e.families()) {
    if (f.name == "credsentry_agent_pipeline_records_total") {
      EXPECT_EQ(f.help, "ring-buffer records handed to Handle()");
      return;
    }
  }
  FAIL() << "no records counter";
}

TEST(StatsMetrics, UnitAbbreviationsBecomeSeconds) {
  auto e = StatsMetrics(Document());
  const auto* scan = Find(e, "credsentry_agent_kernel_exe_attach_scan_seconds");
  ASSERT_TRUE(scan);
  EXPECT_DOUBLE_EQ(scan->value, 0.129);
  const auto* attach = Find(e, "credsentry_agent_kernel_exe_attach_exec_to_attach_seconds_max");
  ASSERT_TRUE(attach);
  EXPECT_DOUBLE_EQ(attach->value, 0.00025);
  // "_messages" holds "_m" but no unit.
  ASSERT_TRUE(Find(e, "credsentry_agent_pipeline_dns_messages_total"));
}

TEST(StatsMetrics, SinksAreLabelledAndTheSpoolIsAGauge) {
  auto e = StatsMetrics(Document());
  const auto* failures =
      Find(e, "credsentry_agent_sink_send_failures_total", {{"sink", "collector"}});
  ASSERT_TRUE(failures);
  EXPECT_EQ(failures->value, 2);
  const auto* depth = Find(e, "credsentry_agent_sink_spool_pending_alerts", {{"sink", "collector"}});
  ASSERT_TRUE(depth);
  EXPECT_EQ(depth->value, 3);
  const auto* bytes = Find(e, "credsentry_agent_sink_spool_bytes", {{"sink", "collector"}});
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->value, 2048);
  EXPECT_EQ(TypeOf(e, "credsentry_agent_sink_spool_bytes"), metrics::MetricType::kGauge);
}

TEST(StatsMetrics, RulesVersionIsAnInfoGauge) {
  auto e = StatsMetrics(Document());
  const auto* info = Find(e, "credsentry_agent_rules_info", {{"rules_version", "sha256:abc"}});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->value, 1);
}

TEST(MetricsPage, HandsOverTheLatestText) {
  MetricsPage page;
  EXPECT_EQ(page.Get(), "");
  page.Set("a 1\n");
  page.Set("a 2\n");
  EXPECT_EQ(page.Get(), "a 2\n");
}

}  // namespace
}  // namespace credsentry::pipeline
