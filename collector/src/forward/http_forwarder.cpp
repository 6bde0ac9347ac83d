#include "forward/http_forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace credsentry::collector {

namespace {

// The server's words for the log: short and printable, so a hostile body cannot forge lines.
std::string Snippet(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 200)) out += (c >= ' ' && c < 0x7f) ? c : ' ';
  return out;
}

}  // namespace

Delivery JudgeHttpStatus(const HttpResponse& r) {
  std::string why = "HTTP " + std::to_string(r.status);
  if (!r.body.empty()) why += " " + Snippet(r.body);
  if (r.status >= 200 && r.status < 300) return {Delivery::Outcome::kSent, why};
  if (r.status == 408 || r.status == 429 || r.status >= 500) {
    return {Delivery::Outcome::kRetry, why};
  }
  return {Delivery::Outcome::kReject, why};
}

HttpForwarder::HttpForwarder(std::unique_ptr<HttpClient> client, HttpFormat format)
    : client_(std::move(client)), format_(std::move(format)) {
  sender_ = std::thread([this] { Run(); });
}

HttpForwarder::~HttpForwarder() { Stop(); }

void HttpForwarder::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void HttpForwarder::OnFreshAlert(const v1::Alert& alert) {
  // Room is checked before the alert is formatted, so a flood into a full queue costs a lock
  // per alert, not a message built and thrown away; formatting runs outside the lock.
  if (!HasRoom()) return;
  std::string payload = format_.payload(alert);
  {
    std::lock_guard lock(mu_);
    if (!HasRoomLocked()) return;  // filled meanwhile by another ingest thread
    queue_.push_back(std::move(payload));
  }
  cv_.notify_one();
}

bool HttpForwarder::HasRoom() {
  std::lock_guard lock(mu_);
  return HasRoomLocked();
}

// Counts the alert as dropped when there is no room for it.
bool HttpForwarder::HasRoomLocked() {
  if (stop_) {  // the fleet correlator may still raise one while the collector stops
    ++counters_.dropped_at_shutdown;
    return false;
  }
  if (queue_.size() < format_.delivery.max_queue) return true;
  uint64_t n = ++counters_.dropped_queue_full;
  if ((n & (n - 1)) == 0) {  // 1, 2, 4, 8...: a flood of drops stays a few log lines
    spdlog::warn("{} forwarder: queue full ({} alerts), {} alerts dropped so far", format_.name,
                 queue_.size(), n);
  }
  return false;
}

ForwardCounters HttpForwarder::Counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::vector<std::string> HttpForwarder::TakeBatch() {
  std::vector<std::string> batch;
  size_t bytes = 0;
  while (!queue_.empty() && batch.size() < format_.delivery.max_batch) {
    size_t next = queue_.front().size() + format_.separator.size();
    if (!batch.empty() && bytes + next > format_.delivery.max_batch_bytes) break;
    bytes += next;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void HttpForwarder::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    std::vector<std::string> batch = TakeBatch();
    std::string body;
    for (const auto& p : batch) body += (body.empty() ? "" : format_.separator) + p;
    counters_.*Deliver(body, lock) += batch.size();
  }
  counters_.dropped_at_shutdown += queue_.size();
  if (!queue_.empty()) {
    spdlog::warn("{} forwarder: {} queued alerts not sent at shutdown", format_.name,
                 queue_.size());
  }
  queue_.clear();
}

// Called and returns with `lock` held; POSTs without it, so ingest can queue meanwhile.
HttpForwarder::Counter HttpForwarder::Deliver(const std::string& body,
                                              std::unique_lock<std::mutex>& lock) {
  const DeliveryOptions& opt = format_.delivery;
  const std::string origin = client_->url().Origin();  // never the path: Slack's is a secret
  for (int attempt = 1;; ++attempt) {
    lock.unlock();
    auto response = client_->Post(body, format_.headers);
    Delivery d = response.ok() ? format_.judge(*response)
                               : Delivery{Delivery::Outcome::kRetry, response.message()};
    lock.lock();
    if (d.outcome == Delivery::Outcome::kSent) return &ForwardCounters::sent;
    if (d.outcome == Delivery::Outcome::kReject) {
      spdlog::error("{} forwarder {}: {}; not retried, dropped", format_.name, origin, d.why);
      return &ForwardCounters::dropped_rejected;
    }
    if (attempt >= opt.attempts) {
      spdlog::warn("{} forwarder {}: {}; gave up after {} attempts, dropped", format_.name, origin,
                   d.why, attempt);
      return &ForwardCounters::dropped_gave_up;
    }
    int wait_ms = std::min(opt.max_backoff_ms, opt.backoff_ms << std::min(attempt - 1, 16));
    if (response.ok() && response->retry_after_s >= 0) {
      wait_ms = std::max(wait_ms, std::min(opt.max_backoff_ms, response->retry_after_s * 1000));
    }
    spdlog::warn("{} forwarder {}: {}; retry {} of {} in {} ms", format_.name, origin, d.why,
                 attempt, opt.attempts - 1, wait_ms);
    ++counters_.retries;
    if (cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stop_; })) {
      return &ForwardCounters::dropped_at_shutdown;
    }
  }
}

}  // namespace credsentry::collector
