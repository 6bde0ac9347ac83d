#include "forward/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/unique_fd.h"

namespace credsentry::collector {

std::string HttpUrl::Origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool HttpUrl::IsLoopback() const {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "::1" || host == "localhost";
}

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

// One connection's bytes, plain or through TLS.
class Wire {
 public:
  Wire(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  bool Write(const std::string& data) {
    for (size_t off = 0; off < data.size();) {
      int n = ssl_
                  ? SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off))
                  : static_cast<int>(send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return false;
      off += n;
    }
    return true;
  }
  int Read(char* buf, int size) {
    return ssl_ ? SSL_read(ssl_, buf, size) : static_cast<int>(recv(fd_, buf, size, 0));
  }

 private:
  int fd_;
  SSL* ssl_;
};

constexpr size_t kMaxResponse = 64 * 1024;

// The header value of `name` (case-insensitive) in `head`, or "".
std::string HeaderValue(const std::string& head, const char* name) {
  size_t len = strlen(name);
  for (size_t pos = head.find("\r\n"); pos != std::string::npos; pos = head.find("\r\n", pos + 2)) {
    size_t line = pos + 2;
    if (head.size() > line + len && strncasecmp(head.c_str() + line, name, len) == 0 &&
        head[line + len] == ':') {
      size_t end = head.find("\r\n", line);
      std::string v =
          head.substr(line + len + 1, end == std::string::npos ? end : end - line - len - 1);
      size_t b = v.find_first_not_of(" \t");
      return b == std::string::npos ? "" : v.substr(b, v.find_last_not_of(" \t") - b + 1);
    }
  }
  return "";
}

std::string Dechunk(const std::string& body) {
  std::string out;
  for (size_t pos = 0; pos < body.size();) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t n = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (n == 0) break;
    out += body.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  return out;
}

// True once `raw` holds the whole response (headers plus Content-Length or the last chunk).
bool Complete(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = raw.substr(0, end);
  if (auto cl = HeaderValue(head, "Content-Length"); !cl.empty()) {
    return raw.size() - end - 4 >= std::strtoul(cl.c_str(), nullptr, 10);
  }
  if (strcasecmp(HeaderValue(head, "Transfer-Encoding").c_str(), "chunked") == 0) {
    return raw.size() >= end + 9 && raw.compare(raw.size() - 5, 5, "0\r\n\r\n") == 0;
  }
  return false;  // until the server closes
}

Result<HttpResponse> ParseResponse(const std::string& raw) {
  HttpResponse out;
  if (sscanf(raw.c_str(), "HTTP/%*s %d", &out.status) != 1) {
    return Error{"malformed response (no HTTP status line)"};
  }
  size_t end = raw.find("\r\n\r\n");
  std::string head = raw.substr(0, end);
  out.body = end == std::string::npos ? "" : raw.substr(end + 4);
  if (strcasecmp(HeaderValue(head, "Transfer-Encoding").c_str(), "chunked") == 0) {
    out.body = Dechunk(out.body);
  }
  if (auto ra = HeaderValue(head, "Retry-After"); !ra.empty()) {
    char* e = nullptr;
    long s = std::strtol(ra.c_str(), &e, 10);
    if (*e == '\0' && s >= 0) out.retry_after_s = static_cast<int>(std::min(s, 3600L));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Open(HttpUrl url, const std::string& ca_file,
                                                     int timeout_ms) {
  SSL_CTX* ctx = nullptr;
  if (url.tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return Error{"TLS context: " + OpenSslError()};
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
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
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(url_.host.c_str(), std::to_string(url_.port).c_str(), &hints, &res)) {
    return Error{"resolve " + url_.host + ": " + gai_strerror(rc)};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  UniqueFd sock(socket(res->ai_family, res->ai_socktype, res->ai_protocol));
  if (sock.get() < 0) return Error{"socket failed"};
  // Linux applies SO_SNDTIMEO to connect() too, so no call below waits past the timeout.
  timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(sock.get(), res->ai_addr, res->ai_addrlen) != 0) {
    return Error{std::string("connect failed: ") + strerror(errno)};
  }
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
    if (SSL_connect(ssl.get()) != 1) {
      long verify = SSL_get_verify_result(ssl.get());
      std::string why = verify != X509_V_OK ? std::string("certificate not trusted: ") +
                                                  X509_verify_cert_error_string(verify)
                                            : OpenSslError();
      ERR_clear_error();
      return Error{"TLS handshake: " + why};
    }
  }
  std::string req = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host +
                    "\r\nContent-Type: application/json\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  req += body;
  Wire wire(sock.get(), ssl.get());
  if (!wire.Write(req)) return Error{"send failed"};
  std::string raw;
  char buf[4096];
  while (raw.size() < kMaxResponse && !Complete(raw)) {
    int n = wire.Read(buf, sizeof buf);
    if (n <= 0) break;
    raw.append(buf, n);
  }
  ERR_clear_error();  // a peer that closes without close_notify is not an error for us
  if (raw.empty()) return Error{"no response"};
  return ParseResponse(raw);
}

}  // namespace credsentry::collector
