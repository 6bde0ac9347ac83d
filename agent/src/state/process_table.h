// Who is who: the processes in scope, rebuilt from /proc at start and kept by exec/fork/exit
// events after. Bounded; exited processes linger briefly because payload records (on their own
// ring buffer) can arrive after the exit record.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/events.h"
#include "state/scope.h"

namespace credsentry::state {

struct CredentialRead {
  std::string path;
  uint32_t cred_id = 0;
  uint32_t pid = 0;
  std::string comm;
  uint64_t mono_ns = 0;
  uint64_t bytes = 0;
};

struct Process {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> argv;
  std::string cgroup;
  std::string container;
  bool exited = false;
  uint64_t exit_mono_ns = 0;
  uint64_t last_seen_mono_ns = 0;
  std::deque<CredentialRead> credential_reads;  // newest last, bounded
};

// Container id named by a cgroup path (docker, containerd/CRI, podman, Kubernetes pods), or "".
std::string ContainerIdFromCgroup(const std::string& cgroup_path);

class ProcessTable {
 public:
  static constexpr size_t kMaxCredentialReadsPerProcess = 16;
  static constexpr uint64_t kExitedGraceNs = 30ull * 1000 * 1000 * 1000;

  explicit ProcessTable(const Scope& scope, size_t max_processes = 32768);

  // Adds every in-scope process found under /proc. Returns how many.
  size_t LoadFromProc();

  void OnExec(const decode::ProcessExec& e);
  void OnFork(const decode::ProcessFork& e);
  void OnExit(const decode::ProcessExit& e);
  void RecordCredentialRead(uint32_t pid, CredentialRead read);

  const Process* Find(uint32_t pid) const;
  // Finds `pid`, creating it from /proc (or from the record header) when first seen.
  Process& Ensure(const decode::EventHeader& header);

  // Parent first, up to `max` levels or the first unknown/self-parented process.
  std::vector<const Process*> Ancestors(uint32_t pid, size_t max = 8) const;
  // Credential reads by `pid` and its ancestors since `since_mono_ns`, newest first.
  std::vector<CredentialRead> CredentialReadsInLineage(uint32_t pid, uint64_t since_mono_ns) const;

  // Forgets exited processes past their grace period; returns the pids forgotten.
  std::vector<uint32_t> Expire(uint64_t now_mono_ns);

  std::vector<uint32_t> Pids() const;
  size_t size() const { return procs_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  Process& Insert(Process p);
  bool LoadOne(uint32_t pid, Process& out) const;
  void EvictOne();

  const Scope& scope_;
  size_t max_processes_;
  std::unordered_map<uint32_t, Process> procs_;
  uint64_t evicted_ = 0;
};

}  // namespace credsentry::state
