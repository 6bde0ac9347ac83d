// Prevent mode's connect block in the pipeline (bpf/egress.bpf.c): what the kernel refused is
// alerted with action "blocked", and DNS answers keep the kernel's table of reachable addresses
// (detect/egress_policy.h) current before a held resolver's caller may connect.
#include "common/log.h"
#include "pipeline/pipeline.h"

namespace credsentry::pipeline {

void Pipeline::ApplyEgressRules() {
  if (!db_) return;
  std::vector<std::string> names = egress_allow_names_;
  // A prevent.allow rule naming only a destination (and no process or kind) exempts that host
  // for everyone, as it exempts a kill.
  for (const auto& rule : prevent_allow_) {
    if (!rule.destination.empty() && rule.process.empty() && rule.kind.empty()) {
      names.push_back(rule.destination);
    }
  }
  egress_policy_.SetRules(db_->rules(), std::move(names));
}

void Pipeline::SetEgressAllowNames(std::vector<std::string> names) {
  egress_allow_names_ = std::move(names);
  ApplyEgressRules();
}

void Pipeline::OnDnsAnswer(const decode::DnsAnswer& e) {
  dns_.OnReceived(e.header.pid, e.fd, e.transport == decode::SocketTransport::kTcp,
                  e.capture.truncated, e.capture.data, e.header.ts_ns);
  // The kernel held a tainted resolver's caller on this answer (net.bpf.c): its addresses are in
  // the kernel's table now, so it may go on and connect.
  if (!e.capture.held) return;
  ++counters_.block_dns_holds;
  if (!prevent_.OnHeldChunk(e.header.pid, e.header.ts_ns, true) && kernel_) {
    kernel_->ReleaseHeld(e.header.pid);
  }
}

void Pipeline::OnEgressBlocked(const decode::EgressBlocked& e) {
  ++counters_.block_refused;
  processes_.Ensure(e.header);
  detect::ResolvedDestination dest;
  dest.where.ip = e.peer.ip;
  dest.where.port = e.peer.port;
  if (auto name = dns_.NameOf(e.peer.ip, e.header.ts_ns)) {
    dest.where.host = *name;
    dest.where.name_source = alert::NameSource::kDns;
  }
  const std::string where =
      (dest.where.host.empty() ? dest.where.ip : dest.where.host) + ":" + std::to_string(e.peer.port);
  spdlog::warn("prevent: refused pid {} ({}) a {} to {}: it read {}", e.header.pid,
               learner_.Redact(e.header.comm),
               e.hook == decode::EgressBlocked::Hook::kConnect ? "connect" : "datagram", where,
               e.cred_id ? std::to_string(e.cred_id) : std::string("another process's memory"));
  // One alert per process and destination: a client retries, every refusal is counted.
  if (!provenance_.Supersede(e.header.pid, dest.where, e.header.ts_ns)) {
    ++counters_.block_alerts_suppressed;
    return;
  }
  WriteAlert(alerts_.EgressBlocked(e, dest));
}

}  // namespace credsentry::pipeline
