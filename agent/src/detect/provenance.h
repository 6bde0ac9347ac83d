// Provenance, the third kind of evidence: a process that read a credential file taints
// itself, its descendants and the processes its stdout pipes into, for a bounded time; egress from a tainted process to a
// destination not expected for that credential is an alert even when no key format matched.
// That covers what cannot be decoded: Java's and rustls' TLS, custom encryption, compression.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "catalogue/rules.h"
#include "detect/verdict.h"
#include "alert/alert.h"
#include "state/process_table.h"

namespace credsentry::detect {

struct ProvenanceOptions {
  uint64_t taint_ns = 10ull * 60 * 1000 * 1000 * 1000;  // how long a read taints
  size_t max_reported = 4096;                           // (process, destination) pairs kept
  // A tainted egress waits this long before it is reported: when the bytes turn out to hold a
  // secret (a format or known-value match), that alert says more and this one is dropped.
  uint64_t report_delay_ns = 2ull * 1000 * 1000 * 1000;
  size_t max_pending = 1024;
};

// Credential reads by `pid` or its ancestors in the `window_ns` before `now_mono_ns`.
std::vector<state::CredentialRead> CredentialReadsWithin(const state::ProcessTable& procs,
                                                         uint32_t pid, uint64_t now_mono_ns,
                                                         uint64_t window_ns);

class ProvenanceTracker {
 public:
  explicit ProvenanceTracker(ProvenanceOptions options = {});

  // Someone in `pid`'s lineage read a credential file within the taint window: the cheap test
  // before a destination is resolved.
  bool Tainted(const state::ProcessTable& procs, uint32_t pid, uint64_t now_mono_ns) const;

  // Credential reads by `pid` or its ancestors within the taint window whose file does not
  // allow `dest` (no kind of that file lists a matching destination), newest first. Empty when
  // the process is not tainted or the destination is expected.
  std::vector<state::CredentialRead> UnexpectedReads(const state::ProcessTable& procs,
                                                     const catalogue::RuleSet& rules, uint32_t pid,
                                                     const alert::Destination& dest,
                                                     uint64_t now_mono_ns) const;
  // True the first time (pid, destination) is seen within the taint window: one alert per
  // process and destination, however many writes follow.
  bool FirstReport(uint32_t pid, const alert::Destination& dest, uint64_t now_mono_ns);

  // Holds `alert` until report_delay_ns after `now`; false (and counted) when the pending
  // table is full.
  bool Defer(uint32_t pid, const alert::Destination& dest, alert::Alert alert,
             uint64_t now_mono_ns);
  // A secret alert covered this (process, destination): drop its pending alert, and do not
  // raise one later either.
  void Covered(uint32_t pid, const alert::Destination& dest, uint64_t now_mono_ns);
  // An alert that says more than tainted-egress is about to be raised for (process, destination):
  // true when it should be, dropping the pending tainted-egress it replaces (counted as covered);
  // false when one was already raised for them.
  bool Supersede(uint32_t pid, const alert::Destination& dest, uint64_t now_mono_ns);
  // Pending alerts due at `now` (all of them when `all`), oldest first.
  std::vector<alert::Alert> TakeDue(uint64_t now_mono_ns, bool all = false);
  uint64_t pending_dropped() const { return pending_dropped_; }
  uint64_t covered() const { return covered_; }

  const ProvenanceOptions& options() const { return options_; }

 private:
  struct Pending {
    uint64_t due_ns;
    alert::Alert alert;
  };
  ProvenanceOptions options_;
  Deduplicator reported_;
  std::map<std::string, Pending> pending_;  // by (pid, destination)
  uint64_t pending_dropped_ = 0;
  uint64_t covered_ = 0;
};

// Destinations the credential file with this id (file index + 1, as the kernel reports it)
// may legitimately reach: its own destinations and those of the kinds it is declared to hold.
// Empty: none known.
std::vector<std::string> ExpectedDestinationsOfFile(const catalogue::RuleSet& rules, uint32_t cred_id);

// True when `dest` is one the credential file with this id may reach (an IP alone never is).
bool DestinationExpectedForFile(const catalogue::RuleSet& rules, uint32_t cred_id,
                                const alert::Destination& dest);

// The "tainted-egress" alert (process context is filled by the caller).
alert::Alert TaintedEgressAlert(const std::string& comm, uint32_t pid,
                                 const std::vector<state::CredentialRead>& reads,
                                 const catalogue::RuleSet& rules, const ResolvedDestination& dest);

}  // namespace credsentry::detect
