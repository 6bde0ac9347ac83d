// Forwards each newly stored alert as one JSON POST to a webhook (http:// only: put a local TLS
// proxy in front for https). A bounded queue and one sender thread keep ingest from waiting on
// the webhook; what does not fit or fails after retries is dropped and counted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "ingest/collector_service.h"

namespace credsentry::collector {

struct HttpUrl {
  std::string host, path;
  uint16_t port = 80;
};
Result<HttpUrl> ParseHttpUrl(const std::string& url);

// One blocking HTTP/1.1 POST; returns the status code.
Result<int> HttpPost(const HttpUrl& url, const std::string& body, int timeout_ms);

class WebhookForwarder final : public IngestObserver {
 public:
  static constexpr size_t kMaxQueue = 10000;
  explicit WebhookForwarder(HttpUrl url);
  ~WebhookForwarder() override;
  void OnFreshAlert(const v1::Alert& alert) override;
  std::map<std::string, uint64_t> Counters() const;

 private:
  void Run();
  HttpUrl url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::atomic<uint64_t> sent_{0}, dropped_{0}, failed_{0};
  std::thread sender_;
};

class SyslogForwarder final : public IngestObserver {
 public:
  SyslogForwarder();
  ~SyslogForwarder() override;
  void OnFreshAlert(const v1::Alert& alert) override;
};

}  // namespace credsentry::collector
