#include "state/process_table.h"

#include <dirent.h>
#include <unistd.h>

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
  out.cgroup = scope_.CgroupOf(pid).value_or("");
  out.container = ContainerIdFromCgroup(out.cgroup);
  out.systemd_unit = SystemdUnitFromCgroup(out.cgroup);
  return true;
}

void ProcessTable::InspectEnvironments(std::unordered_set<std::string> names,
                                       SecretLearner learner) {
  credential_env_names_ = std::move(names);
  learner_ = std::move(learner);
}

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
  if (p.cgroup.empty()) {
    p.cgroup = scope_.CgroupOf(p.pid).value_or("");
    p.container = ContainerIdFromCgroup(p.cgroup);
    p.systemd_unit = SystemdUnitFromCgroup(p.cgroup);
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
  child.last_seen_mono_ns = e.header.ts_ns;
  Insert(std::move(child));
}

void ProcessTable::OnExit(const decode::ProcessExit& e) {
  auto it = procs_.find(e.header.pid);
  if (it == procs_.end()) return;
  it->second.exited = true;
  it->second.exit_mono_ns = e.header.ts_ns;
}

void ProcessTable::RecordCredentialRead(uint32_t pid, CredentialRead read) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  auto& reads = it->second.credential_reads;
  for (auto& r : reads) {
    if (r.path == read.path) {  // the same file again: refresh, do not grow
      r.mono_ns = read.mono_ns;
      r.bytes += read.bytes;
      return;
    }
  }
  if (reads.size() >= kMaxCredentialReadsPerProcess) reads.pop_front();
  reads.push_back(std::move(read));
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
