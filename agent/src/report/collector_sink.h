// The collector output: alerts go to the durable spool in Write() (no network on the caller's
// thread) and a sender thread ships them over one long-lived gRPC stream (mTLS), oldest first,
// in batches, removing each id only when the collector's ack for that batch names it. Failures back off exponentially with jitter
// so a fleet does not stampede a collector that comes back. Heartbeats carry the agent's
// counters; inventory snapshots say which credentials are stored where (never values).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "report/sink.h"
#include "report/spool.h"

namespace credsentry::report {

struct CollectorOptions {
  std::string address;                       // host:port
  std::string ca_file, cert_file, key_file;  // mTLS; all empty => insecure (tests/dev only)
  std::string spool_dir = "/var/lib/credsentry/spool";
  uint64_t spool_max_bytes = 64ull << 20;
  std::string agent_host;  // hostname sent in heartbeats and batches
  // Tuning; the defaults suit production.
  uint32_t batch_max = 500;
  uint32_t backoff_initial_ms = 250;
  uint32_t backoff_max_ms = 30'000;
  uint32_t heartbeat_interval_ms = 30'000;
  uint32_t rpc_timeout_ms = 10'000;  // per unary call, and per batch ack on the stream
  // Create() leaves the sender threads and the channel unstarted; Start() starts them. The agent
  // starts them after dropping capabilities: capset changes only the calling thread, so a thread
  // (gRPC's included) made before the drop would keep them.
  bool defer_start = false;
};

// One stored credential for the inventory (from the credential catalogue's file scan).
struct StoredCredential {
  std::string path;
  uint32_t owner_uid = 0;
  std::string type, provider, fingerprint, redacted;
  uint64_t file_mtime_ns = 0;
};

class CollectorSink final : public AlertSink {
 public:
  static Result<std::unique_ptr<CollectorSink>> Create(const CollectorOptions& opts);
  ~CollectorSink() override;  // stops the sender; what is unsent stays in the spool
  // Connects and starts sending (once; Create does it unless opts.defer_start). Alerts written
  // before are spooled and sent then.
  void Start();

  std::string Name() const override { return "collector"; }
  // Spools the alert durably and returns; errors (disk full...) are counted and returned.
  Status Write(const alert::Alert& alert) override;
  // Wakes the sender and waits up to 2 s for the spool to drain.
  void Flush() override;
  // queued, sent, acked_duplicate, rejected, dropped_full, refused_full, spool_errors,
  // send_failures, pending, spool_bytes, heartbeats_sent, ...
  std::map<std::string, uint64_t> Counters() const override;

  // The agent's counters (events, drops per category, ...) sent in every heartbeat, together
  // with this sink's own. Called on the sender thread: must be thread-safe.
  void SetStatsProvider(std::function<std::map<std::string, uint64_t>()> provider);
  // Static facts for heartbeats.
  void SetAgentInfo(std::string rules_version, std::vector<std::string> kernel_features);
  // Replaces the inventory snapshot; sent once, and again after a failure.
  void SetInventory(std::vector<StoredCredential> inventory);

  // Waits until nothing is pending or `timeout_ms` passes; true when drained (tests, shutdown).
  bool WaitDrained(uint32_t timeout_ms);

 private:
  struct Impl;
  explicit CollectorSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The factory the daemon (pipeline/daemon.cpp) uses for `--collector HOST:PORT`.
Result<std::unique_ptr<AlertSink>> MakeCollectorSink(const CollectorOptions& opts);

}  // namespace credsentry::report
