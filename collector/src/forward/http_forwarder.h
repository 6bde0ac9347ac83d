// The one HTTP forwarding loop every format shares (JSON webhook, Slack, Splunk HEC): a bounded
// queue so ingest never waits on an endpoint, one sender thread that POSTs a batch at a time,
// bounded retries with backoff (and the server's Retry-After), and every alert that does not
// arrive counted by why.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/counters.h"
#include "forward/http_client.h"
#include "ingest/collector_service.h"

namespace credsentry::collector {

// What one POST came to, as the format reads the response.
struct Delivery {
  enum class Outcome { kSent, kRetry, kReject };
  Outcome outcome = Outcome::kSent;
  std::string why;  // for the log: the status and the server's words, never a header
};

// 2xx sent; 408, 429 and 5xx worth another try; any other status refused for good.
Delivery JudgeHttpStatus(const HttpResponse& response);

// Counted in alerts, except retries (POSTs repeated).
#define CREDSENTRY_FORWARD_COUNTERS(X)                                      \
  X(sent, "alerts the endpoint accepted")                                   \
  X(retries, "POSTs repeated after a failure or a 408/429/5xx")             \
  X(dropped_queue_full, "alerts dropped because the queue was full")        \
  X(dropped_gave_up, "alerts dropped after the last retry failed")          \
  X(dropped_rejected, "alerts the endpoint refused for good (not retried)") \
  X(dropped_at_shutdown, "alerts still queued or in flight at shutdown")

struct ForwardCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_FORWARD_COUNTERS, ForwardCounters)
};

struct DeliveryOptions {
  size_t max_queue = 10000;          // alerts waiting; more are dropped and counted
  size_t max_batch = 1;              // alerts per POST
  size_t max_batch_bytes = 1 << 20;  // a batch holds at least one alert, however large
  int attempts = 4;                  // the first POST and three retries
  int backoff_ms = 500;              // doubles on each retry
  int max_backoff_ms = 30000;        // also caps a server's Retry-After
};

// How one endpoint wants alerts: the payload of one alert, how payloads join into a body, the
// extra headers, and what a response means.
struct HttpFormat {
  std::string name;  // counter prefix and log name: "webhook", "slack", "splunk"
  std::function<std::string(const v1::Alert&)> payload;
  std::string separator;  // between the payloads of one batch
  HttpHeaders headers;
  std::function<Delivery(const HttpResponse&)> judge = JudgeHttpStatus;
  DeliveryOptions delivery;
};

class HttpForwarder final : public IngestObserver {
 public:
  HttpForwarder(std::unique_ptr<HttpClient> client, HttpFormat format);
  ~HttpForwarder() override;
  void OnFreshAlert(const v1::Alert& alert) override;
  // Ends delivery: waits for the POST in flight (bounded by the client's timeout) and counts
  // every alert still queued, and any that arrives later, as dropped_at_shutdown. Idempotent.
  void Stop();

  const std::string& name() const { return format_.name; }
  ForwardCounters Counters() const;

 private:
  using Counter = uint64_t ForwardCounters::*;
  void Run();
  bool HasRoom();
  bool HasRoomLocked();
  std::vector<std::string> TakeBatch();
  // The counter the batch ends in: sent, dropped_rejected, _gave_up or _at_shutdown.
  Counter Deliver(const std::string& body, std::unique_lock<std::mutex>& lock);

  std::unique_ptr<HttpClient> client_;
  HttpFormat format_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  ForwardCounters counters_;
  bool stop_ = false;
  std::thread sender_;
};

}  // namespace credsentry::collector
