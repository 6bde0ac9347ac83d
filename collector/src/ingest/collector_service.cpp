#include "ingest/collector_service.h"

#include "common/pem.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

namespace credsentry::collector {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

CollectorService::CollectorService(AlertStore& store, std::string collector_id, IngestOptions opts)
    : store_(store), collector_id_(std::move(collector_id)), opts_(opts) {
  if (opts_.group_commit) {
    committer_ = std::make_unique<GroupCommitter>(store_, collector_id_, opts_.commit);
  }
  if (opts_.allow_shared_identity) {
    spdlog::warn("--allow-shared-identity: any agent certificate may send for any host");
  }
}

// The server is shut down before the service goes: every reactor is done, so the committer's
// queue holds nothing that still needs an ack path.
CollectorService::~CollectorService() = default;

// Refusals are logged and raised as fleet alerts once per (certificate, host) pair, for at most
// this many hosts per certificate and this many certificates: one stolen certificate claiming
// thousands of hosts cannot use up the log-once table for everyone else. What a full table
// keeps out is still refused, counted in identity_rejected_* and in
// identity_mismatches_not_logged.
constexpr size_t kMaxMismatchIdentities = 256;
constexpr size_t kMaxMismatchHostsPerIdentity = 32;

bool CollectorService::MayClaim(const PeerIdentity& peer, const std::string& host,
                                std::string_view what) {
  // An empty host is the store's to reject as malformed, not an identity question.
  if (!peer.has_certificate || opts_.allow_shared_identity || host.empty() || peer.Names(host)) {
    return true;
  }
  std::string identity = peer.Label();
  {
    std::lock_guard lock(mismatch_mu_);
    auto seen = mismatches_seen_.find(identity);
    if (seen == mismatches_seen_.end()) {
      if (mismatches_seen_.size() >= kMaxMismatchIdentities) {
        ++identity_mismatches_not_logged_;
        return false;
      }
      seen = mismatches_seen_.emplace(identity, std::set<std::string>{}).first;
    }
    if (seen->second.count(host)) return false;
    if (seen->second.size() >= kMaxMismatchHostsPerIdentity) {
      ++identity_mismatches_not_logged_;
      return false;
    }
    seen->second.insert(host);
  }
  spdlog::warn("refused {} for host '{}': the agent's certificate names '{}' (logged once per "
               "certificate and host; counted in identity_rejected_*)",
               what, host, identity);
  for (auto* o : observers_) o->OnIdentityMismatch(identity, host, what);
  return false;
}

void CollectorService::Ingest(const PeerIdentity& peer, const v1::AlertBatch& batch,
                              v1::AlertAck* ack, std::function<void(grpc::Status)> done) {
  received_ += batch.alerts_size();
  if (batch.alerts_size() > kMaxBatch) {
    rejected_ += batch.alerts_size();
    ++batches_oversized_;
    done({grpc::StatusCode::INVALID_ARGUMENT, "batch of " + std::to_string(batch.alerts_size()) +
                                                  " alerts exceeds " + std::to_string(kMaxBatch)});
    return;
  }
  if (!MayClaim(peer, batch.agent_host(), "alerts")) {
    identity_rejected_alerts_ += batch.alerts_size();
    ++batches_identity_refused_;
    done({grpc::StatusCode::PERMISSION_DENIED, IdentityRefusal(peer, batch.agent_host())});
    return;
  }
  // An agent may not file single alerts under another host's name either: those are acked as
  // rejected (resending cannot help) and the rest of the batch is stored.
  // Each alert's claim is checked once: the log-once table and its counters see it once.
  std::vector<int> foreign;
  for (int i = 0; i < batch.alerts_size(); ++i) {
    if (!MayClaim(peer, batch.alerts(i).host(), "an alert")) foreign.push_back(i);
  }
  std::shared_ptr<v1::AlertBatch> own;  // the batch without them, when there are any
  if (!foreign.empty()) {
    own = std::make_shared<v1::AlertBatch>();
    own->set_agent_host(batch.agent_host());
    own->set_batch_id(batch.batch_id());
    auto next_foreign = foreign.begin();
    for (int i = 0; i < batch.alerts_size(); ++i) {
      const v1::Alert& a = batch.alerts(i);
      if (next_foreign == foreign.end() || *next_foreign != i) {
        *own->add_alerts() = a;
        continue;
      }
      ++next_foreign;
      ++identity_rejected_alerts_;
      auto* r = ack->add_rejected();
      r->set_id(a.id());
      r->set_reason(IdentityRefusal(peer, a.host()));
    }
  }
  if (own) {
    if (own->alerts_size() == 0) {
      ack->set_batch_id(batch.batch_id());
      done(grpc::Status::OK);
      return;
    }
    // The filtered batch lives as long as the completion that reads it.
    done = [own, done = std::move(done)](grpc::Status st) { done(std::move(st)); };
  }
  Store(own ? *own : batch, ack, std::move(done));
}

void CollectorService::Store(const v1::AlertBatch& batch, v1::AlertAck* ack,
                             std::function<void(grpc::Status)> done) {
  if (!committer_) {
    done(Complete(batch, store_.PutAlerts(batch, NowNs(), collector_id_), ack));
    return;
  }
  // `done` is moved into the completion only once Submit has accepted the batch.
  auto shared_done = std::make_shared<std::function<void(grpc::Status)>>(std::move(done));
  Status queued = committer_->Submit(batch, [this, &batch, ack, shared_done](auto outcome) {
    (*shared_done)(Complete(batch, std::move(outcome), ack));
  });
  if (!queued.ok()) {
    ++store_errors_;
    ++batches_refused_;
    spdlog::warn("alerts from {} refused: {}", batch.agent_host(), queued.message());
    // UNAVAILABLE: the agent keeps the batch in its spool and retries with backoff.
    (*shared_done)({grpc::StatusCode::UNAVAILABLE, queued.message()});
  }
}

grpc::Status CollectorService::Complete(const v1::AlertBatch& batch, Result<IngestOutcome> outcome,
                                        v1::AlertAck* ack) {
  if (!outcome.ok()) {
    ++store_errors_;
    spdlog::error("storing {} alerts from {}: {}", batch.alerts_size(), batch.agent_host(),
                  outcome.message());
    return {grpc::StatusCode::UNAVAILABLE, "store failed: " + outcome.message()};
  }
  ack->set_batch_id(batch.batch_id());
  for (auto& id : outcome->acked) ack->add_acked_ids(std::move(id));
  ack->set_duplicates(outcome->duplicates);
  for (const auto& r : outcome->rejected) {
    spdlog::warn("rejected alert from {}: {}", batch.agent_host(), r.reason());
    *ack->add_rejected() = r;
  }
  stored_ += outcome->fresh.size();
  duplicates_ += outcome->duplicates;
  rejected_ += outcome->rejected.size();
  for (const v1::Alert* alert : outcome->fresh) {
    for (auto* o : observers_) o->OnFreshAlert(*alert);
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* CollectorService::SendAlerts(grpc::CallbackServerContext* ctx,
                                                       const v1::AlertBatch* batch,
                                                       v1::AlertAck* ack) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Ingest(PeerIdentityOf(*ctx), *batch, ack, [reactor](grpc::Status st) { reactor->Finish(st); });
  return reactor;
}

namespace {

// One agent's stream: read a batch, store it, write its ack, read the next. One batch in flight
// per agent keeps acks in order and memory per stream bounded (one batch, one ack); the agent
// batches what accumulated meanwhile, so throughput comes from many agents, not deep pipelines.
class AlertStreamReactor final : public grpc::ServerBidiReactor<v1::AlertBatch, v1::AlertAck> {
 public:
  AlertStreamReactor(CollectorService& service, PeerIdentity peer)
      : service_(service), peer_(std::move(peer)) {
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side (or the call was cancelled)
      Finish(grpc::Status::OK);
      return;
    }
    ack_.Clear();
    service_.Ingest(peer_, batch_, &ack_, [this](grpc::Status st) {
      if (!st.ok()) {
        Finish(st);
        return;
      }
      StartWrite(&ack_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "ack not delivered"));
      return;
    }
    StartRead(&batch_);
  }

  void OnDone() override { delete this; }

 private:
  CollectorService& service_;
  const PeerIdentity peer_;  // the certificate is the connection's: read once per stream
  v1::AlertBatch batch_;
  v1::AlertAck ack_;
};

}  // namespace

grpc::ServerBidiReactor<v1::AlertBatch, v1::AlertAck>* CollectorService::StreamAlerts(
    grpc::CallbackServerContext* ctx) {
  ++streams_;
  return new AlertStreamReactor(*this, PeerIdentityOf(*ctx));
}

grpc::Status CollectorService::SendHeartbeat(grpc::ServerContext* ctx, const v1::Heartbeat* hb,
                                             v1::HeartbeatAck* ack) {
  if (PeerIdentity peer = PeerIdentityOf(*ctx); !MayClaim(peer, hb->host(), "a heartbeat")) {
    ++identity_rejected_heartbeats_;
    return {grpc::StatusCode::PERMISSION_DENIED, IdentityRefusal(peer, hb->host())};
  }
  if (auto st = store_.PutHeartbeat(*hb, NowNs()); !st.ok()) {
    ++store_errors_;
    spdlog::error("heartbeat from '{}': {}", hb->host(), st.message());
    return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
  }
  ++heartbeats_;
  ack->set_server_time_ns(NowNs());
  return grpc::Status::OK;
}

grpc::Status CollectorService::SendInventory(grpc::ServerContext* ctx, const v1::Inventory* inv,
                                             v1::InventoryAck* ack) {
  if (PeerIdentity peer = PeerIdentityOf(*ctx); !MayClaim(peer, inv->host(), "an inventory")) {
    ++identity_rejected_inventories_;
    return {grpc::StatusCode::PERMISSION_DENIED, IdentityRefusal(peer, inv->host())};
  }
  if (auto st = store_.PutInventory(*inv, NowNs()); !st.ok()) {
    ++store_errors_;
    spdlog::error("inventory from '{}': {}", inv->host(), st.message());
    return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
  }
  ++inventories_;
  ack->set_stored(inv->credentials_size());
  for (auto* o : observers_) o->OnInventory(*inv);
  return grpc::Status::OK;
}

std::map<std::string, uint64_t> CollectorService::Counters() const {
  std::map<std::string, uint64_t> out = {
      {"alerts_stored", stored_},     {"alerts_duplicate", duplicates_},
      {"alerts_rejected", rejected_}, {"store_errors", store_errors_},
      {"heartbeats", heartbeats_},    {"inventories", inventories_},
      {"alert_streams", streams_},    {"alerts_received", received_},
      {"batches_oversized", batches_oversized_}, {"batches_refused", batches_refused_},
      {"batches_identity_refused", batches_identity_refused_},
      {"identity_rejected_alerts", identity_rejected_alerts_},
      {"identity_rejected_heartbeats", identity_rejected_heartbeats_},
      {"identity_rejected_inventories", identity_rejected_inventories_},
      {"identity_mismatches_not_logged", identity_mismatches_not_logged_}};
  if (committer_) out.merge(committer_->Counters());
  return out;
}

metrics::HistogramCounts CollectorService::CommitLatencies() const {
  if (committer_) return committer_->CommitLatencies();
  CommitLatency none;
  return none.Counts();
}

Result<std::unique_ptr<grpc::Server>> StartServer(const ServerOptions& opts, grpc::Service* service,
                                                  int* bound_port) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (opts.insecure) {
    spdlog::warn("collector listening WITHOUT TLS on {}: for tests and development only; with no "
                 "certificates, agents' host names are not checked",
                 opts.listen);
    creds = grpc::InsecureServerCredentials();
  } else {
    if (opts.ca_file.empty() || opts.cert_file.empty() || opts.key_file.empty()) {
      return Error{"mTLS needs --ca, --cert and --key (or --insecure for development)"};
    }
    auto ca = ReadPem(opts.ca_file, "CA certificate");
    if (!ca.ok()) return ca.error();
    auto cert = ReadPem(opts.cert_file, "server certificate");
    if (!cert.ok()) return cert.error();
    auto key = ReadPem(opts.key_file, "server key");
    if (!key.ok()) return key.error();
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = *ca;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts.listen, creds, bound_port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(32 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (bound_port && *bound_port == 0)) {
    return Error{"cannot listen on '" + opts.listen + "' (address in use or invalid)"};
  }
  return server;
}

}  // namespace credsentry::collector
