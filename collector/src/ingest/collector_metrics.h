// What `serve --metrics-listen` exports, in Prometheus conventions:
//   credsentry_collector_alerts_received_total            alerts in batches agents sent
//   credsentry_collector_alerts_total{outcome=...}         stored, duplicate or rejected
//   credsentry_collector_batches_refused_total{reason=...} overload (the agent keeps it
//                                                         spooled), oversized or identity
//   credsentry_collector_identity_rejected_total{message=...} alert, heartbeat or inventory
//                                                         for a host the certificate does not name
//   credsentry_collector_commit_duration_seconds           histogram, one observation a group
//   credsentry_collector_commit_queue_alerts               alerts waiting for the writer
//   credsentry_collector_forwarder_sent_total{forwarder=...}, ..._dropped_total{reason=...}
//   credsentry_collector_console_logins_total{outcome=ok|failed|rate_limited}
//   credsentry_collector_console_requests_refused_total{reason=unauthenticated|csrf|too_large|
//                                                       malformed}
// and every other counter as credsentry_collector_<name>_total (console_sessions_evicted, ...).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/metrics_text.h"

namespace credsentry::collector {

using CounterMap = std::map<std::string, uint64_t>;

// `ingest`: CollectorService::Counters(); `forwarders`: each forwarder's counters by its name.
metrics::Exposition CollectorMetrics(const CounterMap& ingest,
                                     const metrics::HistogramCounts& commit_latency,
                                     const std::map<std::string, CounterMap>& forwarders);

}  // namespace credsentry::collector
