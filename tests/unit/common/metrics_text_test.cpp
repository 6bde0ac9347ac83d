#include "common/metrics_text.h"

#include <gtest/gtest.h>

namespace credsentry::metrics {
namespace {

TEST(MetricsText, WritesHelpTypeAndSamplesOncePerFamily) {
  Exposition e;
  e.Add("cs_drops_total", "lost events", MetricType::kCounter, 3, {{"category", "ringbuf_data"}});
  e.Add("cs_queue", "queued", MetricType::kGauge, 7);
  e.Add("cs_drops_total", "ignored: the family has its help", MetricType::kCounter, 0,
        {{"category", "fd_table_full"}});
  EXPECT_EQ(e.Text(),
            "# HELP cs_drops_total lost events\n"
            "# TYPE cs_drops_total counter\n"
            "cs_drops_total{category=\"ringbuf_data\"} 3\n"
            "cs_drops_total{category=\"fd_table_full\"} 0\n"
            "# HELP cs_queue queued\n"
            "# TYPE cs_queue gauge\n"
            "cs_queue 7\n");
}

TEST(MetricsText, EscapesLabelValuesAndHelp) {
  Exposition e;
  e.Add("cs_info", "a \\ b\nc", MetricType::kGauge, 1, {{"v", "q\"x\\y\nz"}});
  EXPECT_EQ(e.Text(),
            "# HELP cs_info a \\\\ b\\nc\n"
            "# TYPE cs_info gauge\n"
            "cs_info{v=\"q\\\"x\\\\y\\nz\"} 1\n");
}

TEST(MetricsText, LargeCountersStayIntegersAndFractionsRoundTrip) {
  Exposition e;
  e.Add("a_total", "h", MetricType::kCounter, 12345678901234.0);
  e.Add("b", "h", MetricType::kGauge, 0.129);
  std::string text = e.Text();
  EXPECT_NE(text.find("a_total 12345678901234\n"), std::string::npos) << text;
  EXPECT_NE(text.find("b 0.129\n"), std::string::npos) << text;
}

TEST(MetricsText, HistogramBucketsAreCumulativeAndEndWithInf) {
  Exposition e;
  HistogramCounts h{{0.001, 0.01}, {2, 3, 1}, 0.05};
  e.AddHistogram("cs_commit_seconds", "commit latency", h);
  EXPECT_EQ(e.Text(),
            "# HELP cs_commit_seconds commit latency\n"
            "# TYPE cs_commit_seconds histogram\n"
            "cs_commit_seconds_bucket{le=\"0.001\"} 2\n"
            "cs_commit_seconds_bucket{le=\"0.01\"} 5\n"
            "cs_commit_seconds_bucket{le=\"+Inf\"} 6\n"
            "cs_commit_seconds_sum 0.05\n"
            "cs_commit_seconds_count 6\n");
}

TEST(MetricsText, MetricNameKeepsOnlyTheFormatsCharacters) {
  EXPECT_EQ(MetricName("kernel_tls:lib-ssl.so"), "kernel_tls_lib_ssl_so");
  EXPECT_EQ(MetricName("3rd"), "_3rd");
  EXPECT_EQ(MetricName(""), "_");
}

}  // namespace
}  // namespace credsentry::metrics
