// What no single host can see, raised as collector alerts stored next to the
// agents' own, with deterministic ids so a restart or a second collector never raises twice:
//  - fleet-egress-unstored: a fingerprint the fleet's inventory knows left from a host whose
//    inventory never had it (the key was copied there);
//  - fleet-shared-credential: one fingerprint stored on >= N hosts (its blast radius);
//  - fleet-agent-silent: an agent whose heartbeats stopped (possible tampering);
//  - fleet-host-identity-mismatch: an agent certificate that sent for a host it does not name
//    (a copied agent key, or a certificate issued for the wrong name), once per pair.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "ingest/collector_service.h"
#include "store/alert_store.h"

namespace credsentry::collector {

struct CorrelationOptions {
  int64_t shared_host_threshold = 3;
  int64_t heartbeat_timeout_ns = 90'000'000'000;
  int64_t sweep_interval_ns = 5'000'000'000;
};

class FleetCorrelator final : public IngestObserver {
 public:
  // `raised` receives every collector alert stored for the first time (for forwarding).
  FleetCorrelator(AlertStore& store, CorrelationOptions opts,
                  std::function<void(const v1::Alert&)> raised);
  ~FleetCorrelator() override;

  void OnFreshAlert(const v1::Alert& alert) override;
  void OnInventory(const v1::Inventory& inventory) override;
  void OnIdentityMismatch(const std::string& identity, const std::string& host,
                          std::string_view what) override;
  // One pass over hosts for stopped heartbeats; the sweeper thread calls it periodically.
  void SweepSilentHosts(int64_t now_ns);
  void StartSweeper();

 private:
  void Raise(v1::Alert alert);

  AlertStore& store_;
  CorrelationOptions opts_;
  std::function<void(const v1::Alert&)> raised_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread sweeper_;
};

}  // namespace credsentry::collector
