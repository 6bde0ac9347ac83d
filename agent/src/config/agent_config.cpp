#include "config/agent_config.h"

#include <yaml-cpp/yaml.h>

#include "credsentry_abi.h"

#include <filesystem>
#include <functional>
#include <map>
#include <string_view>

namespace credsentry::config {
namespace {

std::string Where(const std::string& path, const YAML::Node& n) {
  return path + ":" + std::to_string(n.Mark().line + 1);
}

template <class T>
Status Get(const std::string& path, const YAML::Node& n, T& out) {
  try {
    out = n.as<T>();
    return Status::Ok();
  } catch (const YAML::Exception&) {
    return Error{Where(path, n) + ": wrong type for this setting"};
  }
}

Status GetList(const std::string& path, const YAML::Node& n, std::vector<std::string>& out) {
  if (!n.IsSequence()) return Error{Where(path, n) + ": expected a list"};
  out.clear();
  for (const auto& item : n) {
    std::string s;
    if (auto st = Get(path, item, s); !st) return st;
    out.push_back(s);
  }
  return Status::Ok();
}

}  // namespace

Status LoadAgentConfigFile(const std::string& path, AgentConfig& cfg) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Error{path + ": cannot read file"};
  } catch (const YAML::ParserException& e) {
    return Error{path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return Error{Where(path, root) + ": expected a mapping of settings"};

  using Setter = std::function<Status(const YAML::Node&)>;
  const std::map<std::string, Setter> top = {
      {"rules", [&](const YAML::Node& n) { return GetList(path, n, cfg.rules_dirs); }},
      {"cgroups", [&](const YAML::Node& n) { return GetList(path, n, cfg.cgroups); }},
      {"alerts_file", [&](const YAML::Node& n) { return Get(path, n, cfg.alerts_file); }},
      {"log_file", [&](const YAML::Node& n) { return Get(path, n, cfg.log_file); }},
      {"log_level", [&](const YAML::Node& n) { return Get(path, n, cfg.log_level); }},
      {"stats_file", [&](const YAML::Node& n) { return Get(path, n, cfg.stats_file); }},
      {"fingerprint_key_file", [&](const YAML::Node& n) { return Get(path, n, cfg.fingerprint_key_file); }},
      {"control_ringbuf_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.control_ringbuf_bytes); }},
      {"data_ringbuf_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.data_ringbuf_bytes); }},
      {"capture_budget_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.capture_budget_bytes); }},
      {"capture_head_bytes", [&](const YAML::Node& n) -> Status {
         if (auto st = Get(path, n, cfg.capture_head_bytes); !st) return st;
         if (cfg.capture_head_bytes < 256 || cfg.capture_head_bytes > CS_CHUNK_MAX)
           return Error{Where(path, n) + ": capture_head_bytes must be between 256 and " +
                        std::to_string(CS_CHUNK_MAX)};
         return Status::Ok();
       }},
      {"max_attached_files", [&](const YAML::Node& n) { return Get(path, n, cfg.max_attached_files); }},
      {"taint_window_s", [&](const YAML::Node& n) -> Status {
         if (auto st = Get(path, n, cfg.taint_window_s); !st) return st;
         if (cfg.taint_window_s == 0 || cfg.taint_window_s > 86400)
           return Error{Where(path, n) + ": taint_window_s must be between 1 and 86400"};
         return Status::Ok();
       }},
      {"tls_libraries", [&](const YAML::Node& n) { return GetList(path, n, cfg.extra_tls_libraries); }},
      {"collector", [&](const YAML::Node& n) -> Status {
         if (!n.IsMap()) return Error{Where(path, n) + ": collector: expected a mapping"};
         const std::map<std::string, std::string*> fields = {
             {"address", &cfg.collector.address}, {"ca_file", &cfg.collector.ca_file},
             {"cert_file", &cfg.collector.cert_file}, {"key_file", &cfg.collector.key_file},
             {"spool_dir", &cfg.collector.spool_dir}};
         for (const auto& kv : n) {
           auto key = kv.first.as<std::string>();
           if (key == "spool_max_bytes") {
             if (auto st = Get(path, kv.second, cfg.collector.spool_max_bytes); !st) return st;
             continue;
           }
           auto f = fields.find(key);
           if (f == fields.end()) return Error{Where(path, kv.first) + ": unknown collector setting '" + key + "'"};
           if (auto st = Get(path, kv.second, *f->second); !st) return st;
         }
         return Status::Ok();
       }},
  };
  for (const auto& kv : root) {
    auto key = kv.first.as<std::string>();
    auto it = top.find(key);
    if (it == top.end()) return Error{Where(path, kv.first) + ": unknown setting '" + key + "'"};
    if (auto st = it->second(kv.second); !st) return st;
  }
  return Status::Ok();
}

std::vector<std::string> DefaultRulesDirs() {
  std::vector<std::string> dirs;
  if (std::filesystem::is_directory(CREDSENTRY_RULES_DIR)) {
    dirs.push_back(CREDSENTRY_RULES_DIR);
  } else {
    dirs.push_back(CREDSENTRY_SOURCE_RULES_DIR);  // running from a build tree
  }
  if (std::filesystem::is_directory("/etc/credsentry/rules.d")) dirs.push_back("/etc/credsentry/rules.d");
  return dirs;
}

const char* UsageText() {
  return R"(usage: credsentry-agent [options]
       credsentry-agent scan PATH... | -
options:
  --config FILE          agent.yaml (default /etc/credsentry/agent.yaml if present)
  --rules DIR            rule directory; repeatable, later directories override earlier ones
  --cgroup PATH          watch only processes in this cgroup v2 subtree; repeatable
  --alerts-file PATH     JSON-lines alerts; '-' for stdout (default)
  --collector HOST:PORT  send alerts to a credsentry collector
  --log-file PATH        log file (default stderr)
  --log-level LEVEL      trace, debug, info, warn, error (default info)
  --stats-file PATH      JSON counters, rewritten every second
  --trace-events PATH    debug: one JSON line per kernel record (never payload bytes)
  --ready-file PATH      created once probes are attached
  --fingerprint-key FILE key for secret fingerprints (created if missing)
  --check                report kernel support and what will be used; exit 1 if it cannot run
  --version              print the version
)";
}

Result<CommandLine> ParseCommandLine(int argc, char** argv) {
  CommandLine cl;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  // The config file comes first so flags override it, whatever their order.
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--config") cl.config_file = args[i + 1];
  }
  const bool explicit_config = !cl.config_file.empty();
  if (!explicit_config && std::filesystem::exists("/etc/credsentry/agent.yaml")) {
    cl.config_file = "/etc/credsentry/agent.yaml";
  }
  if (!args.empty() && args[0] == "scan") {
    cl.command = Command::kScan;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--rules" && i + 1 < args.size()) {
        cl.config.rules_dirs.emplace_back(args[++i]);
      } else if (args[i] == "--fingerprint-key" && i + 1 < args.size()) {
        cl.config.fingerprint_key_file = args[++i];
      } else {
        cl.scan_paths.emplace_back(args[i]);
      }
    }
    if (cl.scan_paths.empty()) return Error{"scan: give at least one PATH, or - for stdin"};
    return cl;
  }
  if (!cl.config_file.empty()) {
    if (auto st = LoadAgentConfigFile(cl.config_file, cl.config); !st) return Error{st.message()};
  }
  bool rules_from_flags = false, cgroups_from_flags = false;
  auto& c = cl.config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&](std::string& out) -> Status {
      if (i + 1 >= args.size()) return Error{std::string(a) + " needs a value"};
      out = std::string(args[++i]);
      return Status::Ok();
    };
    Status st;
    std::string v;
    if (a == "--version") {
      cl.command = Command::kVersion;
    } else if (a == "--help" || a == "-h") {
      cl.command = Command::kHelp;
    } else if (a == "--check") {
      cl.command = Command::kCheck;
    } else if (a == "--config") {
      ++i;
    } else if (a == "--rules") {
      if (!(st = value(v))) return Error{st.message()};
      if (!rules_from_flags) c.rules_dirs.clear();
      rules_from_flags = true;
      c.rules_dirs.push_back(v);
    } else if (a == "--cgroup") {
      if (!(st = value(v))) return Error{st.message()};
      if (!cgroups_from_flags) c.cgroups.clear();
      cgroups_from_flags = true;
      c.cgroups.push_back(v);
    } else if (a == "--alerts-file") {
      st = value(c.alerts_file);
    } else if (a == "--collector") {
      st = value(c.collector.address);
    } else if (a == "--log-file") {
      st = value(c.log_file);
    } else if (a == "--log-level") {
      st = value(c.log_level);
    } else if (a == "--stats-file") {
      st = value(c.stats_file);
    } else if (a == "--trace-events") {
      st = value(c.trace_events_file);
    } else if (a == "--ready-file") {
      st = value(c.ready_file);
    } else if (a == "--fingerprint-key") {
      st = value(c.fingerprint_key_file);
    } else {
      return Error{"unknown option '" + std::string(a) + "' (see --help)"};
    }
    if (!st) return Error{st.message()};
  }
  if (c.rules_dirs.empty()) c.rules_dirs = DefaultRulesDirs();
  return cl;
}

}  // namespace credsentry::config
