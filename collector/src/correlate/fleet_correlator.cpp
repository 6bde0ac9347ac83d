#include "correlate/fleet_correlator.h"

#include <spdlog/spdlog.h>

namespace credsentry::collector {

FleetCorrelator::FleetCorrelator(AlertStore& store, CorrelationOptions opts,
                                 std::function<void(const v1::Alert&)> raised)
    : store_(store), opts_(opts), raised_(std::move(raised)) {}

FleetCorrelator::~FleetCorrelator() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void FleetCorrelator::Raise(v1::Alert alert) {
  alert.set_time_ns(NowNs());
  auto stored = store_.PutCollectorAlert(alert, alert.time_ns());
  if (!stored.ok()) {
    spdlog::error("storing fleet alert {}: {}", alert.id(), stored.message());
    return;
  }
  if (*stored) {
    spdlog::warn("fleet alert {}: {}", alert.kind(), alert.summary());
    if (raised_) raised_(alert);
  }
}

void FleetCorrelator::OnFreshAlert(const v1::Alert& alert) {
  const auto& fp = alert.secret().fingerprint();
  if (fp.empty() || alert.kind().rfind("fleet-", 0) == 0 || alert.destination().ip().empty()) {
    return;  // only egress alerts carry a destination
  }
  auto storing = store_.CountStoringHosts(fp);
  auto here = store_.IsStoredOn(fp, alert.host());
  if (!storing.ok() || !here.ok()) return;
  // A fingerprint no inventory knows says nothing about copying; one known elsewhere does.
  if (*storing == 0 || *here) return;
  v1::Alert out;
  out.set_id("fleet-egress-unstored:" + fp + ":" + alert.host());
  out.set_kind("fleet-egress-unstored");
  out.set_severity(v1::SEVERITY_CRITICAL);
  out.set_host(alert.host());
  out.set_summary(alert.secret().redacted() + " (" + alert.secret().type() + ") left " +
                  alert.host() + " for " + alert.destination().host() +
                  " but is stored only on " + std::to_string(*storing) +
                  " other host(s): the key was copied here");
  *out.mutable_secret() = alert.secret();
  *out.mutable_destination() = alert.destination();
  *out.mutable_process() = alert.process();
  out.mutable_evidence()->add_notes("triggered by alert " + alert.id());
  Raise(std::move(out));
}

void FleetCorrelator::OnInventory(const v1::Inventory& inventory) {
  for (const auto& c : inventory.credentials()) {
    if (c.fingerprint().empty()) continue;
    auto hosts = store_.CountStoringHosts(c.fingerprint());
    if (!hosts.ok() || *hosts < opts_.shared_host_threshold) continue;
    v1::Alert out;
    out.set_id("fleet-shared-credential:" + c.fingerprint());
    out.set_kind("fleet-shared-credential");
    out.set_severity(v1::SEVERITY_MEDIUM);
    out.set_host(inventory.host());
    out.set_summary(c.redacted() + " (" + c.type() + ") is stored on " + std::to_string(*hosts) +
                    " hosts: one leak exposes all of them");
    auto* s = out.mutable_secret();
    s->set_type(c.type());
    s->set_provider(c.provider());
    s->set_redacted(c.redacted());
    s->set_fingerprint(c.fingerprint());
    s->set_found_in("credential-file");
    Raise(std::move(out));
  }
}

void FleetCorrelator::OnIdentityMismatch(const std::string& identity, const std::string& host,
                                         std::string_view what) {
  v1::Alert out;
  out.set_id("fleet-host-identity-mismatch:" + identity + ":" + host);
  out.set_kind("fleet-host-identity-mismatch");
  out.set_severity(v1::SEVERITY_HIGH);
  out.set_host(host);  // the host spoken for: `alerts --host` finds it there
  out.set_summary("an agent whose certificate names '" + identity + "' sent " + std::string(what) +
                  " for host '" + host +
                  "' and was refused: a copied agent key, or a certificate not issued for the "
                  "name this agent reports");
  out.mutable_evidence()->add_notes("certificate identity: " + identity);
  out.mutable_evidence()->add_notes("claimed host: " + host);
  Raise(std::move(out));
}

void FleetCorrelator::SweepSilentHosts(int64_t now_ns) {
  auto hosts = store_.Hosts();
  if (!hosts.ok()) {
    spdlog::error("silent-agent sweep: {}", hosts.message());
    return;
  }
  for (const auto& h : *hosts) {
    if (h.silent_alerted_ns != 0 || now_ns - h.last_heartbeat_ns < opts_.heartbeat_timeout_ns) {
      continue;
    }
    v1::Alert out;
    out.set_id("fleet-agent-silent:" + h.host + ":" + std::to_string(h.last_heartbeat_ns));
    out.set_kind("fleet-agent-silent");
    out.set_severity(v1::SEVERITY_HIGH);
    out.set_host(h.host);
    out.set_summary("no heartbeat from the agent on " + h.host + " for " +
                    std::to_string((now_ns - h.last_heartbeat_ns) / 1'000'000'000) +
                    "s: host down, network cut, or agent stopped (tampering?)");
    Raise(std::move(out));
    (void)store_.MarkSilentAlerted(h.host, now_ns);
  }
}

void FleetCorrelator::StartSweeper() {
  sweeper_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::nanoseconds(opts_.sweep_interval_ns));
      if (stop_) break;
      lock.unlock();
      SweepSilentHosts(NowNs());
      lock.lock();
    }
  });
}

}  // namespace credsentry::collector
