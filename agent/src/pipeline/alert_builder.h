// Every alert kind is built here, from what detection decided: the process context with its
// ancestry and CI job, the credential reads and notes that are its evidence, this host and the
// wall-clock time, and every text it carries passed through the redactor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alert/alert.h"
#include "catalogue/rules.h"
#include "decode/events.h"
#include "detect/process_context.h"
#include "detect/verdict.h"
#include "match/matcher.h"
#include "pipeline/credential_learner.h"
#include "report/text_redaction.h"
#include "state/process_table.h"
#include "stream/stream_table.h"

namespace credsentry::pipeline {

class AlertBuilder {
 public:
  // Secret alerts list the credential reads of the sender's lineage within
  // `credential_read_window_ns`; `learner` names where a secret was stored and redacts.
  AlertBuilder(std::string hostname, uint64_t credential_read_window_ns,
               const state::ProcessTable& processes, const CredentialLearner& learner,
               std::shared_ptr<const match::MatcherDatabase> db);

  void SetDatabase(std::shared_ptr<const match::MatcherDatabase> db) { db_ = std::move(db); }

  // "environment-secret-egress" when the secret was learned from a process environment,
  // "credential-file-egress" when it was read from a file, else "secret-egress".
  alert::Alert SecretEgress(const stream::StreamContext& ctx, const catalogue::CredentialKind& kind,
                            const match::SecretMatch& m, const detect::ResolvedDestination& dest,
                            const std::string& reason, const std::string& fingerprint) const;
  // "tainted-egress": `reads` are the credential reads the destination does not fit.
  alert::Alert TaintedEgress(const stream::StreamContext& ctx,
                             const std::vector<state::CredentialRead>& reads,
                             const detect::ResolvedDestination& dest) const;
  // "tainted-egress" of credential bytes the kernel moved to a socket (detect/kernel_copy.h).
  alert::Alert TransferEgress(const decode::Transfer& t,
                              const std::vector<state::CredentialRead>& sources,
                              const detect::ResolvedDestination& dest,
                              const std::vector<std::string>& kinds_held) const;
  // "tainted-egress" with action "blocked": prevent mode refused the connect of a process
  // tainted by a credential read or a memory scrape (bpf/egress.bpf.c).
  alert::Alert EgressBlocked(const decode::EgressBlocked& e,
                             const detect::ResolvedDestination& dest) const;
  // "process-credential-access"; `target` is null when unknown or out of scope.
  alert::Alert ProcessAccess(const decode::ProcessAccess& e, const state::Process* target) const;

  uint64_t WallNs(uint64_t mono_ns) const { return mono_ns + mono_to_wall_ns_; }

 private:
  // Joins argv for display, secrets (and `also`) hidden.
  detect::ArgvRedactor Argv(report::HiddenValue also = {}) const;
  void AddCredentialReads(const std::vector<state::CredentialRead>& reads, alert::Alert& a) const;
  // What every alert gets last: its time, this host, and its texts redacted.
  void Finish(uint64_t mono_ns, report::HiddenValue also, alert::Alert& a) const;

  std::string hostname_;
  uint64_t credential_read_window_ns_;
  const state::ProcessTable& processes_;
  const CredentialLearner& learner_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  uint64_t mono_to_wall_ns_;
};

}  // namespace credsentry::pipeline
