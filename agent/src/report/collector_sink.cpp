#include "report/collector_sink.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "common/log.h"
#include "common/pem.h"
#include "credsentry/v1/collector.grpc.pb.h"
#include "report/alert_proto.h"
#include "report/alert_stream.h"

namespace credsentry::report {
namespace {

uint64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct CollectorSink::Impl {
  CollectorOptions opts;
  std::unique_ptr<Spool> spool;
  std::shared_ptr<grpc::ChannelCredentials> creds;  // made by Start()
  grpc::SslCredentialsOptions ssl;                   // mTLS material, read by Create()
  bool insecure = false;
  std::unique_ptr<v1::Collector::Stub> stub;  // used by the sender thread only
  uint64_t started_ns = WallNs();

  std::unique_ptr<AlertStream> stream;  // made by Start(); used by the sender thread only
  uint64_t next_batch_id = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool wake = false;
  std::function<std::map<std::string, uint64_t>()> stats;
  std::string rules_version;
  std::vector<std::string> kernel_features;
  std::vector<StoredCredential> inventory;
  bool inventory_dirty = false;

  std::atomic<uint64_t> sent{0}, duplicates{0}, rejected{0}, corrupt{0}, spool_errors{0},
      send_failures{0}, heartbeats_sent{0}, inventories_sent{0}, pending_cache{0};
  std::mt19937_64 rng{std::random_device{}()};
  std::thread sender;

  void Reconnect();
  void Run();
  bool SendAlerts();
  bool SendHeartbeat();
  bool SendInventory();
  std::map<std::string, uint64_t> Counters() const;
  grpc::ClientContext* Prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(opts.rpc_timeout_ms));
    return &ctx;
  }
};

bool CollectorSink::Impl::SendAlerts() {
  if (auto st = spool->Sync(); !st.ok()) {
    ++spool_errors;
    spdlog::error("collector spool: {}", st.message());
  }
  auto records = spool->Oldest(opts.batch_max, 4u << 20);
  if (!records.ok()) {
    ++spool_errors;
    spdlog::error("collector spool: {}", records.message());
    return false;
  }
  if (records->empty()) return true;
  v1::AlertBatch batch;
  batch.set_agent_host(opts.agent_host);
  std::vector<std::string> unreadable;
  for (const auto& r : *records) {
    if (!batch.add_alerts()->ParseFromString(r.payload)) {
      batch.mutable_alerts()->RemoveLast();
      unreadable.push_back(r.id);
    }
  }
  if (!unreadable.empty()) {
    corrupt += unreadable.size();
    (void)spool->Remove(unreadable);
  }
  if (batch.alerts_size() == 0) return true;  // everything read was corrupt and is gone
  batch.set_batch_id(++next_batch_id);
  v1::AlertAck ack;
  if (!stream->Exchange(*stub, batch, &ack)) {
    ++send_failures;
    return false;
  }
  std::vector<std::string> done(ack.acked_ids().begin(), ack.acked_ids().end());
  for (const auto& r : ack.rejected()) {
    // Resending cannot fix a malformed alert: drop it, count it, say why.
    spdlog::warn("collector rejected alert {}: {}", r.id(), r.reason());
    done.push_back(r.id());
  }
  if (done.empty()) {
    // A collector that answers without acknowledging anything: treat it as down rather than
    // resend the same batch in a tight loop.
    ++send_failures;
    spdlog::warn("collector {} acknowledged none of {} alerts", opts.address, batch.alerts_size());
    return false;
  }
  sent += ack.acked_ids_size() - ack.duplicates();
  duplicates += ack.duplicates();
  rejected += ack.rejected_size();
  if (auto rm = spool->Remove(done); !rm.ok()) {
    ++spool_errors;
    spdlog::error("collector spool: {}", rm.message());
  }
  pending_cache = spool->pending();
  return true;
}

bool CollectorSink::Impl::SendHeartbeat() {
  v1::Heartbeat hb;
  std::function<std::map<std::string, uint64_t>()> provider;
  {
    std::lock_guard lock(mu);
    provider = stats;
    hb.set_rules_version(rules_version);
    for (const auto& f : kernel_features) hb.add_kernel_features(f);
  }
  hb.set_host(opts.agent_host);
  hb.set_agent_version(CREDSENTRY_VERSION);
  hb.set_time_ns(WallNs());
  hb.set_started_ns(started_ns);
  auto& counters = *hb.mutable_counters();
  if (provider) {
    for (const auto& [k, v] : provider()) counters[k] = v;
  }
  for (const auto& [k, v] : Counters()) counters["collector_" + k] = v;
  grpc::ClientContext ctx;
  v1::HeartbeatAck ack;
  if (auto st = stub->SendHeartbeat(Prepare(ctx), hb, &ack); !st.ok()) {
    ++send_failures;
    spdlog::debug("collector {}: heartbeat failed: {}", opts.address, st.error_message());
    return false;
  }
  ++heartbeats_sent;
  return true;
}

bool CollectorSink::Impl::SendInventory() {
  v1::Inventory inv;
  {
    std::lock_guard lock(mu);
    if (!inventory_dirty) return true;
    inventory_dirty = false;
    for (const auto& c : inventory) {
      auto* x = inv.add_credentials();
      x->set_path(c.path);
      x->set_owner_uid(c.owner_uid);
      x->set_type(c.type);
      x->set_provider(c.provider);
      x->set_fingerprint(c.fingerprint);
      x->set_redacted(c.redacted);
      x->set_file_mtime_ns(c.file_mtime_ns);
    }
  }
  inv.set_host(opts.agent_host);
  inv.set_time_ns(WallNs());
  grpc::ClientContext ctx;
  v1::InventoryAck ack;
  if (!stub->SendInventory(Prepare(ctx), inv, &ack).ok()) {
    ++send_failures;
    std::lock_guard lock(mu);
    inventory_dirty = true;  // unless a newer snapshot arrived meanwhile, resend this one
    return false;
  }
  ++inventories_sent;
  return true;
}

// A fresh channel with its own subchannels. gRPC 1.51's pick_first can leave a channel in
// TRANSIENT_FAILURE after the collector comes back (the subchannel goes IDLE and nobody asks it
// to connect), so after a failure we start over; our own jittered backoff paces the attempts.
void CollectorSink::Impl::Reconnect() {
  stream->Close("reconnecting");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  stub = v1::Collector::NewStub(grpc::CreateCustomChannel(opts.address, creds, args));
}

void CollectorSink::Impl::Run() {
  using Clock = std::chrono::steady_clock;
  auto backoff = std::chrono::milliseconds(opts.backoff_initial_ms);
  auto next_heartbeat = Clock::now();
  while (true) {
    {
      std::lock_guard lock(mu);
      if (stop) return;
    }
    bool ok = true;
    if (Clock::now() >= next_heartbeat) {
      ok = SendHeartbeat();
      next_heartbeat = Clock::now() + std::chrono::milliseconds(opts.heartbeat_interval_ms);
    }
    if (ok) ok = SendInventory();
    if (ok) ok = SendAlerts();
    std::unique_lock lock(mu);
    if (!ok) {
      // Equal jitter: half the backoff fixed, half random, so agents that lost the same
      // collector at the same moment come back spread out. New alerts do not cut it short.
      auto half = backoff / 2;
      auto sleep = half + std::chrono::milliseconds(rng() % (half.count() + 1));
      cv.wait_for(lock, sleep, [&] { return stop; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(opts.backoff_max_ms));
      lock.unlock();
      Reconnect();
      continue;
    }
    backoff = std::chrono::milliseconds(opts.backoff_initial_ms);
    if (spool->pending() > 0) continue;
    cv.wait_until(lock, next_heartbeat, [&] { return stop || wake || inventory_dirty; });
    wake = false;
  }
}

std::map<std::string, uint64_t> CollectorSink::Impl::Counters() const {
  auto out = spool->Counters();
  out["spool_bytes"] = out["bytes"];
  out.erase("bytes");
  out["sent"] = sent;
  out["acked_duplicate"] = duplicates;
  out["rejected"] = rejected;
  out["corrupt"] = corrupt;
  out["spool_errors"] = spool_errors;
  out["send_failures"] = send_failures;
  out["heartbeats_sent"] = heartbeats_sent;
  out["inventories_sent"] = inventories_sent;
  return out;
}

Result<std::unique_ptr<CollectorSink>> CollectorSink::Create(const CollectorOptions& opts) {
  if (opts.address.empty()) return Error{"collector address is empty (want HOST:PORT)"};
  if (opts.address.find(':') == std::string::npos) {
    return Error{"collector address '" + opts.address + "' has no port (want HOST:PORT)"};
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.agent_host.empty()) {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    impl->opts.agent_host = name;
  }
  // The credentials objects are made in Start(): making one starts gRPC and its threads.
  if (opts.ca_file.empty() && opts.cert_file.empty() && opts.key_file.empty()) {
    spdlog::warn(
        "collector {}: no TLS files configured, sending alerts UNENCRYPTED (tests and "
        "development only)",
        opts.address);
    impl->insecure = true;
  } else {
    if (opts.ca_file.empty() || opts.cert_file.empty() || opts.key_file.empty()) {
      return Error{"collector mTLS needs all of ca, cert and key"};
    }
    grpc::SslCredentialsOptions ssl;  // validated now, used by Start()
    auto ca = ReadPem(opts.ca_file, "collector CA certificate");
    if (!ca.ok()) return ca.error();
    auto cert = ReadPem(opts.cert_file, "collector client certificate");
    if (!cert.ok()) return cert.error();
    auto key = ReadPem(opts.key_file, "collector client key");
    if (!key.ok()) return key.error();
    ssl.pem_root_certs = *ca;
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
    impl->ssl = std::move(ssl);
  }
  SpoolOptions spool_opts;
  spool_opts.dir = opts.spool_dir;
  spool_opts.max_bytes = opts.spool_max_bytes;
  auto spool = Spool::Open(spool_opts);
  if (!spool.ok()) return spool.error();
  impl->spool = std::move(*spool);
  impl->pending_cache = impl->spool->pending();

  std::unique_ptr<CollectorSink> sink(new CollectorSink(std::move(impl)));
  if (!opts.defer_start) sink->Start();
  return sink;
}

void CollectorSink::Start() {
  if (impl_->sender.joinable()) return;
  impl_->creds = impl_->insecure ? grpc::InsecureChannelCredentials()
                                 : grpc::SslCredentials(impl_->ssl);
  impl_->stream = std::make_unique<AlertStream>(impl_->opts.address, impl_->opts.rpc_timeout_ms);
  impl_->Reconnect();
  Impl* raw = impl_.get();
  raw->sender = std::thread([raw] { raw->Run(); });
}

CollectorSink::CollectorSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CollectorSink::~CollectorSink() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (!impl_->sender.joinable()) return;  // never started
  impl_->sender.join();
  impl_->stream.reset();  // closes the call, stops its watchdog
}

Status CollectorSink::Write(const alert::Alert& alert) {
  v1::Alert msg;
  ToProto(alert, &msg);
  std::string payload;
  msg.SerializeToString(&payload);
  Status st = impl_->spool->Append(alert.id, alert.severity, payload);
  if (!st.ok()) {
    // The local alert file is a separate sink and keeps working; here we count and say why.
    uint64_t n = ++impl_->spool_errors;
    if (n == 1 || n % 100 == 0) spdlog::error("collector output: {} ({} so far)", st.message(), n);
    return st;
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->wake = true;
  }
  impl_->cv.notify_one();
  return Status::Ok();
}

void CollectorSink::Flush() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->wake = true;
  }
  impl_->cv.notify_one();
  WaitDrained(2000);
}

bool CollectorSink::WaitDrained(uint32_t timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (impl_->spool->pending() > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::map<std::string, uint64_t> CollectorSink::Counters() const { return impl_->Counters(); }

void CollectorSink::SetStatsProvider(std::function<std::map<std::string, uint64_t>()> provider) {
  std::lock_guard lock(impl_->mu);
  impl_->stats = std::move(provider);
}

void CollectorSink::SetAgentInfo(std::string rules_version,
                                 std::vector<std::string> kernel_features) {
  std::lock_guard lock(impl_->mu);
  impl_->rules_version = std::move(rules_version);
  impl_->kernel_features = std::move(kernel_features);
}

void CollectorSink::SetInventory(std::vector<StoredCredential> inventory) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->inventory = std::move(inventory);
    impl_->inventory_dirty = true;
  }
  impl_->cv.notify_one();
}

Result<std::unique_ptr<AlertSink>> MakeCollectorSink(const CollectorOptions& opts) {
  auto sink = CollectorSink::Create(opts);
  if (!sink.ok()) return sink.error();
  return std::unique_ptr<AlertSink>(std::move(*sink));
}

}  // namespace credsentry::report
