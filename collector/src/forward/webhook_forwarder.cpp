#include "forward/webhook_forwarder.h"

#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "store/alert_store.h"

namespace credsentry::collector {

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return Error{"webhook URL '" + url + "' must start with http://"};
  std::string rest = url.substr(scheme.size());
  HttpUrl out;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  out.host = hostport.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      int p = std::stoi(hostport.substr(colon + 1));
      if (p <= 0 || p > 65535) throw std::out_of_range("port");
      out.port = static_cast<uint16_t>(p);
    } catch (...) {
      return Error{"webhook URL '" + url + "' has a bad port"};
    }
  }
  if (out.host.empty()) return Error{"webhook URL '" + url + "' has no host"};
  return out;
}

namespace {
struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};
}  // namespace

Result<int> HttpPost(const HttpUrl& url, const std::string& body, int timeout_ms) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res)) {
    return Error{"resolve " + url.host + ": " + gai_strerror(rc)};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  FdCloser sock{socket(res->ai_family, res->ai_socktype, res->ai_protocol)};
  if (sock.fd < 0) return Error{"socket failed"};
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(sock.fd, res->ai_addr, res->ai_addrlen) != 0) {
    return Error{"connect " + url.host + ":" + std::to_string(url.port) + " failed"};
  }
  std::string req = "POST " + url.path + " HTTP/1.1\r\nHost: " + url.host +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = send(sock.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return Error{"send to webhook failed"};
    off += n;
  }
  char buf[512];
  ssize_t n = recv(sock.fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return Error{"no response from webhook"};
  buf[n] = '\0';
  int code = 0;
  if (sscanf(buf, "HTTP/%*s %d", &code) != 1) return Error{"malformed response from webhook"};
  return code;
}

WebhookForwarder::WebhookForwarder(HttpUrl url) : url_(std::move(url)) {
  sender_ = std::thread([this] { Run(); });
}

WebhookForwarder::~WebhookForwarder() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  sender_.join();
}

void WebhookForwarder::OnFreshAlert(const v1::Alert& alert) {
  std::string body = AlertToJson(alert);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueue) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(body));
  }
  cv_.notify_one();
}

void WebhookForwarder::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    bool ok = false;
    for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
      auto code = HttpPost(url_, body, 5000);
      ok = code.ok() && *code >= 200 && *code < 300;
      if (!ok) {
        spdlog::warn("webhook {}:{}{}: {}", url_.host, url_.port, url_.path,
                     code.ok() ? "HTTP " + std::to_string(*code) : code.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
      }
    }
    ++(ok ? sent_ : failed_);
    lock.lock();
  }
}

std::map<std::string, uint64_t> WebhookForwarder::Counters() const {
  return {{"webhook_sent", sent_}, {"webhook_failed", failed_}, {"webhook_dropped", dropped_}};
}

SyslogForwarder::SyslogForwarder() { openlog("credsentry-collector", LOG_PID, LOG_AUTH); }
SyslogForwarder::~SyslogForwarder() { closelog(); }

void SyslogForwarder::OnFreshAlert(const v1::Alert& alert) {
  int prio = alert.severity() >= v1::SEVERITY_CRITICAL ? LOG_CRIT
             : alert.severity() >= v1::SEVERITY_HIGH   ? LOG_ERR
                                                       : LOG_WARNING;
  syslog(prio, "%s", AlertToJson(alert).c_str());
}

}  // namespace credsentry::collector
