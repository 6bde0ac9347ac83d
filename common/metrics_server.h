// The /metrics endpoint of the agent and the collector, on cpp-httplib. It runs on its own
// threads and serves what `render` returns; render reads a snapshot under a mutex, so the loop
// that publishes the figures never waits on a scrape.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::metrics {

struct MetricsEndpoint {
  std::string host;  // an address literal, or "localhost"
  int port = 0;      // 0: any free port (tests)
};

// "HOST:PORT" or "[V6]:PORT". The figures say what is watched and what is dropped, which an
// attacker on the network could use, so a host that is not loopback is refused unless
// `allow_remote`; the error then names `allow_flag` as the way to allow it.
Result<MetricsEndpoint> ParseMetricsListen(const std::string& address, bool allow_remote,
                                           std::string_view allow_flag);

bool IsLoopbackHost(const std::string& host);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // Binds now (an error names the address) and serves GET /metrics from a small thread pool
  // with short read and write timeouts; other paths are 404.
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsEndpoint& endpoint,
                                                      Render render);
  ~MetricsServer();  // stops accepting and joins every thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace credsentry::metrics
