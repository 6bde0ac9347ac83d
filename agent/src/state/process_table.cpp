#include "state/process_table.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

namespace credsentry::state {
namespace {

std::string ReadSmallFile(const std::string& path, size_t cap = 8192) {
  std::ifstream in(path, std::ios::binary);
  std::string data(cap, '\0');
  in.read(data.data(), static_cast<std::streamsize>(cap));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

std::vector<std::string> SplitNul(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

// The pipefs inode behind /proc/<pid>/fd/<fd> ("pipe:[4242]"), or 0.
uint64_t PipeOfFd(const std::string& proc_pid_dir, int fd) {
  char target[64];
  ssize_t n = readlink((proc_pid_dir + "/fd/" + std::to_string(fd)).c_str(), target,
                       sizeof target - 1);
  if (n <= 0) return 0;
  std::string_view link(target, static_cast<size_t>(n));
  if (!link.starts_with("pipe:[") || !link.ends_with("]")) return 0;
  uint64_t ino = 0;
  for (char c : link.substr(6, link.size() - 7)) {
    if (c < '0' || c > '9') return 0;
    ino = ino * 10 + static_cast<uint64_t>(c - '0');
  }
  return ino;
}

}  // namespace

std::string ContainerIdFromCgroup(const std::string& cgroup_path) {
  // docker-<64hex>.scope, cri-containerd-<64hex>.scope, libpod-<64hex>.scope, /docker/<64hex>,
  // /kubepods/.../<64hex>: a 64-hex-digit path component (or scope name) is a container id.
  static const std::regex kId("(?:^|[/-])([0-9a-f]{64})(?:\\.scope)?(?:/|$)");
  std::smatch m;
  std::string last;
  auto begin = cgroup_path.cbegin();
  while (std::regex_search(begin, cgroup_path.cend(), m, kId)) {
    last = m[1];
    begin = m[1].second;
  }
  return last;
}

ProcessTable::ProcessTable(const Scope& scope, size_t max_processes)
    : scope_(scope), max_processes_(max_processes) {}

bool ProcessTable::LoadOne(uint32_t pid, Process& out) const {
  const std::string base = scope_.proc_root() + "/" + std::to_string(pid);
  std::string status = ReadSmallFile(base + "/status");
  if (status.empty()) return false;
  out.pid = pid;
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Name:")) {
      out.comm = line.substr(line.find_first_not_of(" \t", 5));
    } else if (line.starts_with("PPid:")) {
      out.ppid = static_cast<uint32_t>(std::stoul(line.substr(5)));
    } else if (line.starts_with("Uid:")) {
      out.uid = static_cast<uint32_t>(std::stoul(line.substr(4)));
    }
  }
  char exe[4096];
  ssize_t n = readlink((base + "/exe").c_str(), exe, sizeof exe - 1);
  if (n > 0) out.exe.assign(exe, static_cast<size_t>(n));
  out.argv = SplitNul(ReadSmallFile(base + "/cmdline", 4096));
  out.stdin_pipe = PipeOfFd(base, 0);
  out.stdout_pipe = PipeOfFd(base, 1);
  out.cgroup = scope_.CgroupOf(pid).value_or("");
  out.container = ContainerIdFromCgroup(out.cgroup);
  out.systemd_unit = SystemdUnitFromCgroup(out.cgroup);
  out.pod.uid = PodUidFromCgroup(out.cgroup);
  return true;
}

void ProcessTable::InspectEnvironments(std::unordered_set<std::string> names,
                                       SecretLearner learner) {
  credential_env_names_ = std::move(names);
  learner_ = std::move(learner);
}

namespace {

// Name and namespace from the process's own environment; a field it lacks (`env -i`, a shell
// that drops variables) comes from its parent when the cgroup says both are in the same pod.
void SetPodIdentity(Process& p, const KubePod& own, const Process* parent) {
  const bool same_pod = parent && !p.pod.uid.empty() && parent->pod.uid == p.pod.uid;
  p.pod.name = !own.name.empty() ? own.name : same_pod ? parent->pod.name : std::string();
  p.pod.ns = !own.ns.empty() ? own.ns : same_pod ? parent->pod.ns : std::string();
}

}  // namespace

void ProcessTable::InspectEnvironment(Process& p) {
  if (credential_env_names_.empty()) return;
  ++environ_reads_;
  auto block = ReadEnviron(scope_.proc_root(), p.pid);
  if (!block) {
    // Gone already (a short-lived process) or not ours to read: the exec event still counts.
    ++environ_unreadable_;
    return;
  }
  if (block->truncated) ++environ_truncated_;
  EnvironmentFindings found =
      state::InspectEnvironment(block->bytes, credential_env_names_, block->truncated);
  Wipe(block->bytes);
  p.credential_env = std::move(found.credential_names);
  p.ci = std::move(found.ci);
  SetPodIdentity(p, found.pod, p.ppid != p.pid ? Find(p.ppid) : nullptr);
  for (auto& [name, value] : found.credential_values) {
    if (learner_) learner_(p, name, value);
    Wipe(value);
  }
}

size_t ProcessTable::LoadFromProc() {
  DIR* dir = opendir(scope_.proc_root().c_str());
  if (!dir) return 0;
  size_t added = 0;
  while (dirent* ent = readdir(dir)) {
    char* end = nullptr;
    unsigned long pid = std::strtoul(ent->d_name, &end, 10);
    if (*end != '\0' || pid == 0) continue;
    auto cg = scope_.CgroupOf(static_cast<uint32_t>(pid));
    if (!cg || !scope_.Contains(*cg)) continue;  // never read /proc of what is out of scope
    Process p;
    if (LoadOne(static_cast<uint32_t>(pid), p)) {
      InspectEnvironment(Insert(std::move(p)));
      ++added;
    }
  }
  closedir(dir);
  return added;
}

Process& ProcessTable::Insert(Process p) {
  auto it = procs_.find(p.pid);
  if (it != procs_.end()) {
    it->second = std::move(p);
    return it->second;
  }
  if (procs_.size() >= max_processes_) EvictOne();
  return procs_.emplace(p.pid, std::move(p)).first->second;
}

void ProcessTable::EvictOne() {
  // Prefer an exited process; otherwise the least recently seen one.
  auto victim = procs_.end();
  for (auto it = procs_.begin(); it != procs_.end(); ++it) {
    if (victim == procs_.end() || (it->second.exited && !victim->second.exited) ||
        (it->second.exited == victim->second.exited &&
         it->second.last_seen_mono_ns < victim->second.last_seen_mono_ns)) {
      victim = it;
    }
  }
  if (victim != procs_.end()) {
    procs_.erase(victim);
    ++evicted_;
  }
}

Process& ProcessTable::Ensure(const decode::EventHeader& h) { return EnsureLoaded(h, true); }

Process& ProcessTable::EnsureLoaded(const decode::EventHeader& h, bool inspect_environment) {
  auto it = procs_.find(h.pid);
  if (it != procs_.end()) {
    it->second.last_seen_mono_ns = h.ts_ns;
    return it->second;
  }
  Process p;
  // The kernel only sends records of in-scope processes, so reading /proc here stays in scope.
  bool loaded = LoadOne(h.pid, p);
  if (!loaded) {
    p.pid = h.pid;
    p.uid = h.uid;
    p.comm = h.comm;
  }
  p.last_seen_mono_ns = h.ts_ns;
  Process& inserted = Insert(std::move(p));
  if (loaded && inspect_environment) InspectEnvironment(inserted);
  return inserted;
}

const Process* ProcessTable::FindOrLoadInScope(uint32_t pid) {
  if (const Process* p = Find(pid)) return p;
  if (!scope_.ContainsPid(pid)) return nullptr;
  Process p;
  if (!LoadOne(pid, p)) return nullptr;
  Process& inserted = Insert(std::move(p));
  InspectEnvironment(inserted);
  return &inserted;
}

CiJob ProcessTable::CiJobOf(uint32_t pid) const {
  // The nearest job wins; fields a step's environment lacks come from the runner above it.
  CiJob job;
  auto merge = [&job](const CiJob& from) {
    if (from.empty() || (!job.empty() && from.provider != job.provider)) return;
    if (job.empty()) job.provider = from.provider;
    for (auto [mine, theirs] : {std::pair{&job.repository, &from.repository},
                                {&job.workflow, &from.workflow},
                                {&job.run_id, &from.run_id},
                                {&job.job, &from.job}}) {
      if (mine->empty()) *mine = *theirs;
    }
  };
  if (const Process* p = Find(pid)) merge(p->ci);
  for (const Process* a : Ancestors(pid, 32)) merge(a->ci);
  return job;
}

void ProcessTable::OnExec(const decode::ProcessExec& e) {
  Process& p = EnsureLoaded(e.header, false);
  p.ppid = e.ppid ? e.ppid : p.ppid;
  p.uid = e.header.uid;
  p.comm = e.header.comm;
  p.exe = e.filename;
  p.argv = e.argv;
  p.exited = false;
  p.stdin_pipe = e.stdin_pipe;
  p.stdout_pipe = e.stdout_pipe;
  // A filter that starts after the read upstream already happened passes the taint on now.
  if (auto it = pipe_reads_.find(p.stdin_pipe);
      p.stdin_pipe != 0 && it != pipe_reads_.end() && p.stdout_pipe != 0 &&
      p.stdout_pipe != p.stdin_pipe) {
    const std::deque<CredentialRead> upstream = it->second;  // TaintPipe may rehash the map
    for (const auto& read : upstream) TaintPipe(p.stdout_pipe, read, 1);
  }
  if (p.cgroup.empty()) {
    p.cgroup = scope_.CgroupOf(p.pid).value_or("");
    p.container = ContainerIdFromCgroup(p.cgroup);
    p.systemd_unit = SystemdUnitFromCgroup(p.cgroup);
    p.pod.uid = PodUidFromCgroup(p.cgroup);
  }
  // execve may have replaced the environment: read the one the new image got.
  InspectEnvironment(p);
  // Credential reads stay: a process that read a key and then exec'd still holds it.
}

void ProcessTable::OnFork(const decode::ProcessFork& e) {
  const Process& parent = Ensure(e.header);
  Process child;
  child.pid = e.child_pid;
  child.ppid = e.header.pid;
  child.uid = parent.uid;
  child.comm = parent.comm;
  child.exe = parent.exe;
  child.argv = parent.argv;
  child.cgroup = parent.cgroup;
  child.container = parent.container;
  child.systemd_unit = parent.systemd_unit;
  child.credential_env = parent.credential_env;  // a fork shares its parent's environment
  child.ci = parent.ci;
  child.pod = parent.pod;
  child.stdin_pipe = parent.stdin_pipe;  // fds are inherited
  child.stdout_pipe = parent.stdout_pipe;
  child.last_seen_mono_ns = e.header.ts_ns;
  Insert(std::move(child));
}

void ProcessTable::OnExit(const decode::ProcessExit& e) {
  auto it = procs_.find(e.header.pid);
  if (it == procs_.end()) return;
  it->second.exited = true;
  it->second.exit_mono_ns = e.header.ts_ns;
}

namespace {

// Adds `read` to a bounded newest-last list; the same file by the same reader again refreshes
// its entry instead of growing the list.
void AddRead(std::deque<CredentialRead>& reads, const CredentialRead& read, size_t max) {
  for (auto& r : reads) {
    if (r.path == read.path && r.pid == read.pid) {
      r.mono_ns = std::max(r.mono_ns, read.mono_ns);
      r.bytes += read.bytes;
      return;
    }
  }
  if (reads.size() >= max) reads.pop_front();
  reads.push_back(read);
}

}  // namespace

void ProcessTable::RecordCredentialRead(uint32_t pid, CredentialRead read, uint64_t stdout_pipe) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  Process& p = it->second;
  AddRead(p.credential_reads, read, kMaxCredentialReadsPerProcess);
  // A subshell forked without exec (`(while read -r l; do echo "$l"; done < creds) | curl`)
  // got its pipe after the fork record: the open record says where its stdout goes.
  if (stdout_pipe != 0) p.stdout_pipe = stdout_pipe;
  // What it read may leave through its stdout: `cat creds | curl --data-binary @-`.
  if (p.stdout_pipe != 0) TaintPipe(p.stdout_pipe, read);
}

std::vector<CredentialRead> ProcessTable::PipeReads(uint64_t pipe) const {
  auto it = pipe_reads_.find(pipe);
  if (it == pipe_reads_.end()) return {};
  return {it->second.rbegin(), it->second.rend()};  // newest first
}

void ProcessTable::TaintPipe(uint64_t pipe, const CredentialRead& read, size_t hops) {
  if (pipe == 0 || hops >= kMaxPipeHops) return;
  auto it = pipe_reads_.find(pipe);
  if (it == pipe_reads_.end()) {
    if (pipe_reads_.size() >= kMaxTaintedPipes) {
      // Forget the pipe whose newest read is oldest: it is the nearest to leaving the window.
      auto stalest = pipe_reads_.begin();
      for (auto p = pipe_reads_.begin(); p != pipe_reads_.end(); ++p) {
        if (p->second.back().mono_ns < stalest->second.back().mono_ns) stalest = p;
      }
      pipe_reads_.erase(stalest);
      ++tainted_pipes_evicted_;
    }
    it = pipe_reads_.emplace(pipe, std::deque<CredentialRead>{}).first;
  }
  CredentialRead piped = read;
  piped.via_pipe = true;
  AddRead(it->second, piped, kMaxCredentialReadsPerProcess);
  // Filters already running on this pipe (`| tr | gzip |`) carry it to their own stdout.
  std::vector<uint64_t> onward;
  for (const auto& [pid, q] : procs_) {
    if (q.stdin_pipe == pipe && q.stdout_pipe != 0 && q.stdout_pipe != pipe) {
      onward.push_back(q.stdout_pipe);
    }
  }
  for (uint64_t next : onward) TaintPipe(next, read, hops + 1);
}

std::vector<uint32_t> ProcessTable::Pids() const {
  std::vector<uint32_t> out;
  out.reserve(procs_.size());
  for (const auto& [pid, p] : procs_) out.push_back(pid);
  return out;
}

const Process* ProcessTable::Find(uint32_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : &it->second;
}

std::vector<const Process*> ProcessTable::Ancestors(uint32_t pid, size_t max) const {
  std::vector<const Process*> out;
  const Process* p = Find(pid);
  while (p && out.size() < max && p->ppid != 0 && p->ppid != p->pid) {
    p = Find(p->ppid);
    if (!p) break;
    out.push_back(p);
  }
  return out;
}

std::vector<CredentialRead> ProcessTable::CredentialReadsInLineage(uint32_t pid,
                                                                  uint64_t since_mono_ns) const {
  std::vector<CredentialRead> out;
  std::vector<const Process*> lineage{Find(pid)};
  for (const Process* a : Ancestors(pid)) lineage.push_back(a);
  for (const Process* p : lineage) {
    if (!p) continue;
    for (auto it = p->credential_reads.rbegin(); it != p->credential_reads.rend(); ++it) {
      if (it->mono_ns >= since_mono_ns) out.push_back(*it);
    }
  }
  for (const Process* p : lineage) {
    if (!p || p->stdin_pipe == 0) continue;
    auto piped = pipe_reads_.find(p->stdin_pipe);
    if (piped == pipe_reads_.end()) continue;
    for (auto it = piped->second.rbegin(); it != piped->second.rend(); ++it) {
      if (it->mono_ns >= since_mono_ns) out.push_back(*it);
    }
  }
  return out;
}

std::vector<uint32_t> ProcessTable::Expire(uint64_t now_mono_ns) {
  std::vector<uint32_t> gone;
  for (auto it = procs_.begin(); it != procs_.end();) {
    if (it->second.exited && now_mono_ns > it->second.exit_mono_ns + kExitedGraceNs) {
      gone.push_back(it->first);
      it = procs_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace credsentry::state
