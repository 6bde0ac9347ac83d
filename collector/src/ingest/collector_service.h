// The agent-facing gRPC service: stores each batch in one transaction and acknowledges exactly
// the ids that are now durable (new or already there), so agents can drop them from their spool.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "credsentry/v1/collector.grpc.pb.h"
#include "store/alert_store.h"

namespace credsentry::collector {

// Told about every alert stored for the first time (forwarders, fleet correlation), and about
// each stored inventory snapshot. Called on gRPC threads after the commit: must not block long.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  virtual void OnFreshAlert(const v1::Alert& alert) = 0;
  virtual void OnInventory(const v1::Inventory& inventory) {}
};

class CollectorService final : public v1::Collector::Service {
 public:
  static constexpr int kMaxBatch = 5000;

  CollectorService(AlertStore& store, std::string collector_id)
      : store_(store), collector_id_(std::move(collector_id)) {}
  void AddObserver(IngestObserver* observer) { observers_.push_back(observer); }

  grpc::Status SendAlerts(grpc::ServerContext* ctx, const v1::AlertBatch* batch,
                          v1::AlertAck* ack) override;
  grpc::Status SendHeartbeat(grpc::ServerContext* ctx, const v1::Heartbeat* hb,
                             v1::HeartbeatAck* ack) override;
  grpc::Status SendInventory(grpc::ServerContext* ctx, const v1::Inventory* inv,
                             v1::InventoryAck* ack) override;

  std::map<std::string, uint64_t> Counters() const;

 private:
  AlertStore& store_;
  std::string collector_id_;
  std::vector<IngestObserver*> observers_;
  std::atomic<uint64_t> stored_{0}, duplicates_{0}, rejected_{0}, store_errors_{0},
      heartbeats_{0}, inventories_{0};
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
