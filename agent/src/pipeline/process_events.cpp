// Process-side events: credential-file opens and reads (what they teach known-value matching),
// environments read at exec, another process's /proc/<pid>/environ or mem opened, and egress of
// processes tainted by a credential read (provenance).
#include <spdlog/spdlog.h>

#include "detect/process_context.h"
#include "pipeline/internal.h"
#include "pipeline/pipeline.h"

namespace credsentry::pipeline {
using internal::FdKey;
using internal::JoinArgv;

void Pipeline::OnCredentialOpen(const decode::CredentialOpen& e) {
  ++counters_.credential_opens;
  processes_.Ensure(e.header);
  credential_fds_[FdKey(e.header.pid, e.fd)] = e.path;
  processes_.RecordCredentialRead(
      e.header.pid, {e.path, e.cred_id, e.header.pid, e.header.comm, e.header.ts_ns, 0},
      e.stdout_pipe);
  spdlog::info("credential file {} opened by pid {} ({})", RedactSecretsIn(e.path), e.header.pid,
               RedactSecretsIn(e.header.comm));
}

void Pipeline::OnCredentialRead(const decode::Payload& p) {
  ++counters_.credential_reads;
  auto it = credential_fds_.find(FdKey(p.header.pid, p.fd));
  std::string path = it != credential_fds_.end() ? it->second : "";
  processes_.RecordCredentialRead(
      p.header.pid, {path, 0, p.header.pid, p.header.comm, p.header.ts_ns, p.data.size()});
  // Learn which secrets the file holds, so an egress of the same value can name the file.
  const SecretReader reader{p.header.pid, p.header.comm, p.header.ts_ns};
  match::MatchStream scan(db_);
  std::vector<std::pair<std::string, std::string>> format_values;  // (kind id, value)
  auto learn = [&](const match::SecretMatch& m) {
    if (!m.value_available) return;
    redactor_.Remember(m.value);
    AddKnownSecret(fingerprinter_.Of(m.value), path, reader);
    if (m.kind_index < db_->rules().kinds.size()) {
      format_values.emplace_back(db_->rules().kinds[m.kind_index].id, m.value);
    }
  };
  scan.Feed(p.data, learn);
  scan.Close(learn);
  // And every value, format or not, as a literal for all streams (stream/known_values.h).
  std::string_view content(reinterpret_cast<const char*>(p.data.data()), p.data.size());
  for (const auto& value : known_values_->LearnFromCredentialFile(content, path, db_->rules(),
                                                                  format_values)) {
    redactor_.Remember(value);
    AddKnownSecret(fingerprinter_.Of(value), path, reader);
  }
}

void Pipeline::AddKnownSecret(const std::string& fingerprint, const std::string& path,
                              SecretReader reader) {
  if (known_secrets_.size() >= options_.max_known_secrets) {
    ++counters_.known_secrets_dropped;
    return;
  }
  known_secrets_[fingerprint] = {path, std::move(reader)};
}

void Pipeline::LearnSecret(const std::string& value, const std::string& source,
                           const catalogue::CredentialKind* kind) {
  const std::string fingerprint = fingerprinter_.Of(value);
  redactor_.Remember(value);  // no output may show it, whatever its format
  if (known_secrets_.contains(fingerprint)) return;  // every exec repeats it: keep the first
  ++counters_.secrets_learned_from_environments;
  AddKnownSecret(fingerprint, source);
  if (kind) {
    known_values_->Learn(
        {value, source, kind->id, kind->destinations, kind->never_sent});
  }
}

void Pipeline::InspectEnvironmentsWith(const catalogue::RuleSet& rules) {
  std::unordered_set<std::string> names = state::BuiltinCredentialEnvNames();
  for (const auto& kind : rules.kinds) names.insert(kind.env_vars.begin(), kind.env_vars.end());
  processes_.InspectEnvironments(
      std::move(names), [this](const state::Process& p, const std::string& name,
                               const std::string& value) {
        const catalogue::CredentialKind* kind = nullptr;
        for (const auto& k : db_->rules().kinds) {
          if (std::find(k.env_vars.begin(), k.env_vars.end(), name) != k.env_vars.end()) {
            kind = &k;
            break;
          }
        }
        LearnSecret(value,
                    "environment variable " + name + " of " + p.comm + " (pid " +
                        std::to_string(p.pid) + ")",
                    kind);
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
  auto redact = [this](const std::vector<std::string>& argv) {
    return RedactSecretsIn(JoinArgv(argv));
  };
  alert::Alert alert = detect::ProcessAccessAlert(e, processes_, target, redact);
  report::RedactAlertText(alert, redactor_, db_);
  if (!dedup_.FirstTime(alert.kind + "|" + std::to_string(e.header.pid) + "|" +
                            std::to_string(e.target_pid) + "|" + alert.target.access,
                        e.header.ts_ns)) {
    ++counters_.alerts_suppressed_duplicate;
    return;
  }
  alert.time_ns = WallNs(e.header.ts_ns);
  alert.host = options_.hostname;
  WriteAlert(alert);
}

void Pipeline::CheckTaintedEgress(const stream::StreamKey& key,
                                  const stream::StreamContext& ctx) {
  const state::Process* proc = processes_.Find(ctx.pid);
  if (!proc) return;
  // Cheap exit for the common case: nobody in the lineage read a credential file lately.
  if (processes_
          .CredentialReadsInLineage(ctx.pid, ctx.last_mono_ns > options_.provenance.taint_ns
                                                 ? ctx.last_mono_ns - options_.provenance.taint_ns
                                                 : 0)
          .empty()) {
    return;
  }
  detect::Destination dest = destinations_.Resolve(key, ctx, nullptr);
  if (dest.ip.empty() && dest.host.empty()) return;  // not known yet: the next write retries
  auto reads =
      provenance_.UnexpectedReads(processes_, db_->rules(), ctx.pid, dest, ctx.last_mono_ns);
  if (reads.empty()) return;
  if (!provenance_.FirstReport(ctx.pid, dest, ctx.last_mono_ns)) return;
  alert::Alert alert = detect::TaintedEgressAlert(ctx.comm, ctx.pid, reads, db_->rules(), dest);
  auto redact = [this](const std::vector<std::string>& argv) {
    return RedactSecretsIn(JoinArgv(argv));
  };
  detect::DescribeProcess(processes_, ctx.pid, ctx.comm, redact, alert.process, alert.ci);
  for (const auto& r : reads) {
    alert.evidence.credential_reads.push_back({r.path, r.pid, r.comm, WallNs(r.mono_ns)});
  }
  report::RedactAlertText(alert, redactor_, db_);
  alert.time_ns = WallNs(ctx.last_mono_ns);
  alert.host = options_.hostname;
  if (!provenance_.Defer(ctx.pid, dest, std::move(alert), ctx.last_mono_ns)) {
    ++counters_.tainted_egress_dropped;
  }
}

}  // namespace credsentry::pipeline
