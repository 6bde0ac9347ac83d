#include "pipeline/stats_file.h"

#include <filesystem>
#include <fstream>

#include "common/log.h"

namespace credsentry::pipeline {

void StatsSnapshot::Set(CounterMap counters) {
  std::lock_guard lock(mu_);
  counters_ = std::move(counters);
}

CounterMap StatsSnapshot::Get() const {
  std::lock_guard lock(mu_);
  return counters_;
}

CounterMap FlatCounters(const CounterMap& kernel, const CounterMap& pipeline) {
  CounterMap out;
  for (const auto& [k, v] : kernel) out["kernel_" + k] = v;
  for (const auto& [k, v] : pipeline) out[k] = v;
  return out;
}

nlohmann::json StatsDocument(const std::string& rules_version, const CounterMap& kernel,
                             const CounterMap& pipeline,
                             const std::vector<std::unique_ptr<report::AlertSink>>& sinks) {
  nlohmann::json j;
  j["rules_version"] = rules_version;
  j["kernel"] = kernel;
  j["pipeline"] = pipeline;
  for (const auto& s : sinks) j["sinks"][s->Name()] = s->Counters();
  return j;
}

void WriteStatsFile(const std::string& path, const nlohmann::json& document) {
  if (path.empty()) {
    spdlog::info("counters: {}", document.dump());
    return;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << document.dump(2) << "\n";
    if (!out) {
      spdlog::warn("cannot write stats file {}", tmp);
      return;
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace credsentry::pipeline
