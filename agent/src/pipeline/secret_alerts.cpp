// A secret found in a stream becomes a verdict: its destination is resolved (or waited for),
// judged against where its kind may go, deduplicated, and what is misuse becomes an alert.
#include "pipeline/pipeline.h"

namespace credsentry::pipeline {

void Pipeline::OnSecret(const stream::StreamKey& key, const stream::StreamContext& ctx,
                        const match::SecretMatch& m) {
  ++counters_.secret_matches;
  const stream::decoders::ConnectionFacts* facts = egress_.Facts(key);
  detect::ResolvedDestination dest = destinations_.Resolve(key, ctx, facts);
  if (!detect::DestinationResolver::Settled(key, dest.where)) {
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

// The queries went to a resolver, which passed them on to the server of `parent`: whoever holds
// that zone reads the payload, so it is the destination, and the resolver only the path (as a
// proxy is). A secret whose kind expects that domain is judged as going there.
void Pipeline::OnDnsTunnelSecret(const stream::StreamContext& ctx, const std::string& parent,
                                 const match::SecretMatch& m) {
  ++counters_.secret_matches;
  const stream::StreamKey socket{ctx.pid, stream::StreamOrigin::kSocket,
                                 static_cast<uint32_t>(ctx.fd)};
  const alert::Destination resolver = destinations_.Resolve(socket, ctx, nullptr).where;
  detect::ResolvedDestination dest;
  alert::Destination& d = dest.where;
  d.host = parent;
  d.port = 53;
  // DNS over TCP is a stream write; an unconnected sendto() has no connection to say UDP.
  d.transport = ctx.found_in == alert::FoundIn::kUdpWrite ? alert::Transport::kUdp
                                                          : alert::Transport::kTcp;
  d.name_source = alert::NameSource::kDnsTunnel;
  if (!resolver.unknown()) {
    d.via = alert::ProxyHop{
        .kind = alert::ProxyKind::kDnsResolver,
        .host = resolver.name_source == alert::NameSource::kDns ? resolver.host : "",
        .ip = resolver.ip,
        .port = resolver.port};
  }
  dest.notes.push_back("sent as the labels of several DNS queries under " + parent);
  JudgeSecret(ctx, m, dest);
}

void Pipeline::JudgeHeld(HeldSecret& h) {
  JudgeSecret(h.ctx, h.match, destinations_.Resolve(h.key, h.ctx, &h.facts));
}

void Pipeline::Tick(uint64_t now_mono_ns) {
  if (!held_.empty()) held_.Expire(now_mono_ns, false, [&](HeldSecret& h) { JudgeHeld(h); });
  if (!prevent_.empty()) SettleHolds(now_mono_ns);
}

void Pipeline::RetryHeld(uint32_t pid) {
  held_.Retry(pid, [&](HeldSecret& h) {
    detect::ResolvedDestination dest = destinations_.Resolve(h.key, h.ctx, &h.facts);
    if (!detect::DestinationResolver::Settled(h.key, dest.where)) return false;
    ++counters_.secrets_held_then_resolved;
    JudgeSecret(h.ctx, h.match, dest);
    return true;
  });
}

void Pipeline::JudgeSecret(const stream::StreamContext& ctx, const match::SecretMatch& m,
                           const detect::ResolvedDestination& dest) {
  const auto& rules = db_->rules();
  catalogue::CredentialKind known_kind;  // a learned value that fits no catalogue format
  if (m.known && m.kind_index == match::kKnownValueKind)
    known_kind = match::KnownValueKind(*m.known);
  if (m.kind_index >= rules.kinds.size() && known_kind.id.empty()) return;
  const catalogue::CredentialKind& kind =
      known_kind.id.empty() ? rules.kinds[m.kind_index] : known_kind;
  detect::Verdict verdict = detect::Judge(kind, dest.where, dest.unknown_why);
  if (!verdict.alert) {
    ++counters_.secrets_to_expected_destinations;
    return;
  }
  std::string fingerprint = m.value_available ? fingerprinter_.Of(m.value) : "";
  // A kill is always reported: it is not the same event as an earlier observation.
  bool killed = false;
  const alert::Action action = verdict.destination_unknown
                                   ? alert::Action::kObserved
                                   : StopSender(ctx, kind.id, dest, killed);
  std::string dedup_key = std::to_string(ctx.pid) + "|" + kind.id + "|" + fingerprint + "|" +
                          dest.where.host + "|" + dest.where.ip;
  if (!dedup_.FirstTime(dedup_key, ctx.last_mono_ns) && !killed) {
    ++counters_.alerts_suppressed_duplicate;
    return;
  }
  alert::Alert alert = alerts_.SecretEgress(ctx, kind, m, dest, verdict.reason, fingerprint);
  alert.action = action;
  if (verdict.destination_unknown) {
    ++counters_.verdicts_destination_unknown;
    alert.kind = "secret-egress-destination-unknown";
    alert.severity = alert::LowerSeverity(alert.severity);
  } else {
    provenance_.Covered(ctx.pid, dest.where, ctx.last_mono_ns);  // this alert says more than taint
  }
  WriteAlert(alert);
}

}  // namespace credsentry::pipeline
