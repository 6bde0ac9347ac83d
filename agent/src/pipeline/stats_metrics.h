// --stats-file's document as Prometheus metrics, for --metrics-listen. Every number of the
// document becomes one sample, so the two cannot disagree about what is counted:
//   kernel.truncated_<what>          credsentry_agent_kernel_truncations_total{category="<what>"}
//   kernel drops (ringbuf_drop_data, fd_table_full, ...)
//                                    credsentry_agent_kernel_drops_total{category="..."}
//   kernel.events_<ring>             credsentry_agent_kernel_events_total{ring="<ring>"}
//   kernel.<name>, pipeline.<name>   credsentry_agent_<section>_<name>_total, or without _total
//                                    for the sizes listed as gauges (processes, streams, ...)
//   sinks.<sink>.<name>              credsentry_agent_sink_<name>_total{sink="<sink>"}, the
//                                    spool's depth and bytes as gauges
//   rules_version                    credsentry_agent_rules_info{rules_version="..."} 1
// A name carrying a unit abbreviation (_us, _ms, _ns) is converted to seconds and says so.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/metrics_text.h"

namespace credsentry::pipeline {

metrics::Exposition StatsMetrics(const nlohmann::json& stats_document);

// The page last rendered by the main loop, for the metrics server's threads: a scrape copies
// a string under the mutex and never waits on the loop, nor the loop on a scrape.
class MetricsPage {
 public:
  void Set(std::string text) {
    std::lock_guard lock(mu_);
    text_.swap(text);
  }
  std::string Get() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

}  // namespace credsentry::pipeline
