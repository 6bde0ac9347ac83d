// The collector output's alert stream: one long-lived StreamAlerts call carrying one batch at a
// time, each answered by its ack. A collector that accepts a batch and never answers must not
// stall the sender forever, so a watchdog thread cancels the call when an ack is later than the
// timeout; the next exchange opens a new call.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "credsentry/v1/collector.grpc.pb.h"

namespace credsentry::report {

class AlertStream {
 public:
  // Starts the watchdog thread: make it after capabilities are dropped (see CollectorOptions).
  AlertStream(std::string address, uint32_t ack_timeout_ms);
  ~AlertStream();  // closes the call and stops the watchdog
  AlertStream(const AlertStream&) = delete;
  AlertStream& operator=(const AlertStream&) = delete;

  // One batch out and its ack back, on the open call (opened on `stub` when there is none).
  // Opening (a connect), writing (flow control) and the ack together get ack_timeout_ms. False,
  // with the call closed, when any of them fails or the ack names another batch.
  bool Exchange(v1::Collector::Stub& stub, const v1::AlertBatch& batch, v1::AlertAck* ack);
  // Ends the call, if one is open; `why` goes to the debug log with the collector's reason.
  void Close(const char* why);

 private:
  bool Open(v1::Collector::Stub& stub);
  void WatchAcks();

  const std::string address_;
  const uint32_t ack_timeout_ms_;
  // The call (sender thread only): opened on demand, closed on any failure.
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AlertBatch, v1::AlertAck>> call_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  std::optional<std::chrono::steady_clock::time_point> ack_deadline_;
  bool watch_stop_ = false;
  std::thread watchdog_;
};

}  // namespace credsentry::report
