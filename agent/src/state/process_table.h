// Who is who: the processes in scope, rebuilt from /proc at start and kept by exec/fork/exit
// events after. Bounded; exited processes linger briefly because payload records (on their own
// ring buffer) can arrive after the exit record.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "decode/events.h"
#include "state/environ.h"
#include "state/scope.h"

namespace credsentry::state {

struct CredentialRead {
  std::string path;
  uint32_t cred_id = 0;
  uint32_t pid = 0;
  std::string comm;
  uint64_t mono_ns = 0;
  uint64_t bytes = 0;
  bool via_pipe = false;  // reached the process through its stdin pipe, not its lineage
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
  std::vector<std::string> credential_env;  // names of credential variables in its environment
  CiJob ci;                                 // from its own environment; see CiJobOf
  std::string systemd_unit;                 // from the cgroup path
  KubePod pod;  // uid from the cgroup path; name, namespace from its environment (or parent's)
  uint64_t stdin_pipe = 0;   // pipefs inode of fd 0 at exec (or start-up); 0 = not a pipe
  uint64_t stdout_pipe = 0;  // same for fd 1
};

// Container id named by a cgroup path (docker, containerd/CRI, podman, Kubernetes pods), or "".
std::string ContainerIdFromCgroup(const std::string& cgroup_path);

class ProcessTable {
 public:
  static constexpr size_t kMaxCredentialReadsPerProcess = 16;
  static constexpr uint64_t kExitedGraceNs = 30ull * 1000 * 1000 * 1000;
  // Pipes a credential read flowed into (`cat creds | ...`), remembered past their writer's
  // exit so the reader at the far end of a pipeline is tainted for the whole window.
  static constexpr size_t kMaxTaintedPipes = 4096;
  static constexpr size_t kMaxPipeHops = 4;  // cat | tr | gzip | base64 | curl

  explicit ProcessTable(const Scope& scope, size_t max_processes = 32768);

  // Called with each credential variable's value found in an in-scope process's environment
  // (at exec, at start-up, or when first seen). The value must not outlive the call except in
  // memory-only known-value matching.
  using SecretLearner =
      std::function<void(const Process& p, const std::string& name, const std::string& value)>;
  // Turns on environment inspection: `names` are the credential variable names (the built-in
  // list plus the rules' env lists). Without this call no environment is read.
  void InspectEnvironments(std::unordered_set<std::string> names, SecretLearner learner);

  // Adds every in-scope process found under /proc. Returns how many.
  size_t LoadFromProc();

  void OnExec(const decode::ProcessExec& e);
  void OnFork(const decode::ProcessFork& e);
  void OnExit(const decode::ProcessExit& e);
  // `stdout_pipe`: the reader's fd 1 as the kernel saw it at the open (0 = keep what is known).
  void RecordCredentialRead(uint32_t pid, CredentialRead read, uint64_t stdout_pipe = 0);

  // Credential bytes the kernel moved into `pipe` (splice, sendfile, tee): taints it like a
  // read by a process writing it.
  void TaintPipeWith(uint64_t pipe, const CredentialRead& read) { TaintPipe(pipe, read); }
  // The credential reads that flowed into `pipe`; empty when it carries none known.
  std::vector<CredentialRead> PipeReads(uint64_t pipe) const;

  const Process* Find(uint32_t pid) const;
  // Finds `pid`, creating it from /proc (or from the record header) when first seen.
  Process& Ensure(const decode::EventHeader& header);

  // Parent first, up to `max` levels or the first unknown/self-parented process.
  std::vector<const Process*> Ancestors(uint32_t pid, size_t max = 8) const;
  // Credential reads by `pid` and its ancestors since `since_mono_ns`, newest first, then
  // those piped into the stdin of any of them (marked via_pipe).
  std::vector<CredentialRead> CredentialReadsInLineage(uint32_t pid, uint64_t since_mono_ns) const;

  // The CI job of `pid`: its own, else that of its nearest ancestor that has one.
  CiJob CiJobOf(uint32_t pid) const;
  // The process behind another process's /proc/<pid>/environ or mem: known, or read from /proc
  // when it is in scope (never otherwise: the scope rule); null when neither.
  const Process* FindOrLoadInScope(uint32_t pid);

  // Forgets exited processes past their grace period; returns the pids forgotten.
  std::vector<uint32_t> Expire(uint64_t now_mono_ns);

  std::vector<uint32_t> Pids() const;
  size_t size() const { return procs_.size(); }
  uint64_t evicted() const { return evicted_; }
  uint64_t environ_reads() const { return environ_reads_; }
  uint64_t environ_unreadable() const { return environ_unreadable_; }
  uint64_t environ_truncated() const { return environ_truncated_; }
  size_t tainted_pipes() const { return pipe_reads_.size(); }
  uint64_t tainted_pipes_evicted() const { return tainted_pipes_evicted_; }

 private:
  Process& Insert(Process p);
  bool LoadOne(uint32_t pid, Process& out) const;
  void EvictOne();
  Process& EnsureLoaded(const decode::EventHeader& header, bool inspect_environment);
  void InspectEnvironment(Process& p);
  // Records `read` as flowing into `pipe`, then on through every process reading that pipe on
  // its stdin and writing another pipe on its stdout, at most kMaxPipeHops pipes deep.
  void TaintPipe(uint64_t pipe, const CredentialRead& read, size_t hops = 0);

  const Scope& scope_;
  size_t max_processes_;
  std::unordered_map<uint32_t, Process> procs_;
  uint64_t evicted_ = 0;
  std::unordered_set<std::string> credential_env_names_;
  SecretLearner learner_;
  uint64_t environ_reads_ = 0;
  uint64_t environ_unreadable_ = 0;
  uint64_t environ_truncated_ = 0;
  std::unordered_map<uint64_t, std::deque<CredentialRead>> pipe_reads_;  // by pipefs inode
  uint64_t tainted_pipes_evicted_ = 0;
};

}  // namespace credsentry::state
