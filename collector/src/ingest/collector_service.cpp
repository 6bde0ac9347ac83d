#include "ingest/collector_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace credsentry::collector {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

grpc::Status CollectorService::SendAlerts(grpc::ServerContext* ctx, const v1::AlertBatch* batch,
                                          v1::AlertAck* ack) {
  if (batch->alerts_size() > kMaxBatch) {
    rejected_ += batch->alerts_size();
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "batch of " + std::to_string(batch->alerts_size()) + " alerts exceeds " +
                std::to_string(kMaxBatch)};
  }
  auto outcome = store_.PutAlerts(*batch, NowNs(), collector_id_);
  if (!outcome.ok()) {
    ++store_errors_;
    spdlog::error("storing {} alerts from {}: {}", batch->alerts_size(), batch->agent_host(),
                  outcome.message());
    // UNAVAILABLE: the agent keeps the batch in its spool and retries with backoff.
    return {grpc::StatusCode::UNAVAILABLE, "store failed: " + outcome.message()};
  }
  for (auto& id : outcome->acked) ack->add_acked_ids(std::move(id));
  ack->set_duplicates(outcome->duplicates);
  for (const auto& r : outcome->rejected) {
    spdlog::warn("rejected alert from {}: {}", batch->agent_host(), r.reason());
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

grpc::Status CollectorService::SendHeartbeat(grpc::ServerContext* ctx, const v1::Heartbeat* hb,
                                             v1::HeartbeatAck* ack) {
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
  return {{"alerts_stored", stored_},   {"alerts_duplicate", duplicates_},
          {"alerts_rejected", rejected_}, {"store_errors", store_errors_},
          {"heartbeats", heartbeats_},   {"inventories", inventories_}};
}

namespace {
Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return Error{std::string("cannot read ") + what + " '" + path + "'"};
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return Error{std::string(what) + " '" + path + "' is not PEM"};
  }
  return ss.str();
}
}  // namespace

Result<std::unique_ptr<grpc::Server>> StartServer(const ServerOptions& opts, grpc::Service* service,
                                                  int* bound_port) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (opts.insecure) {
    spdlog::warn("collector listening WITHOUT TLS on {}: for tests and development only",
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
