#include "config/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>

#include "common/metrics_server.h"
#include "decode/capture_limits.h"
#include "decode/ip_address.h"

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

// prevent:
//   allow:
//     - {process: terraform, destination: registry.terraform.io, kind: github-pat}
Status GetPrevent(const std::string& path, const YAML::Node& n,
                  std::vector<PreventAllowRule>& out) {
  if (!n.IsMap()) return Error{Where(path, n) + ": prevent: expected a mapping"};
  out.clear();
  for (const auto& kv : n) {
    auto key = kv.first.as<std::string>();
    if (key != "allow") {
      return Error{Where(path, kv.first) + ": unknown prevent setting '" + key + "'"};
    }
    if (!kv.second.IsSequence()) return Error{Where(path, kv.second) + ": prevent.allow: expected a list"};
    for (const auto& item : kv.second) {
      if (!item.IsMap()) {
        return Error{Where(path, item) + ": prevent.allow: expected a mapping of process, destination, kind"};
      }
      PreventAllowRule rule;
      const std::map<std::string, std::string*> fields = {
          {"process", &rule.process}, {"destination", &rule.destination}, {"kind", &rule.kind}};
      for (const auto& f : item) {
        auto name = f.first.as<std::string>();
        auto it = fields.find(name);
        if (it == fields.end()) {
          return Error{Where(path, f.first) + ": unknown prevent.allow field '" + name +
                       "' (process, destination, kind)"};
        }
        if (auto st = Get(path, f.second, *it->second); !st) return st;
      }
      if (rule.process.empty() && rule.destination.empty() && rule.kind.empty()) {
        return Error{Where(path, item) + ": prevent.allow: an empty rule would exempt everything"};
      }
      out.push_back(std::move(rule));
    }
  }
  return Status::Ok();
}

// A CIDR or a bare address: "10.0.0.0/8", "192.0.2.7", "2001:db8::/32".
bool IsCidr(const std::string& text) {
  const size_t slash = text.find('/');
  const std::string ip = decode::CanonicalIp(text.substr(0, slash));
  if (ip.empty() || text.substr(0, slash).find_first_of("[]%") != std::string::npos) return false;
  if (slash == std::string::npos) return true;
  const std::string digits = text.substr(slash + 1);
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  // The family is the one written, as the kernel table reads it (loader/egress_table.cpp).
  return std::stoi(digits) <= (text.substr(0, slash).find(':') == std::string::npos ? 32 : 128);
}

// "::ffff:10.0.0.0/8": IPv6 text for IPv4 addresses, whose prefix would count IPv6 bits.
bool IsIpv4Mapped(const std::string& text) {
  const std::string written = text.substr(0, text.find('/'));
  return written.find(':') != std::string::npos &&
         decode::CanonicalIp(written).find(':') == std::string::npos;
}

// A host name, or "*." and a name: letters, digits, '-' and '.', no empty label.
bool IsHostGlob(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string_view::npos) {
    return false;
  }
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
         std::string_view::npos;
}

// egress:
//   allow: [registry.npmjs.org, '*.amazonaws.com', 10.0.0.0/8]
Status GetEgress(const std::string& path, const YAML::Node& n, AgentConfig& cfg) {
  if (!n.IsMap()) return Error{Where(path, n) + ": egress: expected a mapping"};
  cfg.egress_allow_names.clear();
  cfg.egress_allow_cidrs.clear();
  for (const auto& kv : n) {
    auto key = kv.first.as<std::string>();
    if (key != "allow") {
      return Error{Where(path, kv.first) + ": unknown egress setting '" + key + "'"};
    }
    if (!kv.second.IsSequence()) {
      return Error{Where(path, kv.second) + ": egress.allow: expected a list of names and CIDRs"};
    }
    for (const auto& item : kv.second) {
      std::string entry;
      if (!item.IsScalar() || !Get(path, item, entry)) {
        return Error{Where(path, item) + ": egress.allow: expected a host name or a CIDR"};
      }
      const bool digits_or_colon =
          entry.find(':') != std::string::npos || entry.find('/') != std::string::npos ||
          entry.find_first_not_of("0123456789.") == std::string::npos;
      if (digits_or_colon) {
        if (IsIpv4Mapped(entry)) {
          return Error{Where(path, item) + ": egress.allow: '" + entry +
                       "' is an IPv4-mapped IPv6 address: write the IPv4 range (10.0.0.0/8)"};
        }
        if (!IsCidr(entry)) {
          return Error{Where(path, item) + ": egress.allow: '" + entry +
                       "' is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)"};
        }
        cfg.egress_allow_cidrs.push_back(entry);
      } else if (IsHostGlob(entry)) {
        cfg.egress_allow_names.push_back(entry);
      } else {
        return Error{Where(path, item) + ": egress.allow: '" + entry +
                     "' is not a host name ('*.' may lead it) or a CIDR"};
      }
    }
  }
  return Status::Ok();
}

bool IsAlertFormat(const std::string& f) { return f == "auto" || f == "json" || f == "text"; }

}  // namespace

std::optional<Mode> ParseMode(std::string_view text) {
  if (text == "detect") return Mode::kDetect;
  if (text == "prevent") return Mode::kPrevent;
  return std::nullopt;
}

const char* ModeName(Mode m) { return m == Mode::kPrevent ? "prevent" : "detect"; }

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
      {"alert_format", [&](const YAML::Node& n) -> Status {
         if (auto st = Get(path, n, cfg.alert_format); !st) return st;
         if (!IsAlertFormat(cfg.alert_format))
           return Error{Where(path, n) + ": alert_format must be auto, json or text"};
         return Status::Ok();
       }},
      {"mode", [&](const YAML::Node& n) -> Status {
         std::string text;
         if (auto st = Get(path, n, text); !st) return st;
         auto mode = ParseMode(text);
         if (!mode) return Error{Where(path, n) + ": mode must be detect or prevent, not '" + text + "'"};
         cfg.mode = *mode;
         return Status::Ok();
       }},
      {"prevent", [&](const YAML::Node& n) { return GetPrevent(path, n, cfg.prevent_allow); }},
      {"egress", [&](const YAML::Node& n) { return GetEgress(path, n, cfg); }},
      {"log_file", [&](const YAML::Node& n) { return Get(path, n, cfg.log_file); }},
      {"log_level", [&](const YAML::Node& n) { return Get(path, n, cfg.log_level); }},
      {"stats_file", [&](const YAML::Node& n) { return Get(path, n, cfg.stats_file); }},
      {"fingerprint_key_file", [&](const YAML::Node& n) { return Get(path, n, cfg.fingerprint_key_file); }},
      {"control_ringbuf_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.control_ringbuf_bytes); }},
      {"data_ringbuf_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.data_ringbuf_bytes); }},
      {"capture_budget_bytes", [&](const YAML::Node& n) { return Get(path, n, cfg.capture_budget_bytes); }},
      {"capture_head_bytes", [&](const YAML::Node& n) -> Status {
         if (auto st = Get(path, n, cfg.capture_head_bytes); !st) return st;
         if (cfg.capture_head_bytes < 256 || cfg.capture_head_bytes > decode::kMaxChunkBytes)
           return Error{Where(path, n) + ": capture_head_bytes must be between 256 and " +
                        std::to_string(decode::kMaxChunkBytes)};
         return Status::Ok();
       }},
      {"max_attached_files", [&](const YAML::Node& n) { return Get(path, n, cfg.max_attached_files); }},
      {"exec_hold", [&](const YAML::Node& n) { return Get(path, n, cfg.exec_hold); }},
      {"taint_window_s", [&](const YAML::Node& n) -> Status {
         if (auto st = Get(path, n, cfg.taint_window_s); !st) return st;
         if (cfg.taint_window_s == 0 || cfg.taint_window_s > 86400)
           return Error{Where(path, n) + ": taint_window_s must be between 1 and 86400"};
         return Status::Ok();
       }},
      {"tls_libraries", [&](const YAML::Node& n) { return GetList(path, n, cfg.extra_tls_libraries); }},
      {"metrics_listen", [&](const YAML::Node& n) { return Get(path, n, cfg.metrics_listen); }},
      {"metrics_allow_remote", [&](const YAML::Node& n) { return Get(path, n, cfg.metrics_allow_remote); }},
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

namespace {

using StringField = std::string& (*)(AgentConfig&);

struct StringFlag {
  const char* name;
  const char* value_name;
  const char* help;
  StringField field;
};

// Single-value flags of the daemon; each one given replaces agent.yaml's value, the last
// occurrence winning.
const StringFlag kRunFlags[] = {
    {"--alerts-file", "PATH", "JSON-lines alerts; '-' for stdout (default)",
     [](AgentConfig& c) -> std::string& { return c.alerts_file; }},
    {"--alert-format", "FORMAT",
     "auto (text on a terminal, JSON lines otherwise, the default), json or text",
     [](AgentConfig& c) -> std::string& { return c.alert_format; }},
    {"--collector", "HOST:PORT", "send alerts to a credsentry collector",
     [](AgentConfig& c) -> std::string& { return c.collector.address; }},
    {"--log-file", "PATH", "log file (default stderr)",
     [](AgentConfig& c) -> std::string& { return c.log_file; }},
    {"--log-level", "LEVEL", "trace, debug, info, warn, error (default info)",
     [](AgentConfig& c) -> std::string& { return c.log_level; }},
    {"--stats-file", "PATH", "JSON counters, rewritten every second",
     [](AgentConfig& c) -> std::string& { return c.stats_file; }},
    {"--trace-events", "PATH", "debug: one JSON line per kernel record (never payload bytes)",
     [](AgentConfig& c) -> std::string& { return c.trace_events_file; }},
    {"--ready-file", "PATH", "created once probes are attached",
     [](AgentConfig& c) -> std::string& { return c.ready_file; }},
    {"--fingerprint-key", "FILE", "key for secret fingerprints (created if missing)",
     [](AgentConfig& c) -> std::string& { return c.fingerprint_key_file; }},
    {"--metrics-listen", "HOST:PORT", "serve Prometheus /metrics here (loopback only, e.g. "
     "127.0.0.1:9464)",
     [](AgentConfig& c) -> std::string& { return c.metrics_listen; }},
};

// One occurrence of a repeatable flag takes exactly one value: `scan --rules DIR FILE` must
// leave FILE to the scan paths.
CLI::Option* AddRepeatable(CLI::App& app, const char* name, std::vector<std::string>& into,
                           const char* value_name, const char* help) {
  return app.add_option(name, into, help)
      ->type_name(value_name)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// The grammar, bound to where each value lands. Flag values are kept apart from agent.yaml's so
// the file is read first and every given flag applies over it, whatever the order on the line.
struct Grammar {
  CLI::App app{"Watches processes for API keys being sent off the host.", "credsentry-agent"};
  CLI::App* scan = nullptr;
  CLI::Option* config = nullptr;
  CLI::Option* rules = nullptr;
  CLI::Option* cgroups = nullptr;
  CLI::Option* check = nullptr;
  CLI::Option* mode = nullptr;
  CLI::Option* version = nullptr;
  CLI::Option* metrics_allow_remote = nullptr;
  CLI::Option* no_exec_hold = nullptr;
  CLI::Option* scan_rules = nullptr;
  CLI::Option* scan_fingerprint_key = nullptr;
  std::vector<std::pair<CLI::Option*, StringField>> run_flags;

  std::string config_file;
  std::string mode_text;
  AgentConfig flags;  // values as given on the command line
  std::vector<std::string> scan_rules_dirs, scan_paths;
  std::string scan_fingerprint_key_file;

  Grammar() {
    app.get_formatter()->column_width(28);
    config = app.add_option("--config", config_file,
                            "agent.yaml (default /etc/credsentry/agent.yaml if present)")
                 ->type_name("FILE")
                 ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    rules = AddRepeatable(app, "--rules", flags.rules_dirs, "DIR",
                          "rule directory; repeatable, later directories override earlier ones");
    cgroups = AddRepeatable(app, "--cgroup", flags.cgroups, "PATH",
                            "watch only processes in this cgroup v2 subtree; repeatable");
    mode = app.add_option("--mode", mode_text,
                          "detect (report only, the default) or prevent (stop a key on its way "
                          "to an unexpected destination, inside the --cgroup scope)")
               ->type_name("MODE")
               ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    for (const auto& f : kRunFlags) {
      auto* opt = app.add_option(f.name, f.field(flags), f.help)
                      ->type_name(f.value_name)
                      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      run_flags.emplace_back(opt, f.field);
    }
    // description() rather than a second argument: CLI11 2.1 finds add_flag(name, "text")
    // ambiguous.
    check = app.add_flag("--check")->description(
        "report kernel support and what will be used; exit 1 if it cannot run");
    version = app.add_flag("--version")->description("print the version");
    metrics_allow_remote = app.add_flag("--metrics-allow-remote")->description(
        "let --metrics-listen take an address that is not loopback");
    no_exec_hold = app.add_flag("--no-exec-hold")->description(
        "do not hold a new binary's first exec until its TLS stack is hooked (exec_hold: false)");

    scan = app.add_subcommand("scan", "scan files or stdin; exit 1 if anything is found, 0 if not");
    scan->get_formatter()->column_width(28);
    scan->add_option("PATH", scan_paths, "file to scan, or - for stdin")->type_name("");
    scan_rules = AddRepeatable(*scan, "--rules", scan_rules_dirs, "DIR",
                               "rule directory; repeatable, later directories override earlier");
    scan_fingerprint_key =
        scan->add_option("--fingerprint-key", scan_fingerprint_key_file,
                         "key for secret fingerprints (default: the agent's, else one per run)")
            ->type_name("FILE")
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
};

// CLI11's wording, made to name the option the way an operator typed it.
std::string Explain(const Grammar& g, const CLI::ParseError& e) {
  const std::string what = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    std::vector<std::string> extra = g.app.remaining(true);
    if (extra.empty()) extra = g.scan->remaining();
    if (!extra.empty()) {
      const std::string kind = extra[0].starts_with("-") && extra[0] != "-" ? "option" : "argument";
      if (g.scan->parsed()) {
        return "scan: unknown " + kind + " '" + extra[0] + "' (see credsentry-agent scan --help)";
      }
      return "unknown " + kind + " '" + extra[0] + "' (see --help)";
    }
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    // "--cgroup: 1 required PATH missing"
    auto colon = what.find(": ");
    if (colon != std::string::npos && what.ends_with(" missing")) {
      return what.substr(0, colon) + " needs a value";
    }
  }
  return what;
}

}  // namespace

std::string UsageText() {
  Grammar g;
  return g.app.help();
}

Result<CommandLine> ParseCommandLine(int argc, char** argv) {
  Grammar g;
  CommandLine cl;
  try {
    g.app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    cl.command = Command::kHelp;
    cl.help_text = g.app.help();  // the subcommand's help when it was `scan --help`
    return cl;
  } catch (const CLI::ParseError& e) {
    return Error{Explain(g, e)};
  }

  if (g.config->count() > 0) {
    cl.config_file = g.config_file;
  } else if (std::filesystem::exists("/etc/credsentry/agent.yaml")) {
    cl.config_file = "/etc/credsentry/agent.yaml";
  }
  auto& c = cl.config;
  if (g.scan->parsed()) {
    // scan reads no agent.yaml, so a daemon flag before it would be silently ignored.
    for (const CLI::Option* opt : g.app.get_options()) {
      if (opt->count() > 0) {
        return Error{opt->get_name() +
                     " does not apply to scan (scan takes its own --rules and "
                     "--fingerprint-key, after 'scan')"};
      }
    }
    cl.command = Command::kScan;
    cl.scan_paths = g.scan_paths;
    if (cl.scan_paths.empty()) return Error{"scan: give at least one PATH, or - for stdin"};
    c.rules_dirs = g.scan_rules_dirs.empty() ? DefaultRulesDirs() : g.scan_rules_dirs;
    if (g.scan_fingerprint_key->count() > 0) c.fingerprint_key_file = g.scan_fingerprint_key_file;
    return cl;
  }

  // The later of --check and --version decides, as they read left to right.
  for (const CLI::Option* opt : g.app.parse_order()) {
    if (opt == g.check) cl.command = Command::kCheck;
    if (opt == g.version) cl.command = Command::kVersion;
  }
  if (!cl.config_file.empty()) {
    if (auto st = LoadAgentConfigFile(cl.config_file, c); !st) return Error{st.message()};
  }
  // A list given on the command line replaces agent.yaml's list rather than adding to it.
  if (g.rules->count() > 0) c.rules_dirs = g.flags.rules_dirs;
  if (g.cgroups->count() > 0) c.cgroups = g.flags.cgroups;
  for (const auto& [opt, field] : g.run_flags) {
    if (opt->count() > 0) field(c) = field(g.flags);
  }
  if (g.metrics_allow_remote->count() > 0) c.metrics_allow_remote = true;
  if (g.no_exec_hold->count() > 0) c.exec_hold = false;
  if (g.mode->count() > 0) {
    auto mode = ParseMode(g.mode_text);
    if (!mode) return Error{"--mode must be detect or prevent, not '" + g.mode_text + "'"};
    c.mode = *mode;
    c.mode_from_flag = true;
  }
  c.config_path = cl.config_file;
  if (c.rules_dirs.empty()) c.rules_dirs = DefaultRulesDirs();
  if (!IsAlertFormat(c.alert_format)) {
    return Error{"--alert-format must be auto, json or text, not '" + c.alert_format + "'"};
  }
  if (!c.metrics_listen.empty()) {
    auto endpoint = metrics::ParseMetricsListen(
        c.metrics_listen, c.metrics_allow_remote,
        "--metrics-allow-remote (metrics_allow_remote: true in agent.yaml)");
    if (!endpoint) return Error{"--metrics-listen " + endpoint.message()};
  }
  return cl;
}

}  // namespace credsentry::config
