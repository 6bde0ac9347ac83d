#include "pipeline/pipeline.h"

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "pipeline/internal.h"
#include "credsentry_abi.h"

namespace credsentry::pipeline {
using internal::FdKey;

Pipeline::Pipeline(PipelineOptions options, const state::Scope& scope,
                   std::shared_ptr<const match::MatcherDatabase> db,
                   const report::Fingerprinter& fp, std::vector<report::AlertSink*> sinks,
                   KernelControl* kernel)
    : options_(std::move(options)),
      scope_(scope),
      db_(std::move(db)),
      fingerprinter_(fp),
      sinks_(std::move(sinks)),
      kernel_(kernel),
      processes_(scope),
      provenance_(options_.provenance),
      streams_(4096),
      dedup_(options_.dedup_window_ns, options_.dedup_max_keys),
      held_(options_.max_held_secrets, options_.destination_hold_ns) {
  mono_to_wall_ns_ = WallClockNs() - MonotonicNs();
  if (db_) InspectEnvironmentsWith(db_->rules());
  streams_.SetCloseHook([this](const stream::StreamKey& key, stream::Stream& s) {
    s.matcher->Close([&](const match::SecretMatch& m) { OnSecret(key, s.ctx, m); });
    for (auto& [unit, us] : s.units) CloseUnit(key, s, us);
    s.units.clear();
    AddStreamCounters(s);
  });
}

void Pipeline::Handle(std::span<const uint8_t> record) {
  ++counters_.records;
  auto event = decode::Decode(record);
  if (!event) {
    ++counters_.records_undecodable;
    if (counters_.records_undecodable % 1000 == 1) {
      spdlog::warn("undecodable kernel record: {}", event.message());
    }
    return;
  }
  if (trace_) Trace(*event);
  Dispatch(*event);
}

void Pipeline::Dispatch(const decode::Event& event) {
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, decode::ProcessExec>) {
          processes_.OnExec(e);
          if (kernel_) kernel_->OnExec(e.header.pid, e.filename, e.header.ts_ns);
        } else if constexpr (std::is_same_v<T, decode::ProcessFork>) {
          processes_.OnFork(e);
        } else if constexpr (std::is_same_v<T, decode::ProcessExit>) {
          OnExit(e);
        } else if constexpr (std::is_same_v<T, decode::CredentialOpen>) {
          OnCredentialOpen(e);
        } else if constexpr (std::is_same_v<T, decode::Payload>) {
          if (e.truncated()) ++counters_.payload_truncated;
          switch (e.header.type) {
            case CS_EV_CRED_READ: OnCredentialRead(e); break;
            case CS_EV_SOCK_DATA: OnSocketData(e); break;
            case CS_EV_TLS_DATA: OnTlsData(e); break;
          }
        } else if constexpr (std::is_same_v<T, decode::Connect>) {
          processes_.Ensure(e.header);
          connections_.OnConnect(e);
          // A reused fd number is a new connection: forget the old stream.
          streams_.Close({e.header.pid, stream::StreamOrigin::kSocket, static_cast<uint32_t>(e.fd)});
        } else if constexpr (std::is_same_v<T, decode::TlsSni>) {
          connections_.OnTlsSni(e.header.pid, e.ssl, e.name, e.header.ts_ns);
        } else if constexpr (std::is_same_v<T, decode::TlsFd>) {
          connections_.OnTlsFd(e.header.pid, e.ssl, e.fd, e.header.ts_ns);
        } else if constexpr (std::is_same_v<T, decode::FdClose>) {
          OnClose(e);
        } else if constexpr (std::is_same_v<T, decode::ProcessAccess>) {
          OnProcessAccess(e);
        }
      },
      event);
  // A connect, an SNI, a ClientHello or a write that ties a TLS object to its socket may name
  // the destination of a secret that matched before it.
  if (!held_.empty()) RetryHeld(decode::HeaderOf(event).pid);
}

void Pipeline::WriteAlert(const alert::Alert& alert) {
  ++counters_.alerts;
  for (auto* sink : sinks_) {
    if (!sink->Write(alert).ok()) ++counters_.alert_sink_errors;
  }
  spdlog::warn("ALERT {} {}: {}", alert.id, alert.kind, alert.summary);
}

void Pipeline::OnSocketData(const decode::Payload& p) {
  if (p.direction == CS_DIR_INGRESS) {  // the kernel copies receives of DNS sockets only
    dns_.OnReceived(p.header.pid, p.fd, p.fd_kind == CS_FD_SOCK_TCP, p.truncated(), p.data,
                    p.header.ts_ns);
    return;
  }
  if (p.sock_state == CS_SOCK_TLS || stream::decoders::LooksLikeTlsHandshake(p.data)) {
    // The ClientHello of a TLS connection (the kernel sends nothing after it): its SNI names
    // the destination even when the TLS library is one we cannot hook.
    ++counters_.tls_client_hellos;
    if (auto hello = stream::decoders::ParseClientHello(p.data)) {
      std::string alpn = hello->alpn.empty() ? "" : hello->alpn.front();
      connections_.SetSocketSni(p.header.pid, p.fd, hello->sni, alpn);
    } else {
      ++counters_.tls_client_hellos_unparsed;
    }
    // A TLS stack we cannot hook (Java, rustls) shows nothing but this: provenance still can.
    stream::StreamContext hello_ctx;
    hello_ctx.pid = p.header.pid;
    hello_ctx.comm = p.header.comm;
    hello_ctx.fd = p.fd;
    hello_ctx.last_mono_ns = p.header.ts_ns;
    processes_.Ensure(p.header);
    CheckTaintedEgress({p.header.pid, stream::StreamOrigin::kSocket, static_cast<uint32_t>(p.fd)},
                       hello_ctx);
    return;
  }
  FeedStream({p.header.pid, stream::StreamOrigin::kSocket, static_cast<uint32_t>(p.fd)}, p,
             p.fd_kind == CS_FD_SOCK_UDP ? "udp-write" : "socket-write");
}

void Pipeline::OnTlsData(const decode::Payload& p) {
  if (p.fd >= 0) connections_.OnTlsFd(p.header.pid, p.ssl, p.fd, p.header.ts_ns);
  FeedStream({p.header.pid, stream::StreamOrigin::kTls, p.ssl}, p, "tls-write");
}

void Pipeline::FeedStream(const stream::StreamKey& key, const decode::Payload& p,
                          const char* found_in) {
  processes_.Ensure(p.header);
  stream::Stream& s = streams_.Get(key, db_);
  if (!s.matcher->has_known_values()) s.matcher->SetKnownValues(known_values_);
  auto& ctx = s.ctx;
  ctx.pid = p.header.pid;
  ctx.tid = p.header.tid;
  ctx.comm = p.header.comm;
  ctx.origin = key.origin;
  ctx.found_in = found_in;
  if (key.origin == stream::StreamOrigin::kTls) {
    ctx.ssl = p.ssl;
    if (p.fd >= 0) ctx.fd = p.fd;
  } else {
    ctx.fd = p.fd;
  }
  if (p.explicit_destination) ctx.explicit_destination = p.explicit_destination;
  ctx.last_mono_ns = p.header.ts_ns;
  ctx.bytes += p.data.size();
  if (p.truncated() && p.last_chunk()) ++ctx.gaps;
  destinations_.Remember(key, ctx);
  if (p.fd_kind != CS_FD_SOCK_UDP) CheckTaintedEgress(key, ctx);
  counters_.bytes_matched += p.data.size();
  s.matcher->Feed(p.data, [&](const match::SecretMatch& m) { OnSecret(key, ctx, m); });
  auto on_chunk = [&](const stream::decoders::DecodedChunk& c) { FeedUnit(key, s, c); };
  if (p.fd_kind == CS_FD_SOCK_UDP) {
    // Each datagram is a whole message; DNS queries may smuggle a key in their labels.
    if (destinations_.PeerPort(ctx) == 53) {
      stream::decoders::EmitDnsMessage(p.data, stream::decoders::DnsTransport::kUdp, ++s.unit_seq,
                                       dns_counters_, on_chunk);
    }
    return;
  }
  s.decoder->Feed(p.data, on_chunk);
}

void Pipeline::FeedUnit(const stream::StreamKey& key, stream::Stream& s,
                        const stream::decoders::DecodedChunk& c) {
  if (c.layer == "raw") return;  // undecoded bytes: the stream's own matcher already saw them
  stream::UnitKey uk{std::string(c.layer), c.unit_id};
  auto it = s.units.find(uk);
  if (it == s.units.end()) {
    if (s.units.size() >= stream::Stream::kMaxOpenUnits) {
      auto oldest = s.units.begin();
      for (auto u = s.units.begin(); u != s.units.end(); ++u) {
        if (u->second.opened_seq < oldest->second.opened_seq) oldest = u;
      }
      CloseUnit(key, s, oldest->second);
      s.units.erase(oldest);
      ++counters_.decoded_units_evicted;
    }
    stream::UnitStream us;
    us.matcher = std::make_unique<match::MatchStream>(db_);
    us.matcher->SetKnownValues(known_values_);
    if (c.decoding) us.decoding = *c.decoding;
    us.opened_seq = ++s.unit_seq;
    it = s.units.emplace(std::move(uk), std::move(us)).first;
  }
  counters_.bytes_decoded += c.bytes.size();
  stream::UnitStream& us = it->second;
  us.matcher->Feed(c.bytes, [&](const match::SecretMatch& m) { OnUnitSecret(key, s, us, m); });
  if (c.unit_end) {
    CloseUnit(key, s, us);
    s.units.erase(it);
  }
}

void Pipeline::CloseUnit(const stream::StreamKey& key, stream::Stream& s, stream::UnitStream& us) {
  us.matcher->Close([&](const match::SecretMatch& m) { OnUnitSecret(key, s, us, m); });
  match_totals_ += us.matcher->counters();
}

void Pipeline::OnUnitSecret(const stream::StreamKey& key, stream::Stream& s,
                            const stream::UnitStream& us, const match::SecretMatch& m) {
  match::SecretMatch decoded = m;
  decoded.decoding = us.decoding;
  decoded.decoding.insert(decoded.decoding.end(), m.decoding.begin(), m.decoding.end());
  OnSecret(key, s.ctx, decoded);
}

// The one place a closed stream's counters join the totals (its units' matchers joined them
// in CloseUnit).
void Pipeline::AddStreamCounters(const stream::Stream& s) {
  match_totals_ += s.matcher->counters();
  decoder_totals_ += s.decoder->counters();
  if (s.decoder->facts().mid_stream) ++counters_.streams_seen_mid_stream;
}

const stream::decoders::ConnectionFacts* Pipeline::CurrentFacts(const stream::StreamKey& key) {
  stream::Stream* s = streams_.Find(key);
  return s && s->decoder ? &s->decoder->facts() : nullptr;
}

void Pipeline::Tick(uint64_t now_mono_ns) {
  if (held_.empty()) return;
  held_.Expire(now_mono_ns, false, [&](HeldSecret& h) {
    JudgeSecret(h.ctx, h.match, destinations_.Resolve(h.key, h.ctx, &h.facts));
  });
}

void Pipeline::RetryHeld(uint32_t pid) {
  held_.Retry(pid, [&](HeldSecret& h) {
    detect::Destination dest = destinations_.Resolve(h.key, h.ctx, &h.facts);
    if (!detect::DestinationResolver::Settled(h.key, dest)) return false;
    ++counters_.secrets_held_then_resolved;
    JudgeSecret(h.ctx, h.match, dest);
    return true;
  });
}

void Pipeline::OnClose(const decode::FdClose& e) {
  credential_fds_.erase(FdKey(e.header.pid, e.fd));
  dns_.ForgetSocket(e.header.pid, e.fd);
  const uint32_t pid = e.header.pid;
  const int32_t fd = e.fd;
  // Flush the streams while the connection is still known, then forget it.
  streams_.CloseIf([&](const stream::StreamKey& k, const stream::Stream& s) {
    return k.pid == pid && s.ctx.fd == fd;
  });
  connections_.OnClose(pid, fd);
}

void Pipeline::OnExit(const decode::ProcessExit& e) {
  processes_.OnExit(e);
  const uint32_t pid = e.header.pid;
  dns_.ForgetProcess(pid);
  // Its streams are complete: flush end-of-stream matches now, while the process is known.
  streams_.CloseIf([&](const stream::StreamKey& k, const stream::Stream&) { return k.pid == pid; });
}

void Pipeline::Housekeeping(uint64_t now_mono_ns) {
  for (const auto& alert : provenance_.TakeDue(now_mono_ns)) WriteAlert(alert);
  for (uint32_t pid : processes_.Expire(now_mono_ns)) {
    for (int32_t fd : connections_.ForgetProcess(pid)) {
      if (kernel_) kernel_->UnwatchFd(pid, fd);
    }
    for (auto it = credential_fds_.begin(); it != credential_fds_.end();) {
      if ((it->first >> 32) == pid) {
        if (kernel_) kernel_->UnwatchFd(pid, static_cast<int32_t>(it->first & 0xffffffffu));
        it = credential_fds_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Idle streams: a connection silent for a minute is flushed and forgotten.
  const uint64_t idle_ns = 60ull * 1000 * 1000 * 1000;
  streams_.CloseIf([&](const stream::StreamKey&, const stream::Stream& s) {
    return s.ctx.last_mono_ns + idle_ns < now_mono_ns;
  });
}

void Pipeline::SwapRules(std::shared_ptr<const match::MatcherDatabase> db) {
  Drain();
  db_ = std::move(db);
  if (db_) InspectEnvironmentsWith(db_->rules());
}

void Pipeline::Drain() {
  streams_.CloseIf([](const stream::StreamKey&, const stream::Stream&) { return true; });
  held_.Expire(0, true, [&](HeldSecret& h) {
    JudgeSecret(h.ctx, h.match, destinations_.Resolve(h.key, h.ctx, &h.facts));
  });
  for (const auto& alert : provenance_.TakeDue(0, true)) WriteAlert(alert);
}

std::map<std::string, uint64_t> Pipeline::Counters() const {
  std::map<std::string, uint64_t> out;
  ExportCounters(counters_, "", out);
  ExportCounters(match_totals_, kMatcherPrefix, out);
  ExportCounters(decoder_totals_, kDecoderPrefix, out);
  ExportCounters(dns_counters_, kDnsDecoderPrefix, out);
  ExportCounters(dns_.counters(), kDnsDecoderPrefix, out);
  out["processes"] = processes_.size();
  out["processes_evicted"] = processes_.evicted();
  out["connections"] = connections_.size();
  out["connections_evicted"] = connections_.evicted();
  out["streams"] = streams_.size();
  out["streams_evicted"] = streams_.evicted();
  out["known_secrets"] = known_secrets_.size();
  out["secrets_held"] = held_.size();
  out["known_values"] = known_values_->size();
  ExportCounters(known_values_->counters(), kKnownValuesPrefix, out);
  out["redaction_values"] = redactor_.size();
  out["redaction_values_dropped"] = redactor_.dropped();
  out["dns_cache_entries"] = dns_.cache().size();
  out["dns_cache_evicted"] = dns_.cache().evicted();
  out["dns_cache_expired"] = dns_.cache().expired();
  out["tainted_egress_covered_by_secret_alerts"] = provenance_.covered();
  out["tainted_egress_pending_dropped"] = provenance_.pending_dropped();
  out["tainted_pipes"] = processes_.tainted_pipes();
  out["tainted_pipes_evicted"] = processes_.tainted_pipes_evicted();
  out["environ_reads"] = processes_.environ_reads();
  out["environ_unreadable"] = processes_.environ_unreadable();
  out["environ_truncated"] = processes_.environ_truncated();
  return out;
}

void Pipeline::Trace(const decode::Event& event) {
  const auto& h = decode::HeaderOf(event);
  nlohmann::json j{{"type", decode::EventTypeName(h.type)}, {"pid", h.pid}, {"tid", h.tid},
                   {"uid", h.uid}, {"comm", RedactSecretsIn(h.comm)}};
  if (const auto* p = std::get_if<decode::Payload>(&event)) {
    j["fd"] = p->fd;
    j["len"] = p->data.size();
    j["total_len"] = p->total_len;
    if (p->ssl) j["ssl"] = p->ssl;
  } else if (const auto* c = std::get_if<decode::Connect>(&event)) {
    j["fd"] = c->fd;
    j["ip"] = c->peer.ip;
    j["port"] = c->peer.port;
  } else if (const auto* o = std::get_if<decode::CredentialOpen>(&event)) {
    j["fd"] = o->fd;
    j["path"] = RedactSecretsIn(o->path);
  } else if (const auto* s = std::get_if<decode::TlsSni>(&event)) {
    j["sni"] = RedactSecretsIn(s->name);
  }
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), trace_);
  std::fflush(trace_);
}

}  // namespace credsentry::pipeline
