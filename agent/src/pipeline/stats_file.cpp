#include "pipeline/stats_file.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string_view>

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

namespace {

// Counters whose growth means something was lost or refused: kernel drops and truncations,
// undecodable records, sink failures. Matched by name so a counter added later is covered.
// A sink's plain "failed" is one too; the kernel's tls_libraries_failed is a gauge of hooks.
bool IsLossCounter(std::string_view name) {
  if (name == "failed") return true;
  for (std::string_view word : {"drop", "truncated", "undecodable", "error", "failure", "_full",
                                "fault", "skipped", "rejected", "corrupt"}) {
    if (name.find(word) != std::string_view::npos) return true;
  }
  return false;
}

void CollectLosses(const std::string& prefix, const nlohmann::json& counters, CounterMap& out) {
  if (!counters.is_object()) return;
  for (const auto& [name, value] : counters.items()) {
    if (value.is_number_unsigned() && IsLossCounter(name)) {
      out[prefix + name] = value.get<uint64_t>();
    }
  }
}

}  // namespace

std::optional<std::string> LossSummary::Observe(const nlohmann::json& document, uint64_t now_ns) {
  if (logged_once_ && now_ns - last_ns_ < kIntervalNs) return std::nullopt;
  CounterMap losses;
  CollectLosses("kernel ", document.value("kernel", nlohmann::json::object()), losses);
  CollectLosses("", document.value("pipeline", nlohmann::json::object()), losses);
  if (auto sinks = document.find("sinks"); sinks != document.end() && sinks->is_object()) {
    for (const auto& [sink, counters] : sinks->items()) {
      CollectLosses(sink + " sink ", counters, losses);
    }
  }
  std::string grown;
  for (const auto& [name, total] : losses) {
    uint64_t before = reported_.contains(name) ? reported_[name] : 0;
    if (total <= before) continue;
    grown += (grown.empty() ? "" : ", ") + name + " +" + std::to_string(total - before);
  }
  if (grown.empty()) return std::nullopt;
  reported_ = std::move(losses);
  last_ns_ = now_ns;
  logged_once_ = true;
  return "counters: " + grown + " (all counters: --stats-file, --metrics-listen)";
}

namespace {

// The document at `path`, or why it could not be put there.
std::optional<std::string> ReplaceWhole(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << text;
  out.close();  // a full disk shows at the flush, not at the <<
  if (!out) return "cannot write " + tmp;
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (!ec) return std::nullopt;
  std::filesystem::remove(tmp, ec);
  return "cannot rename " + tmp + " to " + path + ": " + ec.message();
}

}  // namespace

void StatsFileWriter::Write(const std::string& path, const nlohmann::json& document) {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  if (auto line = summary_.Observe(document, std::chrono::nanoseconds(now).count())) {
    spdlog::info("{}", *line);
  }
  if (path.empty()) {
    if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("counters: {}", document.dump());
    return;
  }
  auto failed = ReplaceWhole(path, document.dump(2) + "\n");
  if (failed) {
    if (!failing_) {
      spdlog::warn("stats file: {} (counted as stats_file_write_failures; warned once)", *failed);
      failing_since_ = failures_;
    }
    failing_ = true;
    ++failures_;
  } else if (failing_) {
    failing_ = false;
    spdlog::info("stats file {} written again after {} failed writes", path,
                 failures_ - failing_since_);
  }
}

}  // namespace credsentry::pipeline
