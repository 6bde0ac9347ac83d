// The agent's data flow after the kernel: decode -> state -> streams -> detect -> report. One
// thread drives it: the loop in pipeline/daemon.cpp hands every ring-buffer record to Handle(),
// which routes each typed event to the rooms that own its state: the process and connection
// tables, the DNS tracker, the credential learner, the egress streams, the destination resolver
// and the alert builder. Everything they keep is bounded and everything they drop is counted.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "decode/events.h"
#include "detect/destination_resolver.h"
#include "detect/dns_tracker.h"
#include "detect/egress_policy.h"
#include "detect/kernel_copy.h"
#include "detect/provenance.h"
#include "detect/verdict.h"
#include "match/matcher.h"
#include "pipeline/alert_builder.h"
#include "pipeline/credential_learner.h"
#include "pipeline/held_secrets.h"
#include "pipeline/pipeline_counters.h"
#include "pipeline/prevent_gate.h"
#include "report/fingerprint.h"
#include "report/sink.h"
#include "state/connection_table.h"
#include "state/process_table.h"
#include "stream/egress_streams.h"

namespace credsentry::pipeline {

// What the pipeline asks of the kernel side (implemented over loader::Probes in daemon.cpp;
// faked in unit tests).
class KernelControl {
 public:
  virtual ~KernelControl() = default;
  virtual void UnwatchFd(uint32_t pid, int32_t fd) = 0;
  // An in-scope process exec'd: its executable and libraries may need uprobes (attach on exec).
  // `held`: the kernel stopped it at exec (a never-inspected executable) until this returns.
  virtual void OnExec(uint32_t /*pid*/, const std::string& /*filename*/,
                      uint64_t /*exec_mono_ns*/, bool /*held*/) {}
  // Prevent mode (prevent_gate.h): the verdict on a held process (false: the kernel refused),
  // and the anchors the kernel holds writes on.
  virtual bool KillHeld(uint32_t /*pid*/) { return false; }
  virtual void ReleaseHeld(uint32_t /*pid*/) {}
  virtual void SetPreventAnchors(const PreventAnchorSet& /*anchors*/) {}
  // Prevent mode's connect block: where tainted processes may connect (egress_policy.h).
  virtual void SetEgressAllowed(const detect::EgressUpdate& /*update*/) {}
};

struct PipelineOptions {
  std::string hostname;
  uint64_t dedup_window_ns = 60ull * 1000 * 1000 * 1000;
  size_t dedup_max_keys = 16384;
  uint64_t credential_read_window_ns = 3600ull * 1000 * 1000 * 1000;
  size_t max_known_secrets = 4096;
  // A secret whose destination is not known when it matches waits this long (kernel time) for
  // the records that name its connection, then is judged with what is known.
  uint64_t destination_hold_ns = 500ull * 1000 * 1000;
  size_t max_held_secrets = 1024;
  detect::ProvenanceOptions provenance;  // taint window after a credential-file read
};

class Pipeline {
 public:
  Pipeline(PipelineOptions options, const state::Scope& scope,
           std::shared_ptr<const match::MatcherDatabase> db, const report::Fingerprinter& fp,
           std::vector<report::AlertSink*> sinks, KernelControl* kernel);

  // Decodes one ring-buffer record and takes it through every stage.
  void Handle(std::span<const uint8_t> record);
  // New rules: streams in flight are flushed with the old database, later bytes use the new one.
  void SwapRules(std::shared_ptr<const match::MatcherDatabase> db);
  // A secret known to be stored in `path` (from the inventory, or a read by `reader`): its
  // egress names the file, and the reader when that is another process (cat | curl).
  void AddKnownSecret(const std::string& fingerprint, const std::string& path,
                      SecretReader reader = {}) {
    learner_.AddKnownSecret(fingerprint, path, std::move(reader));
  }
  // A secret value learned on this host (a credential variable in a process's environment):
  // its egress names `source`. The value stays in memory; known-value matching hooks in here.
  // `kind`: the catalogue kind whose env list names the variable (then the value is matched as
  // a literal in every stream, judged by that kind's destinations); null: fingerprint only.
  void LearnSecret(const std::string& value, const std::string& source,
                   const catalogue::CredentialKind* kind = nullptr) {
    learner_.LearnSecret(value, source, kind);
  }
  // Expires exited processes and idle streams. Call about once a second.
  void Housekeeping(uint64_t now_mono_ns);
  // Judges the secrets whose destination hold ran out. Call on every loop turn (cheap when none).
  void Tick(uint64_t now_mono_ns);
  // Flushes every stream (end-of-stream matches) before exit; releases every held process.
  void Drain();
  // Prevent mode on or off (start and SIGHUP): held writes are judged, and misuse kills the
  // sender unless an allow rule exempts it. Off releases whatever is held.
  void SetPrevent(bool on, std::vector<PreventAllow> allow);
  // egress.allow names (host globs): every tainted process may reach their addresses.
  void SetEgressAllowNames(std::vector<std::string> names);

  state::ProcessTable& processes() { return processes_; }
  state::ConnectionTable& connections() { return connections_; }
  // Every counter of pipeline_counters.h plus the sizes and drops of the tables it owns: the
  // `pipeline` object of --stats-file.
  std::map<std::string, uint64_t> Counters() const;
  // Debug trace: one JSON line per record (type, pid, tid, comm, fd, lengths; never payload).
  void SetTrace(std::FILE* trace) { trace_ = trace; }

 private:
  void Dispatch(const decode::Event& event);
  void OnCredentialOpen(const decode::CredentialOpen& e);
  void OnCredentialRead(const decode::CredentialRead& r);
  void OnSocketWrite(const decode::SocketWrite& w);
  void OnTlsWrite(const decode::TlsWrite& w);
  void OnClose(const decode::FdClose& e);
  void OnExit(const decode::ProcessExit& e);
  void OnProcessAccess(const decode::ProcessAccess& e);
  // Credential bytes the kernel moved (transfer_events.cpp): a read, and egress at a socket.
  void OnTransfer(const decode::Transfer& t);
  void OnTransferEgress(const decode::Transfer& t,
                        const std::vector<state::CredentialRead>& sources);
  void InspectEnvironments();
  // Prevent mode's connect block (egress_block_events.cpp): a refused connect is alerted, and a
  // DNS answer's addresses become reachable for the credentials that expect its name.
  void OnEgressBlocked(const decode::EgressBlocked& e);
  void OnDnsAnswer(const decode::DnsAnswer& e);
  void ApplyEgressRules();
  // The write joins its stream, which is matched; TCP and TLS egress is checked for taint.
  void FeedStream(const decode::EventHeader& h, const stream::StreamKey& key,
                  const stream::StreamWrite& w, std::span<const uint8_t> bytes);
  // Provenance: egress of a process tainted by a credential-file read to where that credential
  // is not expected raises "tainted-egress" once per (process, destination).
  void CheckTaintedEgress(const stream::StreamKey& key, const stream::StreamContext& ctx);
  // A secret matched in a stream: judged now, or held until its destination is known.
  void OnSecret(const stream::StreamKey& key, const stream::StreamContext& ctx,
                const match::SecretMatch& m);
  // The verdict on a secret and, when it is misuse, its alert. `dest` has no IP and no name
  // only when the hold ran out: then the finding says the destination is unknown, and why.
  void JudgeSecret(const stream::StreamContext& ctx, const match::SecretMatch& m,
                   const detect::ResolvedDestination& dest);
  // A secret in the payload of a DNS tunnel: it went to `parent`'s server, through the resolver
  // the queries were sent to.
  void OnDnsTunnelSecret(const stream::StreamContext& ctx, const std::string& parent,
                         const match::SecretMatch& m);
  // Held secrets of `pid` whose destination is known now are judged.
  void RetryHeld(uint32_t pid);
  void JudgeHeld(HeldSecret& h);
  void WriteAlert(const alert::Alert& alert);
  // Prevent mode: stops the sender of a secret judged misuse (prevent_gate.h): kKilled for a
  // held sender, kKilledAfterSend for one whose write had left, kObserved when nothing was done
  // (detect mode, an allow rule, the process gone). `fresh`: this call did the kill.
  alert::Action StopSender(const stream::StreamContext& ctx, const std::string& kind_id,
                           const detect::ResolvedDestination& dest, bool& fresh);
  // Releases the held processes that are judged or past the bound; keeps the anchors current.
  void SettleHolds(uint64_t now_mono_ns);

  PipelineOptions options_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  const report::Fingerprinter& fingerprinter_;
  std::vector<report::AlertSink*> sinks_;
  KernelControl* kernel_;
  state::ProcessTable processes_;
  detect::ProvenanceTracker provenance_;
  state::ConnectionTable connections_;
  detect::DnsTracker dns_;  // names of peers, from the DNS answers processes received
  detect::DestinationResolver destinations_{connections_, dns_};
  CredentialLearner learner_;
  AlertBuilder alerts_;
  detect::DerivedCredentials derived_;  // copies of credential files, by inode
  stream::EgressStreams egress_;
  detect::Deduplicator dedup_;
  HeldSecrets held_;
  bool prevent_on_ = false;
  std::vector<PreventAllow> prevent_allow_;
  PreventGate prevent_;
  size_t anchored_values_ = SIZE_MAX;  // known values the kernel's anchors were made from
  detect::EgressPolicy egress_policy_;
  std::vector<std::string> egress_allow_names_;
  PipelineCounters counters_;
  std::FILE* trace_ = nullptr;
};

}  // namespace credsentry::pipeline
