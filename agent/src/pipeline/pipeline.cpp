#include "pipeline/pipeline.h"

#include "common/log.h"
#include "pipeline/event_trace.h"
#include "stream/decoders/tls_client_hello.h"

namespace credsentry::pipeline {
Pipeline::Pipeline(PipelineOptions options, const state::Scope& scope,
                   std::shared_ptr<const match::MatcherDatabase> db,
                   const report::Fingerprinter& fp, std::vector<report::AlertSink*> sinks,
                   KernelControl* kernel)
    : options_(std::move(options)),
      db_(std::move(db)),
      fingerprinter_(fp),
      sinks_(std::move(sinks)),
      kernel_(kernel),
      processes_(scope),
      provenance_(options_.provenance),
      learner_(options_.max_known_secrets, db_, fp),
      alerts_(options_.hostname, options_.credential_read_window_ns, processes_, learner_, db_),
      egress_(4096, db_, learner_.known_values(),
              [this](const stream::StreamKey& key, const stream::StreamContext& ctx,
                     const match::SecretMatch& m) { OnSecret(key, ctx, m); }),
      dedup_(options_.dedup_window_ns, options_.dedup_max_keys),
      held_(options_.max_held_secrets, options_.destination_hold_ns) {
  egress_.dns_tunnels().SetSink([this](const stream::StreamContext& ctx, const std::string& parent,
                                       const match::SecretMatch& m) {
    OnDnsTunnelSecret(ctx, parent, m);
  });
  dns_.SetAnswerSink([this](const std::string& ip, const std::string& name, uint32_t ttl_s,
                            uint64_t mono_ns) {
    for (const auto& u : egress_policy_.OnAnswer(ip, name, ttl_s, mono_ns)) {
      if (kernel_) kernel_->SetEgressAllowed(u);
    }
  });
  ApplyEgressRules();
  if (db_) InspectEnvironments();
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
  if (trace_) TraceEvent(*event, learner_, trace_);
  Dispatch(*event);
}

void Pipeline::Dispatch(const decode::Event& event) {
  if (const decode::Capture* c = decode::CaptureOf(event); c && c->truncated) {
    ++counters_.payload_truncated;
  }
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, decode::ProcessExec>) {
          processes_.OnExec(e);
          if (kernel_) kernel_->OnExec(e.header.pid, e.filename, e.header.ts_ns, e.held);
        } else if constexpr (std::is_same_v<T, decode::ProcessFork>) {
          processes_.OnFork(e);
        } else if constexpr (std::is_same_v<T, decode::ProcessExit>) {
          OnExit(e);
        } else if constexpr (std::is_same_v<T, decode::CredentialOpen>) {
          OnCredentialOpen(e);
        } else if constexpr (std::is_same_v<T, decode::CredentialRead>) {
          OnCredentialRead(e);
        } else if constexpr (std::is_same_v<T, decode::SocketWrite>) {
          OnSocketWrite(e);
        } else if constexpr (std::is_same_v<T, decode::DnsAnswer>) {
          OnDnsAnswer(e);
        } else if constexpr (std::is_same_v<T, decode::TlsWrite>) {
          OnTlsWrite(e);
        } else if constexpr (std::is_same_v<T, decode::Connect>) {
          processes_.Ensure(e.header);
          connections_.OnConnect(e);
          // A reused fd number is a new connection: forget the old stream.
          egress_.Close({e.header.pid, stream::StreamOrigin::kSocket, static_cast<uint32_t>(e.fd)});
        } else if constexpr (std::is_same_v<T, decode::TlsSni>) {
          connections_.OnTlsSni(e.header.pid, e.ssl, e.name, e.header.ts_ns);
        } else if constexpr (std::is_same_v<T, decode::TlsFd>) {
          connections_.OnTlsFd(e.header.pid, e.ssl, e.fd, e.header.ts_ns);
        } else if constexpr (std::is_same_v<T, decode::FdClose>) {
          OnClose(e);
        } else if constexpr (std::is_same_v<T, decode::ProcessAccess>) {
          OnProcessAccess(e);
        } else if constexpr (std::is_same_v<T, decode::Transfer>) {
          OnTransfer(e);
        } else if constexpr (std::is_same_v<T, decode::EgressBlocked>) {
          OnEgressBlocked(e);
        }
      },
      event);
  // A connect, an SNI, a ClientHello or a write that ties a TLS object to its socket may name
  // the destination of a secret that matched before it.
  if (!held_.empty()) RetryHeld(decode::HeaderOf(event).pid);
  if (prevent_on_ || !prevent_.empty()) SettleHolds(decode::HeaderOf(event).ts_ns);
}

void Pipeline::WriteAlert(const alert::Alert& alert) {
  ++counters_.alerts;
  for (auto* sink : sinks_) {
    if (!sink->Write(alert).ok()) ++counters_.alert_sink_errors;
  }
  // The alert's own fields: they went through the redactor, the stream context did not.
  if (alert.secret.redacted.empty()) {
    spdlog::warn("ALERT {} {}: {}", alert.id, alert.kind, alert.summary);
  } else {
    const alert::Destination& d = alert.destination;
    spdlog::warn("ALERT {} {}: {} (pid {} {}) -> {}", alert.id, alert.secret.type,
                 alert.secret.redacted, alert.process.pid, alert.process.comm,
                 d.host.empty() ? d.ip : d.host);
  }
}

void Pipeline::OnSocketWrite(const decode::SocketWrite& w) {
  const stream::StreamKey key{w.header.pid, stream::StreamOrigin::kSocket,
                              static_cast<uint32_t>(w.fd)};
  if (w.state == decode::SocketState::kTls ||
      stream::decoders::LooksLikeTlsHandshake(w.capture.data)) {
    // The ClientHello of a TLS connection (the kernel sends nothing after it): its SNI names
    // the destination even when the TLS library is one we cannot hook.
    ++counters_.tls_client_hellos;
    if (auto hello = stream::decoders::ParseClientHello(w.capture.data)) {
      std::string alpn = hello->alpn.empty() ? "" : hello->alpn.front();
      connections_.SetSocketSni(w.header.pid, w.fd, hello->sni, alpn);
    } else {
      ++counters_.tls_client_hellos_unparsed;
    }
    // A TLS stack we cannot hook (Java, rustls) shows nothing but this: provenance still can.
    stream::StreamContext hello_ctx;
    hello_ctx.pid = w.header.pid;
    hello_ctx.comm = w.header.comm;
    hello_ctx.fd = w.fd;
    hello_ctx.last_mono_ns = w.header.ts_ns;
    processes_.Ensure(w.header);
    CheckTaintedEgress(key, hello_ctx);
    return;
  }
  const bool udp = w.transport == decode::SocketTransport::kUdp;
  const alert::FoundIn found_in = udp               ? alert::FoundIn::kUdpWrite
                                  : w.capture.uring ? alert::FoundIn::kUringSend
                                                    : alert::FoundIn::kSocketWrite;
  stream::StreamWrite write = stream::StreamWrite::Of(w.header, w.fd, 0, found_in, w.capture);
  write.explicit_destination = w.explicit_destination;
  FeedStream(w.header, key, write, w.capture.data);
}

void Pipeline::OnTlsWrite(const decode::TlsWrite& w) {
  if (w.capture.held && !prevent_.OnHeldChunk(w.header.pid, w.header.ts_ns, w.capture.last_chunk))
    if (kernel_) kernel_->ReleaseHeld(w.header.pid);
  if (w.fd >= 0) connections_.OnTlsFd(w.header.pid, w.ssl, w.fd, w.header.ts_ns);
  FeedStream(w.header, {w.header.pid, stream::StreamOrigin::kTls, w.ssl},
             stream::StreamWrite::Of(w.header, w.fd, w.ssl, alert::FoundIn::kTlsWrite, w.capture),
             w.capture.data);
}

void Pipeline::FeedStream(const decode::EventHeader& h, const stream::StreamKey& key,
                          const stream::StreamWrite& w, std::span<const uint8_t> bytes) {
  processes_.Ensure(h);
  stream::StreamContext& ctx = egress_.Record(key, w);
  destinations_.Remember(key, ctx);
  if (w.found_in == alert::FoundIn::kUdpWrite) {
    egress_.Scan(key, bytes,
                 destinations_.PeerPort(ctx) == 53 ? stream::Framing::kDnsDatagram
                                                   : stream::Framing::kDatagram);
    return;
  }
  CheckTaintedEgress(key, ctx);
  egress_.Scan(key, bytes, stream::Framing::kStream);
}

void Pipeline::OnClose(const decode::FdClose& e) {
  learner_.OnClose(e.header.pid, e.fd);
  dns_.ForgetSocket(e.header.pid, e.fd);
  const uint32_t pid = e.header.pid;
  const int32_t fd = e.fd;
  // Flush the streams while the connection is still known, then forget it.
  egress_.CloseIf([&](const stream::StreamKey& k, const stream::StreamContext& ctx) {
    return k.pid == pid && ctx.fd == fd;
  });
  connections_.OnClose(pid, fd);
}

void Pipeline::OnExit(const decode::ProcessExit& e) {
  processes_.OnExit(e);
  const uint32_t pid = e.header.pid;
  dns_.ForgetProcess(pid);
  egress_.dns_tunnels().FlushProcess(pid);  // what it sent through DNS is complete
  // Its streams are complete: flush end-of-stream matches now, while the process is known.
  egress_.CloseIf(
      [&](const stream::StreamKey& k, const stream::StreamContext&) { return k.pid == pid; });
  prevent_.Forget(pid);  // its last matches are judged; the pid may be reused
}

void Pipeline::Housekeeping(uint64_t now_mono_ns) {
  for (const auto& u : egress_policy_.Expire(now_mono_ns)) {
    if (kernel_) kernel_->SetEgressAllowed(u);
  }
  for (const auto& alert : provenance_.TakeDue(now_mono_ns)) WriteAlert(alert);
  for (uint32_t pid : processes_.Expire(now_mono_ns)) {
    for (int32_t fd : connections_.ForgetProcess(pid)) {
      if (kernel_) kernel_->UnwatchFd(pid, fd);
    }
    for (int32_t fd : learner_.ForgetProcess(pid)) {
      if (kernel_) kernel_->UnwatchFd(pid, fd);
    }
  }
  // Idle streams: a connection silent for a minute is flushed and forgotten.
  const uint64_t idle_ns = 60ull * 1000 * 1000 * 1000;
  egress_.CloseIf([&](const stream::StreamKey&, const stream::StreamContext& ctx) {
    return ctx.last_mono_ns + idle_ns < now_mono_ns;
  });
  egress_.dns_tunnels().Expire(now_mono_ns);
}

void Pipeline::SwapRules(std::shared_ptr<const match::MatcherDatabase> db) {
  Drain();
  db_ = std::move(db);
  anchored_values_ = SIZE_MAX;  // the new catalogue's prefixes become the kernel's anchors
  learner_.SetDatabase(db_);
  alerts_.SetDatabase(db_);
  egress_.SetDatabase(db_);
  ApplyEgressRules();
  if (db_) InspectEnvironments();
}

void Pipeline::Drain() {
  for (uint32_t pid : prevent_.TakeAll()) {
    if (kernel_) kernel_->ReleaseHeld(pid);
  }
  egress_.CloseAll();
  held_.Expire(0, true, [&](HeldSecret& h) { JudgeHeld(h); });
  for (const auto& alert : provenance_.TakeDue(0, true)) WriteAlert(alert);
}

std::map<std::string, uint64_t> Pipeline::Counters() const {
  std::map<std::string, uint64_t> out;
  ExportCounters(counters_, "", out);
  ExportCounters(egress_.counters(), "", out);
  ExportCounters(egress_.match_totals(), kMatcherPrefix, out);
  ExportCounters(egress_.decoder_totals(), kDecoderPrefix, out);
  ExportCounters(egress_.dns_counters(), kDnsDecoderPrefix, out);
  ExportCounters(dns_.counters(), kDnsDecoderPrefix, out);
  ExportCounters(egress_.dns_tunnels().counters(), kDnsDecoderPrefix, out);
  learner_.ExportCounters(out);
  ExportCounters(prevent_.counters(), "", out);
  ExportCounters(egress_policy_.counters(), "", out);
  out["block_allowed_addresses"] = egress_policy_.size();
  out["prevent_held_now"] = prevent_.size();
  out["processes"] = processes_.size();
  out["processes_evicted"] = processes_.evicted();
  out["connections"] = connections_.size();
  out["connections_evicted"] = connections_.evicted();
  out["streams"] = egress_.size();
  out["streams_evicted"] = egress_.evicted();
  out["secrets_held"] = held_.size();
  out["dns_cache_entries"] = dns_.cache().size();
  out["dns_cache_evicted"] = dns_.cache().evicted();
  out["dns_cache_expired"] = dns_.cache().expired();
  out["dns_tunnels"] = egress_.dns_tunnels().size();
  out["tainted_egress_covered_by_secret_alerts"] = provenance_.covered();
  out["tainted_egress_pending_dropped"] = provenance_.pending_dropped();
  out["tainted_pipes"] = processes_.tainted_pipes();
  out["tainted_pipes_evicted"] = processes_.tainted_pipes_evicted();
  out["derived_credential_files"] = derived_.size();
  out["environ_reads"] = processes_.environ_reads();
  out["environ_unreadable"] = processes_.environ_unreadable();
  out["environ_truncated"] = processes_.environ_truncated();
  return out;
}

}  // namespace credsentry::pipeline
