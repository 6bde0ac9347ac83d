#include "pipeline/stats_metrics.h"

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "pipeline/pipeline_counters.h"

namespace credsentry::pipeline {
namespace {

using metrics::Exposition;
using metrics::MetricType;

constexpr std::string_view kPrefix = "credsentry_agent_";

// Kernel counters of events lost before user space saw them, by cause (bpf/credsentry_abi.h).
const std::map<std::string, std::string, std::less<>> kKernelDrops = {
    {"ringbuf_drop_control", "ringbuf_control"}, {"ringbuf_drop_data", "ringbuf_data"},
    {"fd_table_full", "fd_table_full"},          {"call_table_full", "call_table_full"},
    {"user_read_fault", "user_read_fault"},      {"iovecs_skipped", "iovecs_skipped"},
    {"dns_messages_skipped", "dns_messages_skipped"}};

// Sizes and last values, which go down as well as up; everything else only grows.
const std::set<std::string, std::less<>> kGauges = {
    // kernel
    "tls_libraries_hooked", "tls_libraries_failed", "watched_fd_slots_in_use",
    "block_cgroups_attached",
    "exe_attach_exec_to_attach_us_last", "exe_attach_exec_to_attach_us_max",
    "exe_attach_scan_files", "exe_attach_scan_ms", "exec_hold_exec_to_release_us_last",
    "exec_hold_exec_to_release_us_max",
    // pipeline
    "processes", "connections", "streams", "secrets_held", "dns_cache_entries", "dns_tunnels",
    "tainted_pipes", "known_secrets", "known_values", "redaction_values", "block_allowed_addresses",
    // sinks: the collector's spool
    "pending", "spool_bytes"};

// Names read better with the spool's unit spelled out.
const std::map<std::string, std::string, std::less<>> kSinkRenames = {
    {"pending", "spool_pending_alerts"}};

// The pipeline's own counters carry a description (pipeline_counters.h); it becomes HELP.
const std::map<std::string, std::string, std::less<>>& PipelineHelp() {
  static const auto* help = [] {
    auto* m = new std::map<std::string, std::string, std::less<>>;
#define CREDSENTRY_METRIC_HELP_(name, doc) (*m)[#name] = doc;
    CREDSENTRY_PIPELINE_COUNTERS(CREDSENTRY_METRIC_HELP_)
#undef CREDSENTRY_METRIC_HELP_
    // Counted by the daemon's writer, published with the pipeline's counters.
    (*m)["stats_file_write_failures"] = "writes of --stats-file that failed (disk full, rename)";
    (*m)["watched_fd_unwatch_failures"] = "closed fds whose watched-fd entry could not be removed";
    return m;
  }();
  return *help;
}

struct Named {
  std::string name;  // without the prefix and without _total
  double value;
};

// `_us`, `_ms`, `_ns` inside a name become `_seconds`, with the value scaled.
Named InSeconds(std::string name, double value) {
  static const std::pair<std::string_view, double> kUnits[] = {
      {"_us", 1e-6}, {"_ms", 1e-3}, {"_ns", 1e-9}};
  for (const auto& [unit, scale] : kUnits) {
    std::string token(unit);
    for (size_t at = name.find(token); at != std::string::npos; at = name.find(token, at + 1)) {
      size_t end = at + token.size();
      if (end != name.size() && name[end] != '_') continue;  // "_msg" is no unit
      name.replace(at, token.size(), "_seconds");
      return {name, value * scale};
    }
  }
  return {name, value};
}

void AddOne(Exposition& out, const std::string& section, const std::string& key, double value,
            std::string_view help, metrics::Labels labels = {}) {
  const bool gauge = kGauges.contains(key);
  auto [name, scaled] = InSeconds(metrics::MetricName(section + "_" + key), value);
  std::string full = std::string(kPrefix) + name;
  if (!gauge && !full.ends_with("_total")) full += "_total";
  std::string text = help.empty() ? section + " counter " + key + " of --stats-file"
                                  : std::string(help);
  out.Add(full, text, gauge ? MetricType::kGauge : MetricType::kCounter, scaled,
          std::move(labels));
}

void AddKernel(Exposition& out, const nlohmann::json& kernel) {
  for (const auto& [key, v] : kernel.items()) {
    if (!v.is_number()) continue;
    const double value = v.get<double>();
    if (auto drop = kKernelDrops.find(key); drop != kKernelDrops.end()) {
      out.Add(std::string(kPrefix) + "kernel_drops_total",
              "events the kernel side could not capture, by cause", MetricType::kCounter, value,
              {{"category", drop->second}});
    } else if (key.starts_with("truncated_")) {
      out.Add(std::string(kPrefix) + "kernel_truncations_total",
              "captures the kernel side cut short, by what was cut", MetricType::kCounter, value,
              {{"category", key.substr(std::string_view("truncated_").size())}});
    } else if (key.starts_with("events_")) {
      out.Add(std::string(kPrefix) + "kernel_events_total",
              "records the kernel side emitted, by ring buffer", MetricType::kCounter, value,
              {{"ring", key.substr(std::string_view("events_").size())}});
    } else {
      AddOne(out, "kernel", key, value, "");
    }
  }
}

void AddSinks(Exposition& out, const nlohmann::json& sinks) {
  for (const auto& [sink, counters] : sinks.items()) {
    if (!counters.is_object()) continue;
    for (const auto& [key, v] : counters.items()) {
      if (!v.is_number()) continue;
      auto renamed = kSinkRenames.find(key);
      const bool gauge = kGauges.contains(key);
      std::string name = std::string(kPrefix) + "sink_" +
                         metrics::MetricName(renamed == kSinkRenames.end() ? key : renamed->second);
      if (!gauge && !name.ends_with("_total")) name += "_total";
      out.Add(name, "output counter " + key + " of --stats-file, by sink",
              gauge ? MetricType::kGauge : MetricType::kCounter, v.get<double>(),
              {{"sink", sink}});
    }
  }
}

}  // namespace

metrics::Exposition StatsMetrics(const nlohmann::json& doc) {
  Exposition out;
  if (doc.contains("rules_version") && doc["rules_version"].is_string()) {
    out.Add(std::string(kPrefix) + "rules_info", "the rules in force, as rules_version",
            MetricType::kGauge, 1, {{"rules_version", doc["rules_version"].get<std::string>()}});
  }
  if (doc.contains("kernel") && doc["kernel"].is_object()) AddKernel(out, doc["kernel"]);
  if (doc.contains("pipeline") && doc["pipeline"].is_object()) {
    const auto& help = PipelineHelp();
    for (const auto& [key, v] : doc["pipeline"].items()) {
      if (!v.is_number()) continue;
      auto h = help.find(key);
      AddOne(out, "pipeline", key, v.get<double>(), h == help.end() ? "" : h->second);
    }
  }
  if (doc.contains("sinks") && doc["sinks"].is_object()) AddSinks(out, doc["sinks"]);
  return out;
}

}  // namespace credsentry::pipeline
