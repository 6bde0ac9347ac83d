#include "forward/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "common/metrics_server.h"
#include "common/unique_fd.h"

namespace credsentry::collector {

std::string HttpUrl::Origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool HttpUrl::IsLoopback() const { return metrics::IsLoopbackHost(host); }

namespace {

// What an error may quote of a URL the user gave: its scheme and authority. Never the path,
// query or fragment (a Slack incoming webhook's path is its credential), never a user:password
// before an '@', and nothing long or unprintable.
std::string QuotableOrigin(const std::string& url) {
  size_t scheme = url.find("://");
  size_t begin = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = std::min(url.find_first_of("/?#", begin), url.size());
  std::string authority = url.substr(begin, end - begin);
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = "...@" + authority.substr(at + 1);
  }
  std::string out;
  for (char c : url.substr(0, begin) + authority) {
    out += (c > ' ' && c < 0x7f) ? c : '?';
  }
  return out.size() > 80 ? out.substr(0, 80) + "..." : out;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& what) {
  auto fail = [&](const std::string& why) {
    return Error{what + " '" + QuotableOrigin(url) + "' " + why};
  };
  HttpUrl out;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    out.tls = true;
    out.port = 443;
  } else {
    return fail("must start with http:// or https://");
  }
  size_t path_at = rest.find_first_of("/?#");
  std::string hostport = rest.substr(0, path_at);
  if (path_at == std::string::npos) {
    out.path = "/";
  } else {
    out.path = rest[path_at] == '/' ? rest.substr(path_at) : "/" + rest.substr(path_at);
  }
  if (hostport.find('@') != std::string::npos) {
    return fail("carries credentials before the host: not supported");
  }
  std::string port;
  bool has_port = false;
  if (!hostport.empty() && hostport[0] == '[') {  // [v6]:port
    size_t close = hostport.find(']');
    if (close == std::string::npos) return fail("has an unclosed '['");
    out.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return fail("has a bad port");
      port = hostport.substr(close + 2);
      has_port = true;
    }
  } else {
    size_t colon = hostport.rfind(':');
    out.host = hostport.substr(0, colon);
    has_port = colon != std::string::npos;
    if (has_port) port = hostport.substr(colon + 1);
  }
  if (has_port) {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p <= 0 || p > 65535) return fail("has a bad port");
    out.port = static_cast<uint16_t>(p);
  }
  if (out.host.empty()) return fail("has no host");
  for (char c : out.path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return fail("has a space or control character in its path");
    }
  }
  return out;
}

namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? buf : "unknown TLS error";
}

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

using Clock = std::chrono::steady_clock;

// One connection's bytes, plain or through TLS, on a non-blocking socket. Every call waits
// only until the POST's one deadline: a server that answers a byte at a time cannot stretch
// the POST past it, and running out of time is an error, never taken for the end of a reply.
class Wire {
 public:
  Wire(int fd, Clock::time_point deadline, int timeout_ms)
      : fd_(fd), deadline_(deadline), timeout_ms_(timeout_ms) {}

  Status Connect(const addrinfo& to) {
    if (connect(fd_, to.ai_addr, to.ai_addrlen) == 0) return {};
    if (errno != EINPROGRESS) return Error{std::string("connect failed: ") + strerror(errno)};
    if (Status ready = Wait(POLLOUT, "connect"); !ready.ok()) return ready;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Error{std::string("connect failed: ") + strerror(err)};
    return {};
  }

  // After this the wire speaks TLS through `ssl`, which must outlive it.
  Status Handshake(SSL* ssl) {
    ssl_ = ssl;
    for (;;) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return {};
      if (Status again = SslWait(rc, "TLS handshake"); !again.ok()) return again;
    }
  }

  Status Write(std::string_view data) {
    for (size_t off = 0; off < data.size();) {
      size_t left = data.size() - off;
      if (ssl_) {
        int n =
            SSL_write(ssl_, data.data() + off, static_cast<int>(std::min<size_t>(left, 1 << 30)));
        if (n > 0) {
          off += n;
        } else if (Status again = SslWait(n, "send"); !again.ok()) {
          return again;
        }
        continue;
      }
      ssize_t n = send(fd_, data.data() + off, left, MSG_NOSIGNAL);
      if (n >= 0) {
        off += n;
      } else if (errno == EAGAIN || errno == EINTR) {
        if (Status ready = Wait(POLLOUT, "send"); !ready.ok()) return ready;
      } else {
        return Error{std::string("send failed: ") + strerror(errno)};
      }
    }
    return {};
  }

  // Bytes read into `buf`; 0 once the server has closed its side.
  Result<size_t> Read(char* buf, size_t size) {
    for (;;) {
      if (ssl_) {
        int n = SSL_read(ssl_, buf, static_cast<int>(size));
        if (n > 0) return static_cast<size_t>(n);
        int err = SSL_get_error(ssl_, n);
        // A server that closes without close_notify has still ended its response; whether
        // that response is whole is the reader's to judge from its framing.
        if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
          ERR_clear_error();
          return size_t{0};
        }
        if (Status again = SslWait(n, "reading the response"); !again.ok())
          return Error{again.message()};
        continue;
      }
      ssize_t n = recv(fd_, buf, size, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EAGAIN && errno != EINTR) {
        return Error{std::string("reading the response failed: ") + strerror(errno)};
      }
      if (Status ready = Wait(POLLIN, "reading the response"); !ready.ok())
        return Error{ready.message()};
    }
  }

 private:
  // Waits until the socket is ready for `events`, or fails once the deadline has passed.
  Status Wait(short events, const char* doing) {
    for (;;) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) {
        return Error{std::string(doing) + ": timed out (" + std::to_string(timeout_ms_) +
                     " ms for the whole POST)"};
      }
      pollfd p{fd_, events, 0};
      int rc = poll(&p, 1, static_cast<int>(left));
      if (rc > 0) return {};  // ready, or an error the next call reports
      if (rc < 0 && errno != EINTR) return Error{std::string(doing) + ": poll: " + strerror(errno)};
    }
  }

  // After an SSL call returned `rc` <= 0: waits for what it wants, or says why it failed.
  Status SslWait(int rc, const char* doing) {
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ:
        return Wait(POLLIN, doing);
      case SSL_ERROR_WANT_WRITE:
        return Wait(POLLOUT, doing);
      case SSL_ERROR_SYSCALL:
        if (errno != 0 && ERR_peek_error() == 0) {
          return Error{std::string(doing) + " failed: " + strerror(errno)};
        }
        [[fallthrough]];
      default:
        return Error{std::string(doing) + ": " + OpenSslError()};
    }
  }

  int fd_;
  SSL* ssl_ = nullptr;
  Clock::time_point deadline_;
  int timeout_ms_;
};

// Responses are short JSON or text; more than this is a misbehaving server.
constexpr size_t kMaxResponse = 64 * 1024;

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Open(HttpUrl url, const std::string& ca_file,
                                                     int timeout_ms) {
  SSL_CTX* ctx = nullptr;
  if (url.tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return Error{"TLS context: " + OpenSslError()};
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    // A server that closes without close_notify has still sent its answer: the response's own
    // framing (length or last chunk) tells a whole one from a truncated one.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                 : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (loaded != 1) {
      std::string why = OpenSslError();
      SSL_CTX_free(ctx);
      return Error{ca_file.empty() ? "cannot load the system's trusted CAs: " + why
                                   : "cannot load CA bundle '" + ca_file + "': " + why};
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(url), ctx, timeout_ms));
}

HttpClient::HttpClient(HttpUrl url, SSL_CTX* tls, int timeout_ms)
    : url_(std::move(url)), tls_(tls), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() {
  if (tls_) SSL_CTX_free(tls_);
}

Result<HttpResponse> HttpClient::Post(const std::string& body, const HttpHeaders& headers) const {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  // The one step without our deadline: the resolver's own timeout and attempts bound it.
  if (int rc = getaddrinfo(url_.host.c_str(), std::to_string(url_.port).c_str(), &hints, &res)) {
    return Error{"resolve " + url_.host + ": " + gai_strerror(rc)};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  UniqueFd sock(
      socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol));
  if (sock.get() < 0) return Error{std::string("socket failed: ") + strerror(errno)};
  Wire wire(sock.get(), deadline, timeout_ms_);
  if (Status connected = wire.Connect(*res); !connected.ok()) return Error{connected.message()};
  std::unique_ptr<SSL, SslFree> ssl;
  if (tls_) {
    ssl.reset(SSL_new(tls_));
    if (!ssl) return Error{"TLS session: " + OpenSslError()};
    SSL_set_fd(ssl.get(), sock.get());
    in6_addr ip{};
    bool literal = inet_pton(AF_INET, url_.host.c_str(), &ip) == 1 ||
                   inet_pton(AF_INET6, url_.host.c_str(), &ip) == 1;
    if (literal) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), url_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl.get(), url_.host.c_str());
      SSL_set1_host(ssl.get(), url_.host.c_str());
    }
    if (Status shook = wire.Handshake(ssl.get()); !shook.ok()) {
      long verify = SSL_get_verify_result(ssl.get());
      ERR_clear_error();
      if (verify != X509_V_OK) {
        return Error{std::string("TLS handshake: certificate not trusted: ") +
                     X509_verify_cert_error_string(verify)};
      }
      return Error{shook.message()};
    }
  }
  std::string req = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host +
                    "\r\nContent-Type: application/json\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  req += body;
  if (Status sent = wire.Write(req); !sent.ok()) return Error{sent.message()};
  ResponseReader reader(kMaxResponse);
  char buf[4096];
  for (bool more = true; more;) {
    auto n = wire.Read(buf, sizeof buf);
    if (!n.ok()) return n.error();
    if (*n == 0) return reader.Finish(/*closed=*/true);
    more = reader.Add(std::string_view(buf, *n));
  }
  return reader.Finish(/*closed=*/false);
}

}  // namespace credsentry::collector
