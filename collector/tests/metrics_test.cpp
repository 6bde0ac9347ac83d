// /metrics of the collector: the names and labels CollectorMetrics gives the ingest and forwarder
// counters, the commit latency the group committer records, and the real binary scraped over
// HTTP while alerts arrive, its page checked by promtool when installed (required under CI=true).
#include "ingest/collector_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "ingest/collector_service.h"
#include "ingest/group_commit.h"
#include "postgres_server.h"
#include "test_support.h"

namespace credsentry::collector {
namespace {

using testing::MakeAlert;
using testing::TempDir;

bool Has(const std::string& page, const std::string& line) {
  return page.find("\n" + line + "\n") != std::string::npos;
}

TEST(CollectorMetrics, IngestCountersAreLabelledByOutcomeAndReason) {
  CounterMap ingest = {{"alerts_received", 10}, {"alerts_stored", 6}, {"alerts_duplicate", 3},
                       {"alerts_rejected", 1},  {"batches_refused", 2}, {"batches_oversized", 1},
                       {"commit_queued_alerts", 40}, {"heartbeats", 5}, {"future_counter", 9}};
  std::string page = "\n" + CollectorMetrics(ingest, {}, {}).Text();
  EXPECT_TRUE(Has(page, "credsentry_collector_alerts_received_total 10")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_alerts_total{outcome=\"stored\"} 6")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_alerts_total{outcome=\"duplicate\"} 3")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_alerts_total{outcome=\"rejected\"} 1")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_batches_refused_total{reason=\"overload\"} 2"));
  EXPECT_TRUE(Has(page, "credsentry_collector_batches_refused_total{reason=\"oversized\"} 1"));
  EXPECT_TRUE(Has(page, "# TYPE credsentry_collector_commit_queue_alerts gauge")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_queue_alerts 40")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_heartbeats_total 5")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_future_counter_total 9")) << page;
  // One HELP per family, whichever of its counters comes first.
  EXPECT_TRUE(Has(page, "# HELP credsentry_collector_alerts_total alerts received, by what "
                        "became of them")) << page;
}

TEST(CollectorMetrics, ForwarderDropsAreLabelledByForwarderAndWhy) {
  std::map<std::string, CounterMap> fwd = {
      {"slack", {{"sent", 4}, {"retries", 2}, {"dropped_gave_up", 1}, {"dropped_queue_full", 0}}}};
  std::string page = "\n" + CollectorMetrics({}, {}, fwd).Text();
  EXPECT_TRUE(Has(page, "credsentry_collector_forwarder_sent_total{forwarder=\"slack\"} 4"));
  EXPECT_TRUE(Has(page, "credsentry_collector_forwarder_retries_total{forwarder=\"slack\"} 2"));
  EXPECT_TRUE(Has(page, "credsentry_collector_forwarder_dropped_total{forwarder=\"slack\","
                        "reason=\"gave_up\"} 1")) << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_forwarder_dropped_total{forwarder=\"slack\","
                        "reason=\"queue_full\"} 0")) << page;
}

TEST(CollectorMetrics, CommitLatencyIsAHistogramInSeconds) {
  CommitLatency latency;
  latency.Observe(0.0004);
  latency.Observe(0.003);
  latency.Observe(7);
  std::string page = "\n" + CollectorMetrics({}, latency.Counts(), {}).Text();
  EXPECT_TRUE(Has(page, "# TYPE credsentry_collector_commit_duration_seconds histogram"));
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_duration_seconds_bucket{le=\"0.0005\"} 1"))
      << page;
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_duration_seconds_bucket{le=\"0.005\"} 2"));
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_duration_seconds_bucket{le=\"5\"} 2"));
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_duration_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(Has(page, "credsentry_collector_commit_duration_seconds_count 3")) << page;
}

TEST(CollectorMetrics, GroupCommitterTimesEveryCommit) {
  TempDir dir;
  auto store = AlertStore::Open(dir / "collector.db");
  ASSERT_TRUE(store.ok()) << store.message();
  GroupCommitter committer(**store, "test");
  for (int i = 0; i < 3; ++i) {
    v1::AlertBatch b;
    *b.add_alerts() = MakeAlert("a" + std::to_string(i), "runner-1");
    ASSERT_TRUE(committer.Store(b).ok());
  }
  auto h = committer.CommitLatencies();
  uint64_t count = 0;
  for (uint64_t c : h.counts) count += c;
  EXPECT_EQ(count, 3u);
  EXPECT_GT(h.sum, 0);
}

// The body of GET /metrics, or "" when the server does not answer 200.
std::string Scrape(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  }
  close(fd);
  if (!out.starts_with("HTTP/1.1 200")) return "";
  auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

TEST(CollectorMetricsE2E, ScrapedWhileAlertsArriveAndAcceptedByPromtool) {
  TempDir dir;
  const int metrics_port = testing::FreePort();
  testing::CollectorProcess collector(
      dir / "collector.db", "", dir / "collector.log",
      {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
  ASSERT_TRUE(collector.Start()) << testing::ReadFile(dir / "collector.log");
  const std::string before = "\n" + Scrape(metrics_port);
  EXPECT_TRUE(Has(before, "credsentry_collector_alerts_received_total 0")) << before;

  auto stub = v1::Collector::NewStub(
      grpc::CreateChannel(collector.address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 4; ++i) {
    v1::AlertBatch batch;
    batch.set_agent_host("runner-1");
    // The last batch resends the first alert: a duplicate.
    *batch.add_alerts() = MakeAlert("m" + std::to_string(i == 3 ? 0 : i), "runner-1");
    grpc::ClientContext ctx;
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
    EXPECT_FALSE(Scrape(metrics_port).empty()) << "scrape during ingest failed";
  }
  const std::string page = Scrape(metrics_port);
  const std::string after = "\n" + page;
  EXPECT_TRUE(Has(after, "credsentry_collector_alerts_received_total 4")) << after;
  EXPECT_TRUE(Has(after, "credsentry_collector_alerts_total{outcome=\"stored\"} 3")) << after;
  EXPECT_TRUE(Has(after, "credsentry_collector_alerts_total{outcome=\"duplicate\"} 1")) << after;
  EXPECT_TRUE(Has(after, "credsentry_collector_commit_duration_seconds_count 4")) << after;
  EXPECT_TRUE(Has(after, "credsentry_collector_commit_queue_alerts 0")) << after;

  const bool ci = std::getenv("CI") && std::string(std::getenv("CI")) == "true";
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    if (ci) FAIL() << "promtool missing under CI=true (Debian package prometheus)";
    GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  }
  std::ofstream(dir / "page.txt") << page;
  auto check = testing::RunCommand("promtool check metrics < " + std::string(dir / "page.txt") +
                                   "; echo rc=$?");
  EXPECT_NE(check.find("rc=0"), std::string::npos) << check;
}

TEST(CollectorMetricsE2E, ANonLoopbackAddressIsRefusedNamingTheFlag) {
  auto r = testing::RunCollectorCli("serve --insecure --db /nonexistent/x.db --metrics-listen "
                                    "0.0.0.0:9464");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("not a loopback address"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--metrics-allow-remote"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace credsentry::collector
