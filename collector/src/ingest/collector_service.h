// The agent-facing gRPC service: acknowledges exactly the ids that are durable (new or already
// there), so agents can drop them from their spool. Alert batches, unary or streamed, go through
// the group committer (ingest/group_commit.h): many agents' batches share one transaction, and
// no gRPC thread waits on the database: the ack is sent from the commit's completion.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "credsentry/v1/collector.grpc.pb.h"
#include "ingest/group_commit.h"
#include "ingest/peer_identity.h"
#include "store/alert_store.h"

namespace credsentry::collector {

// Told about every alert stored for the first time (forwarders, fleet correlation), and about
// each stored inventory snapshot. Called on gRPC threads after the commit: must not block long.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  virtual void OnFreshAlert(const v1::Alert& alert) = 0;
  virtual void OnInventory(const v1::Inventory& inventory) {}
  // A verified certificate naming `identity` claimed `host` for `what` ("a heartbeat", ...) and
  // was refused. Called once per (identity, host) pair, not per refused call, for a bounded
  // number of hosts per identity and of identities.
  virtual void OnIdentityMismatch(const std::string& identity, const std::string& host,
                                  std::string_view what) {}
};

struct IngestOptions {
  // false: each batch in its own transaction on the RPC thread (the pre-group-commit path, kept
  // for the bench's side-by-side comparison and as a fallback).
  bool group_commit = true;
  GroupCommitOptions commit;
  // true: any certificate from the CA may send for any host (a relay that forwards for several
  // hosts under one certificate). Off by default: each host sends only under its own name.
  bool allow_shared_identity = false;
};

// Alert ingest (unary and streamed) uses gRPC's callback API so that a batch waiting for its
// group's commit holds no thread; heartbeats and inventory stay synchronous (rare, small).
using CollectorServiceBase = v1::Collector::WithCallbackMethod_SendAlerts<
    v1::Collector::WithCallbackMethod_StreamAlerts<v1::Collector::Service>>;

class CollectorService final : public CollectorServiceBase {
 public:
  static constexpr int kMaxBatch = 5000;

  CollectorService(AlertStore& store, std::string collector_id, IngestOptions opts = {});
  ~CollectorService() override;
  void AddObserver(IngestObserver* observer) { observers_.push_back(observer); }

  grpc::ServerUnaryReactor* SendAlerts(grpc::CallbackServerContext* ctx,
                                       const v1::AlertBatch* batch, v1::AlertAck* ack) override;
  grpc::ServerBidiReactor<v1::AlertBatch, v1::AlertAck>* StreamAlerts(
      grpc::CallbackServerContext* ctx) override;
  grpc::Status SendHeartbeat(grpc::ServerContext* ctx, const v1::Heartbeat* hb,
                             v1::HeartbeatAck* ack) override;
  grpc::Status SendInventory(grpc::ServerContext* ctx, const v1::Inventory* inv,
                             v1::InventoryAck* ack) override;

  std::map<std::string, uint64_t> Counters() const;
  // The group committer's commit latencies; empty with --commit per-batch.
  metrics::HistogramCounts CommitLatencies() const;

  // Stores `batch` and calls `done` with the ack (or the gRPC error) once it is durable; `done`
  // may run on this thread or on the commit writer. `batch` must live until `done` runs.
  // A batch whose agent_host `peer` does not name is refused whole (PERMISSION_DENIED: the
  // agent keeps it spooled until its certificate is fixed); alerts inside it that claim another
  // host are acked as rejected, as malformed ones are, and never stored.
  void Ingest(const PeerIdentity& peer, const v1::AlertBatch& batch, v1::AlertAck* ack,
              std::function<void(grpc::Status)> done);

 private:
  void Store(const v1::AlertBatch& batch, v1::AlertAck* ack,
             std::function<void(grpc::Status)> done);
  grpc::Status Complete(const v1::AlertBatch& batch, Result<IngestOutcome> outcome,
                        v1::AlertAck* ack);
  // Whether `peer` may send for `host`; when not, logs and tells observers once per pair.
  bool MayClaim(const PeerIdentity& peer, const std::string& host, std::string_view what);

  AlertStore& store_;
  std::string collector_id_;
  IngestOptions opts_;
  std::vector<IngestObserver*> observers_;
  std::atomic<uint64_t> received_{0}, stored_{0}, duplicates_{0}, rejected_{0}, store_errors_{0},
      heartbeats_{0}, inventories_{0}, streams_{0}, batches_oversized_{0}, batches_refused_{0},
      batches_identity_refused_{0}, identity_rejected_alerts_{0}, identity_rejected_heartbeats_{0},
      identity_rejected_inventories_{0}, identity_mismatches_not_logged_{0};
  std::mutex mismatch_mu_;
  std::map<std::string, std::set<std::string>> mismatches_seen_;  // certificate -> hosts logged
  std::unique_ptr<GroupCommitter> committer_;                     // null when group commit is off
};

struct ServerOptions {
  std::string listen = "127.0.0.1:7443";
  std::string ca_file, cert_file, key_file;  // mTLS: clients must present a cert from ca_file
  bool insecure = false;                     // plaintext, tests/dev only
};

// Builds and starts the server; `bound_port` receives the port (useful with ":0").
Result<std::unique_ptr<grpc::Server>> StartServer(const ServerOptions& opts, grpc::Service* service,
                                                  int* bound_port);

int64_t NowNs();

}  // namespace credsentry::collector
