// Agent settings: /etc/credsentry/agent.yaml, then command-line flags on top (flags win).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace credsentry::config {

struct CollectorSettings {
  std::string address;  // host:port; empty = no collector
  std::string ca_file, cert_file, key_file;
  std::string spool_dir = "/var/lib/credsentry/spool";
  uint64_t spool_max_bytes = 64ull << 20;
};

// detect (the default): report only. prevent: inside the watched scope, stop a request carrying
// a credential to a destination not expected for it (issue 16).
enum class Mode { kDetect, kPrevent };

// "detect" / "prevent" to Mode; nullopt for anything else.
std::optional<Mode> ParseMode(std::string_view text);
const char* ModeName(Mode m);

// An entry of prevent.allow: a known tool prevent mode never kills. Every field given must
// match: process (command name, executable path or its file name), destination (host name or
// IP), kind (credential kind id).
struct PreventAllowRule {
  std::string process, destination, kind;
};

struct AgentConfig {
  std::vector<std::string> rules_dirs;    // empty = the shipped defaults
  std::vector<std::string> cgroups;       // empty = whole host
  std::string alerts_file = "-";
  // "auto" (one readable line per alert on a terminal, JSON lines otherwise), "json", "text".
  std::string alert_format = "auto";
  Mode mode = Mode::kDetect;
  std::vector<PreventAllowRule> prevent_allow;
  // egress.allow: in prevent mode every tainted process may also reach these host names (as
  // resolved by the DNS answers the agent sees; "*.example.com" globs) and CIDRs.
  std::vector<std::string> egress_allow_names;
  std::vector<std::string> egress_allow_cidrs;  // "10.0.0.0/8", "2001:db8::/32", "192.0.2.7"
  // SIGHUP reads mode:, prevent: and egress: again from config_path (agent.yaml), unless --mode was given.
  std::string config_path;
  bool mode_from_flag = false;
  std::string log_file;                   // empty = stderr
  std::string log_level = "info";
  std::string stats_file;
  std::string trace_events_file;
  std::string ready_file;
  std::string fingerprint_key_file = "/var/lib/credsentry/fingerprint.key";
  // Ring buffers are mapped twice (wrap-around) and count fully towards RSS once traffic has
  // touched them: 8 MiB of payload absorbs ~500 full 16 KiB chunks between two polls.
  uint32_t control_ringbuf_bytes = 1u << 20;
  uint32_t data_ringbuf_bytes = 8u << 20;
  // Per-socket capture budget: past the first capture_budget_bytes of a socket's plaintext, each
  // write is copied only in its first capture_head_bytes (counted: truncated_capture_budget).
  // Keys travel in headers and small bodies; a multi-GB artifact upload should not cost a copy
  // of every byte. 0 = copy everything (each write still up to 64 KiB).
  uint64_t capture_budget_bytes = 1u << 20;
  uint32_t capture_head_bytes = 4096;
  // Executables and libraries hooked after start (attach on exec); 0 = none, and no privileged
  // attach helper is started.
  uint32_t max_attached_files = 64;
  // Hold a process at the exec of an executable never inspected (SIGSTOP from the exec
  // tracepoint) until its TLS stack is hooked, for at most 100 ms; needs attach on exec.
  bool exec_hold = true;
  // How long a credential-file read taints the reader and its children (tainted-egress alerts).
  uint32_t taint_window_s = 600;
  std::vector<std::string> extra_tls_libraries;
  CollectorSettings collector;
  // Prometheus /metrics (HOST:PORT); empty = not served. Loopback only unless
  // metrics_allow_remote.
  std::string metrics_listen;
  bool metrics_allow_remote = false;
};

// Reads agent.yaml into `cfg` (fields absent from the file keep their values). Unknown keys and
// wrong types are errors naming file:line.
Status LoadAgentConfigFile(const std::string& path, AgentConfig& cfg);

// Where rules come from when --rules is not given: the shipped catalogue, then the local
// drop-ins that upgrades never overwrite.
std::vector<std::string> DefaultRulesDirs();

enum class Command { kRun, kCheck, kVersion, kHelp, kScan };

struct CommandLine {
  Command command = Command::kRun;
  std::string config_file;  // --config
  AgentConfig config;       // file values with flags applied
  std::vector<std::string> scan_paths;
  std::string help_text;  // kHelp: the help of the command asked about (`scan --help`)
};

// Parses argv; loads --config (or /etc/credsentry/agent.yaml if it exists) before applying
// flags. Errors say which flag or file line is wrong. `scan` reads only its own flags.
Result<CommandLine> ParseCommandLine(int argc, char** argv);
// The top-level --help text, generated from the same grammar ParseCommandLine uses.
std::string UsageText();

}  // namespace credsentry::config
