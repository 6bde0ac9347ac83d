// One blocking HTTP/1.1 POST per call, over plain TCP or TLS (OpenSSL), for the forwarders.
// TLS always verifies the server: its chain against the system store or a given CA bundle, and
// its name (DNS name or IP literal) against the URL's host.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "forward/http_response.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace credsentry::collector {

struct HttpUrl {
  bool tls = false;
  std::string host, path;
  uint16_t port = 80;

  // scheme://host:port, without the path: a Slack webhook's path is its secret.
  std::string Origin() const;
  bool IsLoopback() const;
};

// http:// or https:// URLs; `what` names the flag in the error ("--slack URL 'x' has no host").
Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& what = "webhook URL");

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // ca_file empty: the system's trusted roots. Fails when the CA file cannot be loaded.
  // timeout_ms bounds each Post as a whole, from connect to the response's last byte.
  static Result<std::unique_ptr<HttpClient>> Open(HttpUrl url, const std::string& ca_file,
                                                  int timeout_ms = 5000);
  ~HttpClient();

  const HttpUrl& url() const { return url_; }
  // Content-Type is application/json; `headers` adds to it. Never logs a header. Fails when
  // the server does not answer in full within the timeout, cuts its answer short, or answers
  // with more than 64 KiB.
  Result<HttpResponse> Post(const std::string& body, const HttpHeaders& headers = {}) const;

 private:
  HttpClient(HttpUrl url, SSL_CTX* tls, int timeout_ms);
  HttpUrl url_;
  SSL_CTX* tls_;  // null for http://
  int timeout_ms_;
};

}  // namespace credsentry::collector
