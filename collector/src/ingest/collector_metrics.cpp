#include "ingest/collector_metrics.h"

#include <string_view>

namespace credsentry::collector {
namespace {

using metrics::MetricType;

const std::string kPrefix = "credsentry_collector_";

struct Mapped {
  std::string family;  // without the prefix
  MetricType type;
  std::string help;
  metrics::Labels labels;
};

// The ingest counters by name (collector_service.cpp, group_commit.cpp).
constexpr const char* kIdentityHelp =
    "messages refused because the agent's certificate does not name their host, by message";
constexpr const char* kLoginHelp = "console logins, by outcome";
constexpr const char* kRefusedHelp = "console requests refused, by why";
const std::map<std::string, Mapped, std::less<>>& IngestNames() {
  static const auto* names = new std::map<std::string, Mapped, std::less<>>{
      {"alerts_received", {"alerts_received_total", MetricType::kCounter,
                           "alerts in the batches agents sent", {}}},
      {"alerts_stored", {"alerts_total", MetricType::kCounter,
                         "alerts received, by what became of them", {{"outcome", "stored"}}}},
      {"alerts_duplicate", {"alerts_total", MetricType::kCounter,
                            "alerts received, by what became of them", {{"outcome", "duplicate"}}}},
      {"alerts_rejected", {"alerts_total", MetricType::kCounter,
                           "alerts received, by what became of them", {{"outcome", "rejected"}}}},
      {"batches_refused", {"batches_refused_total", MetricType::kCounter,
                           "alert batches refused whole, by why", {{"reason", "overload"}}}},
      {"batches_oversized", {"batches_refused_total", MetricType::kCounter,
                             "alert batches refused whole, by why", {{"reason", "oversized"}}}},
      {"batches_identity_refused", {"batches_refused_total", MetricType::kCounter,
                                    "alert batches refused whole, by why",
                                    {{"reason", "identity"}}}},
      {"identity_rejected_alerts", {"identity_rejected_total", MetricType::kCounter,
                                    kIdentityHelp, {{"message", "alert"}}}},
      {"identity_rejected_heartbeats", {"identity_rejected_total", MetricType::kCounter,
                                        kIdentityHelp, {{"message", "heartbeat"}}}},
      {"identity_rejected_inventories", {"identity_rejected_total", MetricType::kCounter,
                                         kIdentityHelp, {{"message", "inventory"}}}},
      {"commit_queued_alerts", {"commit_queue_alerts", MetricType::kGauge,
                                "alerts waiting for the group committer", {}}},
      {"commit_largest_group", {"commit_largest_group_alerts", MetricType::kGauge,
                                "the most alerts one transaction committed", {}}},
      {"commit_groups", {"commit_groups_total", MetricType::kCounter,
                         "group transactions committed", {}}},
      {"commit_groups_failed", {"commit_groups_failed_total", MetricType::kCounter,
                                "group transactions that failed", {}}},
      {"commit_alerts", {"commit_alerts_total", MetricType::kCounter,
                         "alerts in committed group transactions", {}}},
      {"commit_overload_refused", {"commit_overload_refused_total", MetricType::kCounter,
                                   "batches the full commit queue refused", {}}},
      {"store_errors", {"store_errors_total", MetricType::kCounter,
                        "store failures and refusals answered UNAVAILABLE or INVALID_ARGUMENT", {}}},
      {"heartbeats", {"heartbeats_total", MetricType::kCounter, "agent heartbeats stored", {}}},
      {"inventories", {"inventories_total", MetricType::kCounter,
                       "credential inventories stored", {}}},
      {"alert_streams", {"alert_streams_total", MetricType::kCounter,
                         "StreamAlerts calls agents opened", {}}},
      // The console (console/console_sessions.h).
      {"console_logins_ok", {"console_logins_total", MetricType::kCounter, kLoginHelp,
                             {{"outcome", "ok"}}}},
      {"console_logins_failed", {"console_logins_total", MetricType::kCounter, kLoginHelp,
                                 {{"outcome", "failed"}}}},
      {"console_logins_rate_limited", {"console_logins_total", MetricType::kCounter, kLoginHelp,
                                       {{"outcome", "rate_limited"}}}},
      {"console_requests_unauthenticated", {"console_requests_refused_total", MetricType::kCounter,
                                            kRefusedHelp, {{"reason", "unauthenticated"}}}},
      {"console_requests_csrf_refused", {"console_requests_refused_total", MetricType::kCounter,
                                         kRefusedHelp, {{"reason", "csrf"}}}},
      {"console_requests_too_large", {"console_requests_refused_total", MetricType::kCounter,
                                      kRefusedHelp, {{"reason", "too_large"}}}},
      {"console_requests_malformed", {"console_requests_refused_total", MetricType::kCounter,
                                      kRefusedHelp, {{"reason", "malformed"}}}},
      {"console_sessions_evicted", {"console_sessions_evicted_total", MetricType::kCounter,
                                    "console sessions ended early because the table was full",
                                    {}}},
      {"console_store_errors", {"console_store_errors_total", MetricType::kCounter,
                                "console API requests the store failed to answer", {}}},
  };
  return *names;
}

std::string WithTotal(std::string name) {
  if (!name.ends_with("_total")) name += "_total";
  return name;
}

}  // namespace

metrics::Exposition CollectorMetrics(const CounterMap& ingest,
                                     const metrics::HistogramCounts& commit_latency,
                                     const std::map<std::string, CounterMap>& forwarders) {
  metrics::Exposition out;
  const auto& names = IngestNames();
  for (const auto& [key, value] : ingest) {
    auto it = names.find(key);
    if (it == names.end()) {  // a counter added later still shows, under its own name
      out.Add(kPrefix + WithTotal(metrics::MetricName(key)), "collector counter " + key,
              MetricType::kCounter, static_cast<double>(value));
      continue;
    }
    const Mapped& m = it->second;
    out.Add(kPrefix + m.family, m.help, m.type, static_cast<double>(value), m.labels);
  }
  out.AddHistogram(kPrefix + "commit_duration_seconds",
                   "time to commit one group of alert batches to the database", commit_latency);
  constexpr std::string_view kDropped = "dropped_";
  for (const auto& [forwarder, counters] : forwarders) {
    for (const auto& [key, value] : counters) {
      metrics::Labels labels = {{"forwarder", forwarder}};
      std::string family = metrics::MetricName(key);
      std::string help = "forwarder counter " + key + ", by forwarder";
      if (key.starts_with(kDropped)) {
        labels.emplace_back("reason", key.substr(kDropped.size()));
        family = "dropped";
        help = "alerts a forwarder did not deliver, by forwarder and why";
      }
      out.Add(kPrefix + "forwarder_" + WithTotal(family), help, MetricType::kCounter,
              static_cast<double>(value), std::move(labels));
    }
  }
  return out;
}

}  // namespace credsentry::collector
