// The agent's data flow after the kernel: decode -> state -> streams -> detect -> report. One
// thread drives it: the loop in pipeline/daemon.cpp hands every ring-buffer record
// to Handle(). Everything it keeps is bounded and everything it drops is counted.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/events.h"
#include "detect/destination_resolver.h"
#include "detect/dns_tracker.h"
#include "detect/provenance.h"
#include "detect/verdict.h"
#include "pipeline/held_secrets.h"
#include "pipeline/pipeline_counters.h"
#include "report/fingerprint.h"
#include "report/sink.h"
#include "report/text_redaction.h"
#include "state/connection_table.h"
#include "state/dns_cache.h"
#include "state/process_table.h"
#include "match/matcher.h"
#include "stream/stream_table.h"

namespace credsentry::pipeline {

// What the pipeline asks of the kernel side (implemented over loader::Probes in daemon.cpp;
// faked in unit tests).
class KernelControl {
 public:
  virtual ~KernelControl() = default;
  virtual void UnwatchFd(uint32_t pid, int32_t fd) = 0;
  // An in-scope process exec'd: its executable and libraries may need uprobes (attach on exec).
  virtual void OnExec(uint32_t /*pid*/, const std::string& /*filename*/,
                      uint64_t /*exec_mono_ns*/) {}
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

// The process that read a secret from a credential file (for evidence on its egress).
struct SecretReader {
  uint32_t pid = 0;  // 0: not read by a process we saw (the inventory found it on disk)
  std::string comm;
  uint64_t mono_ns = 0;
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
                      SecretReader reader = {});
  // A secret value learned on this host (a credential variable in a process's environment):
  // its egress names `source`. The value stays in memory; known-value matching hooks in here.
  // `kind`: the catalogue kind whose env list names the variable (then the value is matched as
  // a literal in every stream, judged by that kind's destinations); null: fingerprint only.
  void LearnSecret(const std::string& value, const std::string& source,
                   const catalogue::CredentialKind* kind = nullptr);
  // Expires exited processes and idle streams. Call about once a second.
  void Housekeeping(uint64_t now_mono_ns);
  // Judges the secrets whose destination hold ran out. Call on every loop turn (cheap when none).
  void Tick(uint64_t now_mono_ns);
  // Flushes every stream (end-of-stream matches) before exit.
  void Drain();

  state::ProcessTable& processes() { return processes_; }
  state::ConnectionTable& connections() { return connections_; }
  // Every counter of pipeline_counters.h plus the sizes and drops of the tables it owns: the
  // `pipeline` object of --stats-file.
  std::map<std::string, uint64_t> Counters() const;
  // Debug trace: one JSON line per record (type, pid, tid, comm, fd, lengths; never payload).
  void SetTrace(std::FILE* trace) { trace_ = trace; }

 private:
  struct KnownSecret {
    std::string path;  // credential file it was read from
    SecretReader reader;
  };

  void Dispatch(const decode::Event& event);
  void OnCredentialOpen(const decode::CredentialOpen& e);
  void OnCredentialRead(const decode::Payload& p);
  void OnSocketData(const decode::Payload& p);
  void OnTlsData(const decode::Payload& p);
  void OnClose(const decode::FdClose& e);
  void OnExit(const decode::ProcessExit& e);
  void OnProcessAccess(const decode::ProcessAccess& e);
  void InspectEnvironmentsWith(const catalogue::RuleSet& rules);
  void WriteAlert(const alert::Alert& alert);
  // Provenance: egress of a process tainted by a credential-file read to where that credential
  // is not expected raises "tainted-egress" once per (process, destination).
  void CheckTaintedEgress(const stream::StreamKey& key, const stream::StreamContext& ctx);
  void FeedStream(const stream::StreamKey& key, const decode::Payload& p, const char* found_in);
  void FeedUnit(const stream::StreamKey& key, stream::Stream& s,
                const stream::decoders::DecodedChunk& c);
  void CloseUnit(const stream::StreamKey& key, stream::Stream& s, stream::UnitStream& us);
  void OnUnitSecret(const stream::StreamKey& key, stream::Stream& s, const stream::UnitStream& us,
                    const match::SecretMatch& m);
  void AddStreamCounters(const stream::Stream& s);
  const stream::decoders::ConnectionFacts* CurrentFacts(const stream::StreamKey& key);
  void OnSecret(const stream::StreamKey& key, const stream::StreamContext& ctx,
                const match::SecretMatch& m);
  // The verdict on a secret and, when it is misuse, its alert. `dest` has no IP and no name
  // only when the hold ran out: then the finding says the destination is unknown, and why.
  void JudgeSecret(const stream::StreamContext& ctx, const match::SecretMatch& m,
                   const detect::Destination& dest);
  // Held secrets of `pid` whose destination is known now are judged.
  void RetryHeld(uint32_t pid);
  alert::Alert BuildAlert(const stream::StreamContext& ctx, const catalogue::CredentialKind& kind,
                           const match::SecretMatch& m, const detect::Destination& dest,
                           const std::string& reason, const std::string& fingerprint);
  // Every text an alert, log or trace line carries goes through here (report/text_redaction.h):
  // catalogue formats, learned values, `also` (the secret an alert is about) and secret shapes.
  std::string RedactSecretsIn(std::string_view text, report::HiddenValue also = {}) const {
    return redactor_.Redact(text, db_, std::span(&also, 1));
  }
  void Trace(const decode::Event& event);
  uint64_t WallNs(uint64_t mono_ns) const { return mono_ns + mono_to_wall_ns_; }

  PipelineOptions options_;
  const state::Scope& scope_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  const report::Fingerprinter& fingerprinter_;
  std::vector<report::AlertSink*> sinks_;
  KernelControl* kernel_;
  state::ProcessTable processes_;
  detect::ProvenanceTracker provenance_;
  state::ConnectionTable connections_;
  detect::DnsTracker dns_;  // names of peers, from the DNS answers processes received
  detect::DestinationResolver destinations_{connections_, dns_};
  stream::StreamTable streams_;
  detect::Deduplicator dedup_;
  HeldSecrets held_;
  // (pid, fd) of open credential files -> path, so reads can name the file.
  std::unordered_map<uint64_t, std::string> credential_fds_;
  // Fingerprints of secrets learned from credential-file reads -> where they were stored.
  std::unordered_map<std::string, KnownSecret> known_secrets_;
  PipelineCounters counters_;
  // Totals of closed streams and units (exported as matcher_* and decoder_*).
  match::MatchCounters match_totals_;
  stream::decoders::DecoderCounters decoder_totals_;
  stream::decoders::DecoderCounters dns_counters_;  // DNS messages in UDP writes (dns_*)
  std::FILE* trace_ = nullptr;
  uint64_t mono_to_wall_ns_ = 0;
  // Values read from credential files, matched as literals in every stream.
  std::shared_ptr<match::KnownValues> known_values_ = std::make_shared<match::KnownValues>();
  // Every secret value learned on this host, so that no output shows one (bounded).
  report::TextRedactor redactor_;
};

}  // namespace credsentry::pipeline
