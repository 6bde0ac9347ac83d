// A secret found in a stream becomes an alert: destination verdict, deduplication, the process
// context and evidence, with the secret itself redacted everywhere it could appear.
#include <spdlog/spdlog.h>

#include "detect/process_context.h"
#include "alert/alert_id.h"
#include "pipeline/internal.h"
#include "pipeline/pipeline.h"
#include "report/alert_json.h"
#include "report/redact.h"

namespace credsentry::pipeline {
using internal::JoinArgv;

void Pipeline::OnSecret(const stream::StreamKey& key, const stream::StreamContext& ctx,
                        const match::SecretMatch& m) {
  ++counters_.secret_matches;
  const stream::decoders::ConnectionFacts* facts = CurrentFacts(key);
  detect::Destination dest = destinations_.Resolve(key, ctx, facts);
  if (!detect::DestinationResolver::Settled(key, dest)) {
    // The records that name the connection may still be on their way: wait for them.
    if (held_.Hold({key, ctx, m, facts ? *facts : stream::decoders::ConnectionFacts{},
                    ctx.last_mono_ns})) {
      ++counters_.secrets_held_for_destination;
      return;
    }
    ++counters_.secrets_hold_full;
  }
  JudgeSecret(ctx, m, dest);
}

void Pipeline::JudgeSecret(const stream::StreamContext& ctx, const match::SecretMatch& m,
                           const detect::Destination& dest) {
  const auto& rules = db_->rules();
  catalogue::CredentialKind known_kind;  // a learned value that fits no catalogue format
  if (m.known && m.kind_index == match::kKnownValueKind) known_kind = match::KnownValueKind(*m.known);
  if (m.kind_index >= rules.kinds.size() && known_kind.id.empty()) return;
  const catalogue::CredentialKind& kind = known_kind.id.empty() ? rules.kinds[m.kind_index] : known_kind;
  detect::Verdict verdict = detect::Judge(kind, dest);
  if (!verdict.alert) {
    ++counters_.secrets_to_expected_destinations;
    return;
  }
  std::string fingerprint = m.value_available ? fingerprinter_.Of(m.value) : "";
  std::string dedup_key = std::to_string(ctx.pid) + "|" + kind.id + "|" + fingerprint + "|" +
                          dest.host + "|" + dest.ip;
  if (!dedup_.FirstTime(dedup_key, ctx.last_mono_ns)) {
    ++counters_.alerts_suppressed_duplicate;
    return;
  }
  alert::Alert alert = BuildAlert(ctx, kind, m, dest, verdict.reason, fingerprint);
  if (verdict.destination_unknown) {
    ++counters_.verdicts_destination_unknown;
    alert.kind = "secret-egress-destination-unknown";
    alert.severity = alert::LowerSeverity(alert.severity);
  } else {
    provenance_.Covered(ctx.pid, dest, ctx.last_mono_ns);  // this alert says more than taint
  }
  ++counters_.alerts;
  for (auto* sink : sinks_) {
    if (!sink->Write(alert).ok()) ++counters_.alert_sink_errors;
  }
  // The alert's own fields: they went through the redactor, the stream context did not.
  spdlog::warn("ALERT {} {}: {} (pid {} {}) -> {}", alert.id, kind.id, alert.secret.redacted,
               ctx.pid, alert.process.comm,
               alert.destination.host.empty() ? alert.destination.ip : alert.destination.host);
}

alert::Alert Pipeline::BuildAlert(const stream::StreamContext& ctx,
                                   const catalogue::CredentialKind& kind,
                                   const match::SecretMatch& m, const detect::Destination& dest,
                                   const std::string& reason, const std::string& fingerprint) {
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.time_ns = WallNs(ctx.last_mono_ns);
  a.severity = kind.severity;
  a.host = options_.hostname;
  const std::string value = m.value_available ? m.value : "";
  const report::HiddenValue also{value, kind.preview_prefix};

  // The same process context as the other alert kinds, the alert's own key hidden too.
  detect::DescribeProcess(
      processes_, ctx.pid, ctx.comm,
      [&](const std::vector<std::string>& argv) { return RedactSecretsIn(JoinArgv(argv), also); },
      a.process, a.ci);

  a.secret.type = kind.id;
  a.secret.provider = kind.provider;
  a.secret.name = kind.name;
  a.secret.redacted = m.value_available ? report::Redact(m.value, kind.preview_prefix) : "(unavailable)";
  a.secret.fingerprint = fingerprint;
  a.secret.found_in = ctx.found_in;

  a.destination.host = dest.host;
  a.destination.ip = dest.ip;
  a.destination.port = dest.port;
  a.destination.transport = dest.transport;
  a.destination.name_source = dest.name_source;
  a.destination.expected = kind.destinations;

  uint64_t since = ctx.last_mono_ns > options_.credential_read_window_ns
                       ? ctx.last_mono_ns - options_.credential_read_window_ns
                       : 0;
  for (const auto& r : processes_.CredentialReadsInLineage(ctx.pid, since)) {
    a.evidence.credential_reads.push_back({r.path, r.pid, r.comm, WallNs(r.mono_ns)});
  }
  a.evidence.decoding = m.decoding;
  a.evidence.notes = dest.notes;
  if (ctx.gaps) a.evidence.notes.push_back("capture of this stream was truncated " + std::to_string(ctx.gaps) + " time(s)");

  auto known = known_secrets_.find(fingerprint);
  bool from_file = known != known_secrets_.end() || !a.evidence.credential_reads.empty();
  if (known != known_secrets_.end()) {
    const KnownSecret& k = known->second;
    std::string note = "this exact secret was read from " + k.path;
    if (k.reader.pid != 0 && k.reader.pid != ctx.pid) {
      // Another process read it (cat file | curl): its read is evidence of this egress too.
      note += " by " + k.reader.comm + " (pid " + std::to_string(k.reader.pid) + ")";
      bool listed = false;
      for (const auto& r : a.evidence.credential_reads) listed |= r.pid == k.reader.pid;
      if (!listed) {
        a.evidence.credential_reads.push_back(
            {k.path, k.reader.pid, k.reader.comm, WallNs(k.reader.mono_ns)});
      }
    }
    a.evidence.notes.push_back(note);
  }
  a.kind = from_file ? "credential-file-egress" : "secret-egress";
  a.summary = ctx.comm + " (pid " + std::to_string(ctx.pid) + "): " + reason;
  if (!a.evidence.credential_reads.empty()) {
    a.summary += " after reading " + a.evidence.credential_reads.front().path;
  }
  report::RedactAlertText(a, redactor_, db_, also);
  return a;
}

}  // namespace credsentry::pipeline
