// The kernel half of the agent, seen from user space: loads the probes (bpf/*.bpf.c), scopes
// them to --cgroup, attaches every program, and hands ring-buffer records to the decoder. What
// user space writes into the probes' tables goes through KernelTables (kernel_tables.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "loader/egress_table.h"
#include "loader/exe_attach.h"
#include "loader/kernel_tables.h"
#include "loader/prevent_table.h"

namespace credsentry::loader {

struct ProbeOptions {
  std::vector<std::string> cgroup_paths;  // cgroup v2 directories; empty = whole host
  uint32_t control_ringbuf_bytes = 4u << 20;
  uint32_t data_ringbuf_bytes = 32u << 20;
  uint64_t capture_budget_bytes = 0;  // per socket; 0 = none (see AgentConfig)
  uint32_t capture_head_bytes = 4096;
  std::vector<std::string> extra_tls_libraries;  // more libssl paths to hook
};

struct FeatureReport {                                     // what --check prints
  std::vector<std::pair<std::string, std::string>> lines;  // feature -> "yes"/"no (why)"/...
  bool can_run = false;                                    // false => agent must exit non-zero
  std::string ToText() const;
};

// BTF, ring buffer, tracepoints, uprobes, kprobes, fentry/LSM (tried), tracefs, cgroup v2 and
// each --cgroup path, libssl and libgnutls with their symbols, whether a uprobe really attaches
// (one is created and removed); and which of them the agent will use. Mounts tracefs when it is
// missing, as the agent would at start.
FeatureReport ProbeFeatures(const ProbeOptions&);

class Probes : public UprobeAttacher {
 public:
  // Loads the probes, fills the scope map, attaches all. Errors name what is missing.
  static Result<std::unique_ptr<Probes>> Open(const ProbeOptions&);
  ~Probes() override;  // detaches everything
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Consumes both ring buffers; calls sink(record bytes) per record. Returns records consumed.
  Result<int> Poll(int timeout_ms, const std::function<void(std::span<const uint8_t>)>& sink);
  // The tables user space feeds the loaded programs (credential files, watched sockets).
  KernelTables& tables();
  // Prevent mode's hold: on/off, anchors, verdicts (prevent_table.h).
  PreventTable& prevent();
  // Prevent mode's connect block: where tainted processes may go (egress_table.h).
  EgressTable& egress();
  // True when the connect/sendmsg programs are attached to at least one scope cgroup.
  bool EgressBlockAttached() const;
  // Every cs_counter by name, summed over CPUs, plus "tls_libraries_hooked" and
  // "tls_libraries_failed" (user-space state, so metrics show a host that refused uprobes).
  std::map<std::string, uint64_t> Counters() const;
  std::vector<std::string> TlsLibraries() const;  // library files hooked (OpenSSL, GnuTLS)
  // Libraries found but not hooked because the host refused their uprobes (e.g. EPERM without
  // CAP_SYS_ADMIN); Open() still succeeds then, with the tracepoint path only.
  std::vector<std::string> TlsLibrariesFailed() const;

  // UprobeAttacher, for attach on exec (exe_attach.h): more files hooked while running. They
  // need the capabilities that attaching needs (CAP_SYS_ADMIN on our kernels), still held.
  Status AttachUprobe(std::string_view program, const std::string& path, uint64_t file_offset,
                      bool retprobe) override;
  Result<bool> AttachTlsStack(const std::string& path, const TlsStackSymbols& symbols) override;
  // Forks the attach helper (attach_helper.h) that makes later uprobes once the agent has dropped
  // CAP_SYS_ADMIN: call before DropLoadOnlyCapabilities(). Without it, later attaches are made
  // directly and fail when the capabilities are gone.
  Status StartAttachHelper();
  // More user-space counters reported with Counters() (the ExeAttacher's, as exe_attach_*).
  void AddCounterSource(std::string prefix,
                        std::function<std::map<std::string, uint64_t>()> source);

  struct State;  // libbpf objects, behind RAII (probes.cpp)

 private:
  explicit Probes(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace credsentry::loader
