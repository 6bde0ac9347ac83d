// Loopback HTTPS server for the upload benchmark: reads an HTTP/1.1 request, discards its body,
// answers 200 OK. It must not be the bottleneck, so for every upload it records the wall time of
// the body and its own CPU time over that span; run-bench.sh reports cpu/wall ("server busy").
//
// Usage: tls_sink --cert PEM --key PEM --port-file FILE --stats-file FILE
//   Listens on 127.0.0.1 (a free port, written to --port-file), one connection at a time, until
//   SIGTERM. Each upload appends "bytes=N wall_s=S cpu_s=C" to --stats-file.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

using credsentry::Error;
using credsentry::Result;
using credsentry::Status;

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kReadChunk = 256 * 1024;

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  if (!e) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool SslWriteAll(SSL* ssl, std::string_view data) {
  return SSL_write(ssl, data.data(), static_cast<int>(data.size())) ==
         static_cast<int>(data.size());
}

// Header lookup, case-insensitive on the name; returns the trimmed value or empty.
std::string HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
  }
  return {};
}

struct Upload {
  uint64_t bytes = 0;
  double wall_s = 0;
  double cpu_s = 0;
};

// Serves one request on an accepted TLS connection.
Result<Upload> Serve(SSL* ssl) {
  std::vector<char> buf(kReadChunk);
  std::string head;
  size_t end;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    if (head.size() > kMaxHeaderBytes) return Error{"request header larger than 16 KiB"};
    int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) return Error{"connection closed inside the request header"};
    head.append(buf.data(), n);
  }
  std::string length = HeaderValue(std::string_view(head).substr(0, end + 2), "Content-Length");
  if (length.empty()) return Error{"request has no Content-Length (chunked bodies unsupported)"};
  char* stop = nullptr;
  unsigned long long want = std::strtoull(length.c_str(), &stop, 10);
  if (*stop != '\0') return Error{"bad Content-Length '" + length + "'"};
  if (!HeaderValue(head.substr(0, end + 2), "Expect").empty() &&
      !SslWriteAll(ssl, "HTTP/1.1 100 Continue\r\n\r\n")) {
    return Error{"writing 100 Continue failed"};
  }
  Upload up;
  up.bytes = head.size() - (end + 4);
  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = CpuSeconds();
  while (up.bytes < want) {
    int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) {
      return Error{"connection closed after " + std::to_string(up.bytes) + " of " + length +
                   " body bytes"};
    }
    up.bytes += n;
  }
  up.cpu_s = CpuSeconds() - cpu0;
  up.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!SslWriteAll(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")) {
    return Error{"writing the response failed"};
  }
  SSL_shutdown(ssl);
  return up;
}

Result<int> Listen(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("socket: ") + strerror(errno)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) || listen(fd, 8) ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)) {
    int saved = errno;
    close(fd);
    return Error{std::string("listening on 127.0.0.1: ") + strerror(saved)};
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

Status Run(const std::string& cert, const std::string& key, const std::string& port_file,
           const std::string& stats_file) {
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Error{"SSL_CTX_new: " + OpensslError()};
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    return Error{"loading certificate " + cert + ": " + OpensslError()};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error{"loading key " + key + ": " + OpensslError()};
  }
  uint16_t port = 0;
  auto listener = Listen(&port);
  if (!listener) return listener.status();
  Fd lfd(*listener);
  std::ofstream stats(stats_file, std::ios::app);
  if (!stats) return Error{"opening " + stats_file + ": " + strerror(errno)};
  {
    std::ofstream pf(port_file, std::ios::trunc);
    pf << port << "\n";
    if (!pf) return Error{"writing " + port_file + ": " + strerror(errno)};
  }
  unsigned failed = 0;
  while (!g_stop) {
    int cfd = accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR) continue;
      return Error{std::string("accept: ") + strerror(errno)};
    }
    Fd conn(cfd);
    std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), cfd) != 1 || SSL_accept(ssl.get()) != 1) {
      ++failed;
      std::fprintf(stderr, "tls_sink: TLS handshake failed: %s\n", OpensslError().c_str());
      continue;
    }
    auto up = Serve(ssl.get());
    if (!up) {
      ++failed;
      std::fprintf(stderr, "tls_sink: %s\n", up.message().c_str());
      // Best effort: the client may already be gone.
      SslWriteAll(ssl.get(), "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      continue;
    }
    stats << "bytes=" << up->bytes << " wall_s=" << up->wall_s << " cpu_s=" << up->cpu_s
          << std::endl;
  }
  if (failed) std::fprintf(stderr, "tls_sink: %u connections failed\n", failed);
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::string cert, key, port_file, stats_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    if (a == "--cert") {
      cert = argv[i + 1];
    } else if (a == "--key") {
      key = argv[i + 1];
    } else if (a == "--port-file") {
      port_file = argv[i + 1];
    } else if (a == "--stats-file") {
      stats_file = argv[i + 1];
    } else {
      std::fprintf(stderr, "tls_sink: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 == 0 || cert.empty() || key.empty() || port_file.empty() || stats_file.empty()) {
    std::fprintf(stderr, "usage: tls_sink --cert PEM --key PEM --port-file F --stats-file F\n");
    return 2;
  }
  // No SA_RESTART: SIGTERM must interrupt accept() so the loop sees the flag.
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (auto s = Run(cert, key, port_file, stats_file); !s) {
    std::fprintf(stderr, "tls_sink: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
