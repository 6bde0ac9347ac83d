// The agent's counters as operators read them: the --stats-file document, written once a second
// and at exit, and the snapshot the collector's heartbeats carry.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/sink.h"

namespace credsentry::pipeline {

using CounterMap = std::map<std::string, uint64_t>;

// Counters as last published by the main loop, for readers on other threads.
class StatsSnapshot {
 public:
  void Set(CounterMap counters);
  CounterMap Get() const;

 private:
  mutable std::mutex mu_;
  CounterMap counters_;
};

// One flat map for heartbeats: the kernel's counters as kernel_<name>, the pipeline's as they are.
CounterMap FlatCounters(const CounterMap& kernel, const CounterMap& pipeline);

// {"rules_version": ..., "kernel": {...}, "pipeline": {...}, "sinks": {<sink name>: {...}}}
nlohmann::json StatsDocument(const std::string& rules_version, const CounterMap& kernel,
                             const CounterMap& pipeline,
                             const std::vector<std::unique_ptr<report::AlertSink>>& sinks);

// The rare info line about counters: at most once a minute, and only when a counter of lost or
// refused work (drops, truncations, undecodable records, sink failures) grew since the last one.
// The full document belongs in --stats-file and the metrics page, not in the terminal.
class LossSummary {
 public:
  static constexpr uint64_t kIntervalNs = 60'000'000'000ull;
  // "counters: kernel ringbuf_drop_data +12, records_undecodable +1 (...)", or nothing.
  std::optional<std::string> Observe(const nlohmann::json& document, uint64_t now_ns);

 private:
  CounterMap reported_;  // totals as of the last line
  uint64_t last_ns_ = 0;
  bool logged_once_ = false;
};

// Writes --stats-file once a second and at exit. Each write replaces `path` whole (written
// beside it, then renamed), so a reader never sees half a document. An empty path logs the
// document at debug instead. A failed write never throws: the first of a run of failures is a
// warning, the rest are only counted (failures(), published as stats_file_write_failures), and
// the write that works again says how many were missed. Either way a LossSummary line may be
// logged at info.
class StatsFileWriter {
 public:
  void Write(const std::string& path, const nlohmann::json& document);
  uint64_t failures() const { return failures_; }

 private:
  LossSummary summary_;
  uint64_t failures_ = 0;
  uint64_t failing_since_ = 0;  // failures_ when the current run of failures began
  bool failing_ = false;
};

}  // namespace credsentry::pipeline
