// The console's JSON API (/api/v1/..., collector/README.md "Console API"), apart from HTTP:
// each call takes the request's query parameters and returns a status and a JSON body, so the
// web server only routes, authenticates and writes. Everything shown comes from the store;
// the collector never holds a raw secret, so neither does any answer.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "store/alert_store.h"
#include "store/review_store.h"

namespace credsentry::collector::console {

struct ApiReply {
  int status = 200;
  std::string body;  // JSON
};

using QueryParams = std::map<std::string, std::string>;

struct ApiOptions {
  int64_t heartbeat_timeout_ns = 90LL * 1'000'000'000;  // a host quiet longer is "silent"
};

class ConsoleApi {
 public:
  static constexpr int64_t kDefaultAlerts = 100;
  static constexpr int64_t kMaxAlerts = 500;

  ConsoleApi(AlertStore& store, ApiOptions options)
      : store_(store), reviews_(store.db()), options_(options) {}

  // host, kind, severity (at least: low|medium|high|critical), provider, since, until
  // (RFC 3339 time, ns since the epoch, or a duration back from now: 1h), limit, before
  // (paging cursor), after (polling cursor).
  ApiReply Alerts(const QueryParams& params, int64_t now_ns);
  ApiReply Alert(const std::string& id);
  ApiReply Hosts(int64_t now_ns);
  ApiReply Credentials();
  ApiReply Credential(const std::string& fingerprint);
  ApiReply Ack(const std::string& alert_id, const Actor& actor, int64_t now_ns);
  ApiReply Rotated(const std::string& fingerprint, const Actor& actor, int64_t now_ns);
  ApiReply Audit(const QueryParams& params);

 private:
  AlertStore& store_;
  ReviewStore reviews_;
  ApiOptions options_;
};

// {"error": message} with `status`.
ApiReply ErrorReply(int status, const std::string& message);
// RFC 3339 UTC with milliseconds, e.g. "2026-12-02T17:03:53.123Z"; "" for 0.
std::string Rfc3339(int64_t ns);

}  // namespace credsentry::collector::console
