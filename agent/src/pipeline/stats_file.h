// The agent's counters as operators read them: the --stats-file document, written once a second
// and at exit, and the snapshot the collector's heartbeats carry.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
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

// Replaces `path` whole (written beside it, then renamed), so a reader never sees half a
// document. An empty path logs the document instead; a failed write is a warning.
void WriteStatsFile(const std::string& path, const nlohmann::json& document);

}  // namespace credsentry::pipeline
