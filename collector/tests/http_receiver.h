// A loopback HTTP (or HTTPS) server for forwarder tests: it records every request as received
// (request line, headers, body) and answers from a script, one response per request, then with
// a fallback. It stands in for a JSON webhook, Slack's incoming webhooks and Splunk HEC.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "postgres_server.h"  // FreePort

namespace credsentry::testing {

inline std::string HttpResponseText(int status, const std::string& body = "",
                                    const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " Scripted\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A listening TCP socket on 127.0.0.1 at a free port, which goes to *port.
inline int ListenOnLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  *port = FreePort();
  sockaddr_in addr{.sin_family = AF_INET, .sin_port = htons(static_cast<uint16_t>(*port))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(fd, 16);
  return fd;
}

struct ReceivedRequest {
  std::string head;  // request line and headers, without the blank line
  std::string body;
  std::chrono::steady_clock::time_point at{};  // when the whole request was in

  std::string RequestLine() const { return head.substr(0, head.find("\r\n")); }
  std::string Header(const std::string& name) const {
    for (size_t pos = head.find("\r\n"); pos != std::string::npos;
         pos = head.find("\r\n", pos + 2)) {
      size_t line = pos + 2;
      if (strncasecmp(head.c_str() + line, (name + ": ").c_str(), name.size() + 2) == 0) {
        size_t end = head.find("\r\n", line);
        return head.substr(line + name.size() + 2,
                           end == std::string::npos ? end : end - line - name.size() - 2);
      }
    }
    return "";
  }
};

struct HttpReceiverOptions {
  std::vector<std::string> script;  // responses in order
  std::string fallback = HttpResponseText(204);
  std::string tls_cert, tls_key;  // both set: HTTPS with this certificate
  int hold_first_ms = 0;          // answer the first request this late
};

class HttpReceiver {
 public:
  explicit HttpReceiver(HttpReceiverOptions opt = {}) : opt_(std::move(opt)) {
    script_.assign(opt_.script.begin(), opt_.script.end());
    if (!opt_.tls_cert.empty()) {
      tls_ = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_chain_file(tls_, opt_.tls_cert.c_str());
      SSL_CTX_use_PrivateKey_file(tls_, opt_.tls_key.c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpReceiver() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    if (tls_) SSL_CTX_free(tls_);
  }

  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Waits up to `timeout_ms` for `n` requests; returns what came.
  std::vector<ReceivedRequest> WaitFor(size_t n, int timeout_ms = 5000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lock(mu_);
        if (requests_.size() >= n) return requests_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Requests();
  }
  std::vector<ReceivedRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int failed_handshakes() {
    std::lock_guard lock(mu_);
    return failed_handshakes_;
  }

 private:
  void Serve() {
    for (int served = 0;; ++served) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = nullptr;
      if (tls_) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) {
          SSL_free(ssl);
          close(c);
          std::lock_guard lock(mu_);
          ++failed_handshakes_;
          continue;
        }
      }
      auto read = [&](char* buf, int n) {
        return ssl ? SSL_read(ssl, buf, n) : static_cast<int>(recv(c, buf, n, 0));
      };
      std::string req;
      char buf[4096];
      for (int n; (n = read(buf, sizeof buf)) > 0;) {
        req.append(buf, n);
        auto end = req.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        ReceivedRequest probe{req.substr(0, end), ""};
        std::string cl = probe.Header("Content-Length");
        if (req.size() >= end + 4 + (cl.empty() ? 0 : std::stoul(cl))) break;
      }
      size_t end = req.find("\r\n\r\n");
      std::string response;
      {
        std::lock_guard lock(mu_);
        requests_.push_back({req.substr(0, end),
                             end == std::string::npos ? "" : req.substr(end + 4),
                             std::chrono::steady_clock::now()});
        response = script_.empty() ? opt_.fallback : script_.front();
        if (!script_.empty()) script_.pop_front();
      }
      if (served == 0 && opt_.hold_first_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(opt_.hold_first_ms));
      }
      if (ssl) {
        SSL_write(ssl, response.data(), static_cast<int>(response.size()));
        SSL_shutdown(ssl);
        SSL_free(ssl);
      } else {
        send(c, response.data(), response.size(), MSG_NOSIGNAL);
      }
      close(c);
    }
  }

  HttpReceiverOptions opt_;
  SSL_CTX* tls_ = nullptr;
  int fd_ = -1, port_ = 0;
  std::mutex mu_;
  std::deque<std::string> script_;
  std::vector<ReceivedRequest> requests_;
  int failed_handshakes_ = 0;
  std::thread thread_;
};

}  // namespace credsentry::testing
