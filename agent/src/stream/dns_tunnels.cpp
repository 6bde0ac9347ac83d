#include "stream/dns_tunnels.h"

namespace credsentry::stream {
namespace {

std::string SenderKey(uint32_t pid, std::string_view parent) {
  std::string key = std::to_string(pid);
  key.push_back('|');
  key.append(parent);
  return key;
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

DnsTunnels::DnsTunnels(std::shared_ptr<const match::MatcherDatabase> db,
                       std::shared_ptr<match::KnownValues> known_values,
                       match::MatchCounters& match_totals)
    : db_(std::move(db)),
      known_values_(std::move(known_values)),
      match_totals_(match_totals),
      reassembler_([this](const decoders::DnsTunnelPayload& p) { OnFlush(p); }) {}

void DnsTunnels::OnQuery(const StreamContext& ctx, std::string_view qname) {
  std::string parent = reassembler_.OnQuery(ctx.pid, qname, ctx.last_mono_ns);
  if (!parent.empty()) senders_[SenderKey(ctx.pid, parent)] = ctx;
}

void DnsTunnels::OnFlush(const decoders::DnsTunnelPayload& payload) {
  auto sender = senders_.extract(SenderKey(payload.pid, payload.parent));
  if (sender.empty() || !db_) return;
  const StreamContext& ctx = sender.mapped();
  for (const auto& candidate : payload.candidates) {
    match::MatchStream matcher(db_);
    matcher.SetKnownValues(known_values_);
    auto on_match = [&](const match::SecretMatch& m) {
      if (!on_secret_) return;
      match::SecretMatch found = m;
      found.decoding = {"dns", "dns-tunnel"};
      if (candidate.codec != "labels") found.decoding.emplace_back(candidate.codec);
      found.decoding.insert(found.decoding.end(), m.decoding.begin(), m.decoding.end());
      on_secret_(ctx, payload.parent, found);
    };
    matcher.Feed(AsBytes(candidate.bytes), on_match);
    matcher.Close(on_match);
    match_totals_ += matcher.counters();
  }
}

}  // namespace credsentry::stream
