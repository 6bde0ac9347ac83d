// The console's logged-in sessions and its guard against token guessing. Both tables are
// bounded: a flood of logins or of guessing clients costs a fixed amount of memory.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/counters.h"

namespace credsentry::collector::console {

// clang-format off
#define CREDSENTRY_CONSOLE_COUNTERS(X)                                                  \
  X(console_logins_ok, "logins with a valid token")                                    \
  X(console_logins_failed, "logins without a token or with a bad one")                 \
  X(console_logins_rate_limited, "logins refused because the client failed too often") \
  X(console_sessions_evicted, "sessions ended early because the table was full")       \
  X(console_requests_unauthenticated, "API requests without a valid session")          \
  X(console_requests_csrf_refused, "state-changing requests without the CSRF token")   \
  X(console_requests_too_large, "requests refused for a body over the limit")          \
  X(console_requests_malformed, "requests the HTTP library could not parse")           \
  X(console_store_errors, "API requests that failed in the store")
// clang-format on

struct ConsoleCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_CONSOLE_COUNTERS, ConsoleCounters)
};

struct Session {
  std::string name;  // the token's name
  std::string csrf;  // what state-changing requests carry in X-CSRF-Token
  int64_t expires_ns = 0;
};

class SessionTable {
 public:
  static constexpr size_t kMaxSessions = 1024;
  static constexpr int64_t kLifetimeNs = 8LL * 3600 * 1'000'000'000;

  struct Issued {
    std::string cookie;  // the session id the browser keeps
    Session session;
  };

  // A new session with fresh random ids. A full table drops the session closest to expiry
  // (counted in *evicted).
  Issued Create(const std::string& name, int64_t now_ns, uint64_t* evicted);
  std::optional<Session> Find(std::string_view cookie, int64_t now_ns);
  void Remove(std::string_view cookie);
  size_t size();

 private:
  void DropExpired(int64_t now_ns);
  std::mutex mu_;
  // Keyed by the digest of the cookie: the lookup's timing says nothing about a cookie.
  std::unordered_map<std::string, Session> sessions_;
};

// Failed logins per client address in a sliding window. Past kMaxFailures in kWindowNs a client
// is refused, valid token or not, until the window has passed. When the table is full, clients
// it has no room for share one entry, so a guesser with many addresses is still slowed.
class LoginLimiter {
 public:
  static constexpr size_t kMaxClients = 4096;
  static constexpr int kMaxFailures = 5;
  static constexpr int64_t kWindowNs = 60LL * 1'000'000'000;

  bool Allowed(const std::string& client, int64_t now_ns);
  void Failed(const std::string& client, int64_t now_ns);
  void Succeeded(const std::string& client);

 private:
  struct Failures {
    int count = 0;
    int64_t window_start_ns = 0;
  };
  Failures& EntryFor(const std::string& client, int64_t now_ns);
  std::mutex mu_;
  std::map<std::string, Failures> clients_;
  Failures overflow_;
};

// 32 random bytes, hex.
std::string RandomToken();

}  // namespace credsentry::collector::console
