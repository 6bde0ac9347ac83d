#include "stream/egress_streams.h"

#include "stream/decoders/dns.h"

namespace credsentry::stream {

StreamWrite StreamWrite::Of(const decode::EventHeader& h, int32_t fd, uint64_t ssl,
                            alert::FoundIn found_in, const decode::Capture& c) {
  // A capture cut short is one gap of the stream, counted at the call's last chunk.
  return {.pid = h.pid,
          .tid = h.tid,
          .comm = h.comm,
          .fd = fd,
          .ssl = ssl,
          .found_in = found_in,
          .mono_ns = h.ts_ns,
          .bytes = c.data.size(),
          .gap = c.truncated && c.last_chunk};
}

EgressStreams::EgressStreams(size_t max_streams, std::shared_ptr<const match::MatcherDatabase> db,
                             std::shared_ptr<match::KnownValues> known_values, SecretSink on_secret)
    : db_(std::move(db)),
      known_values_(std::move(known_values)),
      on_secret_(std::move(on_secret)),
      streams_(max_streams) {
  streams_.SetCloseHook([this](const StreamKey& key, Stream& s) { OnClose(key, s); });
}

StreamContext& EgressStreams::Record(const StreamKey& key, const StreamWrite& w) {
  Stream& s = streams_.Get(key, db_);
  if (!s.matcher->has_known_values()) s.matcher->SetKnownValues(known_values_);
  StreamContext& ctx = s.ctx;
  ctx.pid = w.pid;
  ctx.tid = w.tid;
  ctx.comm = w.comm;
  ctx.origin = key.origin;
  ctx.found_in = w.found_in;
  if (key.origin == StreamOrigin::kTls) {
    ctx.ssl = w.ssl;
    if (w.fd >= 0) ctx.fd = w.fd;
  } else {
    ctx.fd = w.fd;
  }
  if (w.explicit_destination) ctx.explicit_destination = w.explicit_destination;
  ctx.last_mono_ns = w.mono_ns;
  ctx.bytes += w.bytes;
  if (w.gap) ++ctx.gaps;
  return ctx;
}

void EgressStreams::Scan(const StreamKey& key, std::span<const uint8_t> bytes, Framing framing) {
  Stream* s = streams_.Find(key);
  if (!s) return;
  AdoptTunnel(key, *s);
  counters_.bytes_matched += bytes.size();
  s->matcher->Feed(bytes, [&](const match::SecretMatch& m) { on_secret_(key, s->ctx, m); });
  auto on_chunk = [&](const decoders::DecodedChunk& c) { FeedUnit(key, *s, c); };
  switch (framing) {
    case Framing::kStream:
      s->decoder->Feed(bytes, on_chunk);
      AdoptTunnel(key, *s);  // a handshake that ended here names the next write's target
      break;
    case Framing::kDnsDatagram:
      // Each datagram is a whole message; DNS queries may smuggle a key in their labels.
      decoders::EmitDnsMessage(bytes, decoders::DnsTransport::kUdp, ++s->unit_seq, dns_counters_,
                               on_chunk);
      break;
    case Framing::kDatagram:
      break;
  }
}

// A stream learns its tunnel once: a socket stream from its own handshake, TLS plaintext from
// the handshake on the socket it is written to (known once the resolver has tied the two).
void EgressStreams::AdoptTunnel(const StreamKey& key, Stream& s) {
  if (s.ctx.tunnel) return;
  if (const auto& own = s.decoder->facts().tunnel) {
    s.ctx.tunnel = own;
    return;
  }
  if (key.origin != StreamOrigin::kTls || s.ctx.fd < 0) return;
  const StreamKey socket{key.pid, StreamOrigin::kSocket, static_cast<uint32_t>(s.ctx.fd)};
  if (Stream* sock = streams_.Find(socket); sock && sock->decoder->facts().tunnel) {
    s.ctx.tunnel = sock->decoder->facts().tunnel;
  }
}

const decoders::ConnectionFacts* EgressStreams::Facts(const StreamKey& key) {
  Stream* s = streams_.Find(key);
  return s && s->decoder ? &s->decoder->facts() : nullptr;
}

void EgressStreams::CloseIf(
    const std::function<bool(const StreamKey&, const StreamContext&)>& pred) {
  streams_.CloseIf([&](const StreamKey& k, const Stream& s) { return pred(k, s.ctx); });
}

void EgressStreams::CloseAll() {
  streams_.CloseIf([](const StreamKey&, const Stream&) { return true; });
  dns_tunnels_.FlushAll();
}

// The one place a closed stream's counters join the totals (its units' matchers joined them
// in CloseUnit).
void EgressStreams::OnClose(const StreamKey& key, Stream& s) {
  // First what the decoder still holds (a body or message the stream's end cut off), so it is
  // matched before the matcher and the units close.
  s.decoder->Finish([&](const decoders::DecodedChunk& c) { FeedUnit(key, s, c); });
  s.matcher->Close([&](const match::SecretMatch& m) { on_secret_(key, s.ctx, m); });
  for (auto& [unit, us] : s.units) CloseUnit(key, s, us);
  s.units.clear();
  match_totals_ += s.matcher->counters();
  decoder_totals_ += s.decoder->counters();
  if (s.decoder->facts().mid_stream) ++counters_.streams_seen_mid_stream;
}

void EgressStreams::FeedUnit(const StreamKey& key, Stream& s, const decoders::DecodedChunk& c) {
  if (c.layer == decoders::kLayerDnsQname) {
    // A name alone is matched below; the queries of a tunnel are only a payload together.
    dns_tunnels_.OnQuery(s.ctx, {reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size()});
  }
  if (c.undecoded) return;  // the stream's own matcher already saw these bytes
  UnitKey uk{std::string(c.layer), c.unit_id};
  auto it = s.units.find(uk);
  if (it == s.units.end()) {
    if (s.units.size() >= Stream::kMaxOpenUnits) {
      auto oldest = s.units.begin();
      for (auto u = s.units.begin(); u != s.units.end(); ++u) {
        if (u->second.opened_seq < oldest->second.opened_seq) oldest = u;
      }
      CloseUnit(key, s, oldest->second);
      s.units.erase(oldest);
      ++counters_.decoded_units_evicted;
    }
    UnitStream us;
    us.matcher = std::make_unique<match::MatchStream>(db_);
    us.matcher->SetKnownValues(known_values_);
    if (c.decoding) us.decoding = *c.decoding;
    us.opened_seq = ++s.unit_seq;
    it = s.units.emplace(std::move(uk), std::move(us)).first;
  }
  counters_.bytes_decoded += c.bytes.size();
  UnitStream& us = it->second;
  us.matcher->Feed(c.bytes, [&](const match::SecretMatch& m) { OnUnitSecret(key, s, us, m); });
  if (c.unit_end) {
    CloseUnit(key, s, us);
    s.units.erase(it);
  }
}

void EgressStreams::CloseUnit(const StreamKey& key, Stream& s, UnitStream& us) {
  us.matcher->Close([&](const match::SecretMatch& m) { OnUnitSecret(key, s, us, m); });
  match_totals_ += us.matcher->counters();
}

// A unit's match says how its bytes were decoded: the unit's steps, then the matcher's own.
void EgressStreams::OnUnitSecret(const StreamKey& key, const Stream& s, const UnitStream& us,
                                 const match::SecretMatch& m) {
  match::SecretMatch decoded = m;
  decoded.decoding = us.decoding;
  decoded.decoding.insert(decoded.decoding.end(), m.decoding.begin(), m.decoding.end());
  on_secret_(key, s.ctx, decoded);
}

}  // namespace credsentry::stream
