#include "detect/process_context.h"

#include "alert/alert_id.h"

namespace credsentry::detect {

void DescribeProcess(const state::ProcessTable& procs, uint32_t pid, const std::string& comm,
                     const ArgvRedactor& redact, alert::ProcessInfo& out, alert::CiInfo& ci) {
  out.pid = pid;
  out.comm = comm;
  if (const state::Process* p = procs.Find(pid)) {
    out.ppid = p->ppid;
    out.uid = p->uid;
    out.exe = p->exe;
    out.cmdline = redact(p->argv);
    out.cgroup = p->cgroup;
    out.container = p->container;
    out.credential_env = p->credential_env;
    out.systemd_unit = p->systemd_unit;
    out.pod = {p->pod.uid, p->pod.name, p->pod.ns};
  }
  for (const state::Process* anc : procs.Ancestors(pid)) {
    out.ancestors.push_back({anc->pid, anc->comm, anc->exe, redact(anc->argv)});
  }
  state::CiJob job = procs.CiJobOf(pid);
  ci = {job.provider, job.repository, job.workflow, job.run_id, job.job};
}

const char* ProcessAccessName(decode::ProcessAccess::What what) {
  using What = decode::ProcessAccess::What;
  switch (what) {
    case What::kEnviron: return "environ";
    case What::kMem: return "mem";
    case What::kVmReadv: return "process_vm_readv";
    case What::kPtrace: return "ptrace";
    case What::kPidfdGetfd: return "pidfd_getfd";
  }
  return "unknown";
}

namespace {

// What the reader did to `target` ("pid 812" or "pid 812 (sleep)"), for the summary.
std::string DidWhat(const decode::ProcessAccess& e, const std::string& comm) {
  using What = decode::ProcessAccess::What;
  const std::string pid = std::to_string(e.target_pid);
  const std::string target = "pid " + pid + (comm.empty() ? "" : " (" + comm + ")");
  switch (e.what) {
    case What::kEnviron:
    case What::kMem:
      return "opened /proc/" + pid + "/" + ProcessAccessName(e.what) +
             (comm.empty() ? "" : " of " + comm);
    case What::kVmReadv: return "read the memory of " + target + " with process_vm_readv";
    case What::kPtrace:
      if (e.fd == decode::ProcessAccess::kPtraceSeize) return "seized " + target + " with ptrace";
      if (e.fd == decode::ProcessAccess::kPtraceAttach) {
        return "attached to " + target + " with ptrace";
      }
      return "peeked into the memory of " + target + " with ptrace";
    case What::kPidfdGetfd:
      return "took fd " + std::to_string(e.fd) + " of " + target + " with pidfd_getfd";
  }
  return "reached into " + target;
}

}  // namespace

alert::Alert ProcessAccessAlert(const decode::ProcessAccess& e, const state::ProcessTable& procs,
                                 const state::Process* target, const ArgvRedactor& redact) {
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.kind = "process-credential-access";
  DescribeProcess(procs, e.header.pid, e.header.comm, redact, a.process, a.ci);
  if (a.process.uid == 0 && !procs.Find(e.header.pid)) a.process.uid = e.header.uid;
  const char* what = ProcessAccessName(e.what);
  a.target.pid = e.target_pid;
  a.target.uid = e.target_uid;
  a.target.access = what;
  if (target) {
    a.target.in_scope = true;
    a.target.uid = target->uid;
    a.target.comm = target->comm;
    a.target.exe = target->exe;
    a.target.credential_env = target->credential_env;
    a.target.container = target->container;
    a.target.pod = {target->pod.uid, target->pod.name, target->pod.ns};
    a.target.systemd_unit = target->systemd_unit;
    state::CiJob job = procs.CiJobOf(target->pid);
    a.target.ci = {job.provider, job.repository, job.workflow, job.run_id, job.job};
  }
  const bool other_user = a.target.uid != e.header.uid;
  const bool holds_credentials = !a.target.credential_env.empty();
  a.severity =
      other_user || holds_credentials ? alert::Severity::kHigh : alert::Severity::kMedium;

  a.summary = e.header.comm + " (pid " + std::to_string(e.header.pid) + ") " +
              DidWhat(e, a.target.comm);
  if (other_user) a.summary += ", a process of uid " + std::to_string(a.target.uid);
  if (holds_credentials) {
    std::string names;
    for (const auto& n : a.target.credential_env) names += (names.empty() ? "" : ", ") + n;
    a.summary += ", whose environment holds " + names;
  }
  const bool opened = e.what == decode::ProcessAccess::What::kEnviron ||
                      e.what == decode::ProcessAccess::What::kMem;
  a.evidence.notes.push_back((opened ? std::string("opened /proc/<pid>/") + what + " of"
                                     : std::string(what) + " on") +
                             " pid " + std::to_string(e.target_pid) + " (uid " +
                             std::to_string(a.target.uid) + ")");
  if (!target) {
    a.evidence.notes.push_back(
        "the target is outside the agent's scope or gone: its environment was not inspected");
  }
  return a;
}

}  // namespace credsentry::detect
