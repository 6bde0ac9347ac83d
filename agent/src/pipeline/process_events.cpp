// Process-side events: credential-file opens and reads (what they teach the learner),
// environments read at exec, another process's /proc/<pid>/environ or mem opened, and egress of
// processes tainted by a credential read (provenance).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "pipeline/pipeline.h"

namespace credsentry::pipeline {

void Pipeline::OnCredentialOpen(const decode::CredentialOpen& e) {
  ++counters_.credential_opens;
  processes_.Ensure(e.header);
  // A copy the kernel made of a credential file (transfer_events.cpp) is named with its origin.
  std::string path = e.path;
  if (const std::string* origin = derived_.OriginOf(e.dev, e.ino)) {
    path += " (a copy of " + *origin + ")";
  }
  learner_.OnOpen(e.header.pid, e.fd, path);
  processes_.RecordCredentialRead(
      e.header.pid, {path, e.cred_id, e.header.pid, e.header.comm, e.header.ts_ns, 0},
      e.stdout_pipe);
  spdlog::info("credential file {} opened by pid {} ({})", learner_.Redact(e.path), e.header.pid,
               learner_.Redact(e.header.comm));
}

void Pipeline::OnCredentialRead(const decode::CredentialRead& r) {
  ++counters_.credential_reads;
  const std::string path = learner_.PathOf(r.header.pid, r.fd);
  processes_.RecordCredentialRead(
      r.header.pid, {path, 0, r.header.pid, r.header.comm, r.header.ts_ns, r.capture.data.size()});
  // Learn which secrets the file holds, so an egress of the same value can name the file.
  learner_.LearnFromRead(path, {r.header.pid, r.header.comm, r.header.ts_ns}, r.capture.data);
}

void Pipeline::InspectEnvironments() {
  processes_.InspectEnvironments(
      learner_.CredentialEnvNames(),
      [this](const state::Process& p, const std::string& name, const std::string& value) {
        learner_.LearnFromEnvironment(name, value, p.comm, p.pid);
      });
}

void Pipeline::OnProcessAccess(const decode::ProcessAccess& e) {
  ++counters_.process_accesses;
  processes_.Ensure(e.header);
  const state::Process* reader = processes_.Find(e.header.pid);
  // A thread directory of its own process (task/<tid>/environ) is not another process.
  if (reader && e.target_pid == reader->pid) return;
  // Reads the target's /proc entries only when it is in scope (the scope rule).
  const state::Process* target = processes_.FindOrLoadInScope(e.target_pid);
  decode::ProcessAccess access = e;
  if (access.target_uid == decode::ProcessAccess::kUidUnknown) {
    // A scrape names only a pid: who owns it is the owner of its /proc directory (metadata
    // only, nothing of an out-of-scope process is read).
    struct stat st {};
    const std::string dir = "/proc/" + std::to_string(e.target_pid);
    access.target_uid = target ? target->uid : stat(dir.c_str(), &st) == 0 ? st.st_uid : 0;
  }
  alert::Alert alert = alerts_.ProcessAccess(access, target);
  // The reader now holds whatever the target held: its later egress to anywhere is judged as
  // a credential read's (provenance), and the target's learned values are matched as before.
  std::string taken = alert.target.access == "environ" || alert.target.access == "mem"
                          ? "/proc/" + std::to_string(e.target_pid) + "/" + alert.target.access
                          : "the memory of pid " + std::to_string(e.target_pid);
  if (!alert.target.comm.empty()) taken += " (" + alert.target.comm + ")";
  processes_.RecordCredentialRead(
      e.header.pid, {std::move(taken), 0, e.header.pid, e.header.comm, e.header.ts_ns, 0});
  if (!dedup_.FirstTime(alert.kind + "|" + std::to_string(e.header.pid) + "|" +
                            std::to_string(e.target_pid) + "|" + alert.target.access,
                        e.header.ts_ns)) {
    ++counters_.alerts_suppressed_duplicate;
    return;
  }
  WriteAlert(alert);
}

void Pipeline::CheckTaintedEgress(const stream::StreamKey& key, const stream::StreamContext& ctx) {
  if (!processes_.Find(ctx.pid)) return;
  // Cheap exit for the common case: nobody in the lineage read a credential file lately.
  if (!provenance_.Tainted(processes_, ctx.pid, ctx.last_mono_ns)) return;
  detect::ResolvedDestination dest = destinations_.Resolve(key, ctx, nullptr);
  if (dest.where.unknown()) return;  // not known yet: the next write retries
  auto reads =
      provenance_.UnexpectedReads(processes_, db_->rules(), ctx.pid, dest.where, ctx.last_mono_ns);
  if (reads.empty()) return;
  if (!provenance_.FirstReport(ctx.pid, dest.where, ctx.last_mono_ns)) return;
  if (!provenance_.Defer(ctx.pid, dest.where, alerts_.TaintedEgress(ctx, reads, dest),
                         ctx.last_mono_ns)) {
    ++counters_.tainted_egress_dropped;
  }
}

}  // namespace credsentry::pipeline
