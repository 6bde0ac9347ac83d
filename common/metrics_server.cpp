#include "common/metrics_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common/metrics_text.h"

namespace credsentry::metrics {
namespace {

// Scrapes come every 15 s or so from one or two Prometheus servers: two threads are plenty.
constexpr size_t kThreads = 2;
// Accepted connections waiting for a thread. Past this the accept thread serves the connection
// itself, so further ones wait in the kernel's listen backlog, not in our memory.
constexpr size_t kMaxQueued = 8;
constexpr time_t kIoTimeoutS = 2;

// cpp-httplib 0.11's ThreadPool queues without bound; this one does not.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool() {
    for (size_t i = 0; i < kThreads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!stopping_ && jobs_.size() < kMaxQueued) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    fn();  // full: the accept thread serves it, bounded by the I/O timeouts
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and every accepted connection is served
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // a name: where it resolves to is not ours to promise
}

Result<MetricsEndpoint> ParseMetricsListen(const std::string& address, bool allow_remote,
                                           std::string_view allow_flag) {
  MetricsEndpoint ep;
  std::string port;
  if (address.starts_with("[")) {
    auto close = address.find("]:");
    if (close == std::string::npos) return Error{"'" + address + "': want [V6ADDR]:PORT"};
    ep.host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) {
      return Error{"'" + address + "': want HOST:PORT (IPv6 as [ADDR]:PORT)"};
    }
    ep.host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (ep.host.empty()) return Error{"'" + address + "': no host (want e.g. 127.0.0.1:9464)"};
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos ||
      std::stoi(port) > 65535) {
    return Error{"'" + address + "': port must be a number from 0 to 65535"};
  }
  ep.port = std::stoi(port);
  if (!allow_remote && !IsLoopbackHost(ep.host)) {
    return Error{"'" + address + "' is not a loopback address; metrics are served on loopback " +
                 "only unless " + std::string(allow_flag) + " is given"};
  }
  return ep;
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread listener;
  int port = 0;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

int MetricsServer::port() const { return impl_->port; }

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsEndpoint& endpoint,
                                                            Render render) {
  auto impl = std::make_unique<Impl>();
  httplib::Server& s = impl->server;
  s.new_task_queue = [] { return new BoundedPool(); };
  s.set_read_timeout(kIoTimeoutS, 0);
  s.set_write_timeout(kIoTimeoutS, 0);
  s.set_keep_alive_timeout(kIoTimeoutS);
  s.set_keep_alive_max_count(16);
  s.set_payload_max_length(4096);  // a scrape has no body
  // cpp-httplib's default adds SO_REUSEPORT, with which a second agent, or anyone running as
  // the same user, could bind the same port and take half the scrapes. Address reuse only.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), kContentType);
  });
  const std::string where = endpoint.host + ":" + std::to_string(endpoint.port);
  if (endpoint.port == 0) {
    impl->port = s.bind_to_any_port(endpoint.host);
    if (impl->port <= 0) return Error{"metrics: cannot listen on " + where};
  } else {
    if (!s.bind_to_port(endpoint.host, endpoint.port)) {
      return Error{"metrics: cannot listen on " + where + " (address in use or not local)"};
    }
    impl->port = endpoint.port;
  }
  Impl* raw = impl.get();
  impl->listener = std::thread([raw] { raw->server.listen_after_bind(); });
  // stop() does nothing to a server that is not running yet: wait for it, so that destroying
  // the server right after Start() still ends the listener.
  for (int i = 0; i < 2000 && !s.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace credsentry::metrics
