// `serve --console-listen`: the security team's web console and its JSON API over HTTPS, with
// the collector's own certificate and key, on cpp-httplib. Login takes a token from
// --console-token-file and gives a session cookie (HttpOnly, Secure, SameSite=Strict);
// state-changing requests also carry the session's CSRF token in X-CSRF-Token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "console/console_api.h"
#include "console/console_sessions.h"
#include "console/console_tokens.h"
#include "ingest/collector_metrics.h"

namespace credsentry::collector::console {

struct ConsoleOptions {
  std::string listen;  // HOST:PORT (port 0: any free port)
  std::string token_file, cert_file, key_file;
  std::string collector_id;  // recorded in the audit log
  std::string port_file;     // written once listening (tests)
  ApiOptions api;
};

class ConsoleServer {
 public:
  // Loads the tokens and the certificate, opens its own connection to the store at `db_url`
  // (so ingest never waits for a page: SQLite WAL readers do not block the writer), binds, and
  // serves on its own threads. Errors name the flag or file at fault.
  static Result<std::unique_ptr<ConsoleServer>> Start(const ConsoleOptions& options,
                                                       const std::string& db_url);
  ~ConsoleServer();  // stops accepting and joins every thread
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  int port() const;
  // Adds the console's counters (console_logins_ok, ...) to `out`.
  void AddCounters(CounterMap& out) const;

 private:
  struct Impl;
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace credsentry::collector::console
