#include "report/alert_stream.h"

#include "common/log.h"

namespace credsentry::report {

AlertStream::AlertStream(std::string address, uint32_t ack_timeout_ms)
    : address_(std::move(address)), ack_timeout_ms_(ack_timeout_ms) {
  watchdog_ = std::thread([this] { WatchAcks(); });
}

AlertStream::~AlertStream() {
  Close("agent stopping");
  {
    std::lock_guard lock(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  watchdog_.join();
}

// Starts the call on `ctx_` (made by the caller, so the watchdog can cancel a connect).
bool AlertStream::Open(v1::Collector::Stub& stub) {
  call_ = stub.StreamAlerts(ctx_.get());
  if (!call_) {
    spdlog::debug("collector {}: cannot open the alert stream", address_);
    return false;
  }
  return true;
}

// Logs the collector's reason (its Finish status) at debug level: outages are normal, and the
// sink's counters say how many sends failed.
void AlertStream::Close(const char* why) {
  if (call_) {
    ctx_->TryCancel();  // Finish() would otherwise wait for a collector that may be hung
    grpc::Status st = call_->Finish();
    spdlog::debug("collector {}: alert stream closed ({}): {}", address_, why, st.error_message());
  }
  call_.reset();
  ctx_.reset();
}

bool AlertStream::Exchange(v1::Collector::Stub& stub, const v1::AlertBatch& batch,
                           v1::AlertAck* ack) {
  if (!call_) ctx_ = std::make_unique<grpc::ClientContext>();
  {
    std::lock_guard lock(watch_mu_);
    ack_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(ack_timeout_ms_);
  }
  watch_cv_.notify_one();
  bool ok = (call_ || Open(stub)) && call_->Write(batch) && call_->Read(ack);
  {
    std::lock_guard lock(watch_mu_);
    ack_deadline_.reset();
  }
  if (!ok) {
    Close("no ack");
    return false;
  }
  if (ack->batch_id() != batch.batch_id()) {
    // Acks come back in order, one per batch: anything else is a collector bug. Drop the call
    // and resend; ids keep the resend harmless.
    spdlog::warn("collector {} answered batch {} with the ack of batch {}", address_,
                 batch.batch_id(), ack->batch_id());
    Close("ack out of order");
    return false;
  }
  return true;
}

void AlertStream::WatchAcks() {
  std::unique_lock lock(watch_mu_);
  while (!watch_stop_) {
    if (!ack_deadline_) {
      watch_cv_.wait(lock);
      continue;
    }
    auto deadline = *ack_deadline_;
    if (watch_cv_.wait_until(lock, deadline) == std::cv_status::timeout && ack_deadline_ &&
        *ack_deadline_ == deadline) {
      // Still blocked in Exchange on the sender thread: cancelling makes its open, Write or Read
      // return. The context lives until Close, which the sender runs only after the deadline is
      // cleared under watch_mu_.
      spdlog::warn("collector {}: no ack within {} ms, reconnecting", address_, ack_timeout_ms_);
      ctx_->TryCancel();
      ack_deadline_.reset();
    }
  }
}

}  // namespace credsentry::report
