#include "pipeline/alert_builder.h"

#include "alert/alert_id.h"
#include "common/clock.h"
#include "detect/kernel_copy.h"
#include "detect/provenance.h"
#include "report/redact.h"

namespace credsentry::pipeline {

AlertBuilder::AlertBuilder(std::string hostname, uint64_t credential_read_window_ns,
                           const state::ProcessTable& processes, const CredentialLearner& learner,
                           std::shared_ptr<const match::MatcherDatabase> db)
    : hostname_(std::move(hostname)),
      credential_read_window_ns_(credential_read_window_ns),
      processes_(processes),
      learner_(learner),
      db_(std::move(db)),
      mono_to_wall_ns_(WallClockNs() - MonotonicNs()) {}

detect::ArgvRedactor AlertBuilder::Argv(report::HiddenValue also) const {
  return [this, also](const std::vector<std::string>& argv) {
    std::string joined;
    for (const auto& a : argv) {
      if (!joined.empty()) joined.push_back(' ');
      joined += a;
    }
    return learner_.Redact(joined, also);
  };
}

void AlertBuilder::AddCredentialReads(const std::vector<state::CredentialRead>& reads,
                                      alert::Alert& a) const {
  for (const auto& r : reads) {
    a.evidence.credential_reads.push_back({r.path, r.pid, r.comm, WallNs(r.mono_ns)});
  }
}

void AlertBuilder::Finish(uint64_t mono_ns, report::HiddenValue also, alert::Alert& a) const {
  report::RedactAlertText(a, learner_.redactor(), db_, also);
  a.time_ns = WallNs(mono_ns);
  a.host = hostname_;
}

alert::Alert AlertBuilder::SecretEgress(const stream::StreamContext& ctx,
                                        const catalogue::CredentialKind& kind,
                                        const match::SecretMatch& m,
                                        const detect::ResolvedDestination& dest,
                                        const std::string& reason,
                                        const std::string& fingerprint) const {
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.severity = kind.severity;
  const std::string value = m.value_available ? m.value : "";
  const report::HiddenValue also{value, kind.preview_prefix};
  // The alert's own key is hidden in its command lines too.
  detect::DescribeProcess(processes_, ctx.pid, ctx.comm, Argv(also), a.process, a.ci);

  a.secret.type = kind.id;
  a.secret.provider = kind.provider;
  a.secret.name = kind.name;
  a.secret.redacted =
      m.value_available ? report::Redact(m.value, kind.preview_prefix) : "(unavailable)";
  a.secret.fingerprint = fingerprint;
  a.secret.found_in = ctx.found_in;
  a.destination = dest.where;
  a.destination.expected = kind.destinations;

  AddCredentialReads(detect::CredentialReadsWithin(processes_, ctx.pid, ctx.last_mono_ns,
                                                   credential_read_window_ns_),
                     a);
  a.evidence.decoding = m.decoding;
  a.evidence.notes = dest.notes;
  if (ctx.gaps) {
    a.evidence.notes.push_back("capture of this stream was truncated " + std::to_string(ctx.gaps) +
                               " time(s)");
  }
  const KnownSecret* known = learner_.Find(fingerprint);
  if (known && known->from_environment) {
    a.evidence.notes.push_back("this exact secret was learned from the " + known->path);
  } else if (known) {
    std::string note = "this exact secret was read from " + known->path;
    if (known->reader.pid != 0 && known->reader.pid != ctx.pid) {
      // Another process read it (cat file | curl): its read is evidence of this egress too.
      note += " by " + known->reader.comm + " (pid " + std::to_string(known->reader.pid) + ")";
      bool listed = false;
      for (const auto& r : a.evidence.credential_reads) listed |= r.pid == known->reader.pid;
      if (!listed) {
        a.evidence.credential_reads.push_back(
            {known->path, known->reader.pid, known->reader.comm, WallNs(known->reader.mono_ns)});
      }
    }
    a.evidence.notes.push_back(note);
  }
  const bool from_environment = known && known->from_environment;
  const bool from_file = (known && !from_environment) || !a.evidence.credential_reads.empty();
  a.kind = from_environment ? "environment-secret-egress"
           : from_file      ? "credential-file-egress"
                            : "secret-egress";
  a.summary = ctx.comm + " (pid " + std::to_string(ctx.pid) + "): " + reason;
  if (from_environment) {
    a.summary += ", learned from the " + known->path;
  } else if (!a.evidence.credential_reads.empty()) {
    a.summary += " after reading " + a.evidence.credential_reads.front().path;
  }
  Finish(ctx.last_mono_ns, also, a);
  return a;
}

alert::Alert AlertBuilder::TaintedEgress(const stream::StreamContext& ctx,
                                         const std::vector<state::CredentialRead>& reads,
                                         const detect::ResolvedDestination& dest) const {
  alert::Alert a = detect::TaintedEgressAlert(ctx.comm, ctx.pid, reads, db_->rules(), dest);
  detect::DescribeProcess(processes_, ctx.pid, ctx.comm, Argv(), a.process, a.ci);
  AddCredentialReads(reads, a);
  Finish(ctx.last_mono_ns, {}, a);
  return a;
}

alert::Alert AlertBuilder::TransferEgress(const decode::Transfer& t,
                                          const std::vector<state::CredentialRead>& sources,
                                          const detect::ResolvedDestination& dest,
                                          const std::vector<std::string>& kinds_held) const {
  alert::Alert a = detect::TransferEgressAlert(t, sources, db_->rules(), dest, kinds_held);
  detect::DescribeProcess(processes_, t.header.pid, t.header.comm, Argv(), a.process, a.ci);
  AddCredentialReads(sources, a);
  Finish(t.header.ts_ns, {}, a);
  return a;
}

alert::Alert AlertBuilder::EgressBlocked(const decode::EgressBlocked& e,
                                         const detect::ResolvedDestination& dest) const {
  using Source = decode::EgressBlocked::Source;
  const catalogue::RuleSet& rules = db_->rules();
  const uint32_t pid = e.header.pid;
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.kind = "tainted-egress";
  a.severity = alert::Severity::kHigh;
  a.action = alert::Action::kBlocked;
  detect::DescribeProcess(processes_, pid, e.header.comm, Argv(), a.process, a.ci);
  const auto reads =
      detect::CredentialReadsWithin(processes_, pid, e.header.ts_ns, credential_read_window_ns_);
  AddCredentialReads(reads, a);
  const catalogue::CredentialFile* file =
      e.cred_id != 0 && e.cred_id <= rules.files.size() ? &rules.files[e.cred_id - 1] : nullptr;
  if (file) {
    a.secret.type = file->id;  // the file's id: no value was matched, nothing left
    a.destination.expected = rules.ExpectedDestinations(*file);
  }
  a.secret.found_in = alert::FoundIn::kProvenance;
  const auto expected = std::move(a.destination.expected);
  a.destination = dest.where;
  a.destination.expected = expected;
  std::string what;
  if (!reads.empty()) {
    what = reads.front().pid == pid ? "reading " + reads.front().path
                                    : reads.front().comm + " (pid " +
                                          std::to_string(reads.front().pid) + ") read " +
                                          reads.front().path;
  } else if (file) {
    what = "reading " + (file->paths.empty() ? file->id : file->paths.front());
  } else {
    what = "reading another process's environment or memory";
  }
  const std::string where = (dest.where.host.empty() ? dest.where.ip : dest.where.host) + ":" +
                            std::to_string(dest.where.port);
  const bool datagram = e.hook == decode::EgressBlocked::Hook::kSendmsg;
  a.summary = e.header.comm + " (pid " + std::to_string(pid) + ") was refused " +
              (datagram ? "a datagram to " : "a connection to ") + where + " after " + what;
  a.evidence.notes = dest.notes;
  a.evidence.notes.push_back(
      std::string("prevent mode: the ") + (datagram ? "sendmsg" : "connect") +
      " failed with EPERM before any byte left; " + where + " is not a destination expected for " +
      (file ? file->id : std::string("what it read")) +
      " (no DNS answer for an expected name gave this address, and egress.allow does not name it)");
  if (e.source == Source::kPipe) {
    a.evidence.notes.push_back("tainted through a pipe fed by a credential file");
  } else if (e.source == Source::kInherited) {
    a.evidence.notes.push_back("tainted by its parent, which read the credential");
  } else if (e.source == Source::kMemory) {
    a.evidence.notes.push_back("tainted by reading another process's environment or memory");
  }
  Finish(e.header.ts_ns, {}, a);
  return a;
}

alert::Alert AlertBuilder::ProcessAccess(const decode::ProcessAccess& e,
                                         const state::Process* target) const {
  alert::Alert a = detect::ProcessAccessAlert(e, processes_, target, Argv());
  Finish(e.header.ts_ns, {}, a);
  return a;
}

}  // namespace credsentry::pipeline
