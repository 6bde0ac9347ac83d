#include "console/console_sessions.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "console/console_tokens.h"

namespace credsentry::collector::console {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

std::string Key(std::string_view cookie) {
  TokenDigest d = DigestOf(cookie);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

std::string RandomToken() {
  uint8_t raw[32];
  // A session id that could be guessed is worse than no console: stop rather than go on.
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  return Hex(raw, sizeof raw);
}

SessionTable::Issued SessionTable::Create(const std::string& name, int64_t now_ns,
                                          uint64_t* evicted) {
  Issued issued{RandomToken(), Session{name, RandomToken(), now_ns + kLifetimeNs}};
  std::lock_guard lock(mu_);
  if (sessions_.size() >= kMaxSessions) DropExpired(now_ns);
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires_ns < b.second.expires_ns;
    });
    sessions_.erase(oldest);
    ++*evicted;
  }
  sessions_[Key(issued.cookie)] = issued.session;
  return issued;
}

std::optional<Session> SessionTable::Find(std::string_view cookie, int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(Key(cookie));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_ns <= now_ns) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionTable::Remove(std::string_view cookie) {
  std::lock_guard lock(mu_);
  sessions_.erase(Key(cookie));
}

size_t SessionTable::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void SessionTable::DropExpired(int64_t now_ns) {
  std::erase_if(sessions_, [&](const auto& s) { return s.second.expires_ns <= now_ns; });
}

LoginLimiter::Failures& LoginLimiter::EntryFor(const std::string& client, int64_t now_ns) {
  if (auto it = clients_.find(client); it != clients_.end()) return it->second;
  if (clients_.size() >= kMaxClients) {
    std::erase_if(clients_,
                  [&](const auto& c) { return now_ns - c.second.window_start_ns >= kWindowNs; });
  }
  if (clients_.size() >= kMaxClients) return overflow_;
  return clients_[client];
}

bool LoginLimiter::Allowed(const std::string& client, int64_t now_ns) {
  std::lock_guard lock(mu_);
  Failures& f = EntryFor(client, now_ns);
  if (now_ns - f.window_start_ns >= kWindowNs) f = Failures{0, now_ns};
  return f.count < kMaxFailures;
}

void LoginLimiter::Failed(const std::string& client, int64_t now_ns) {
  std::lock_guard lock(mu_);
  Failures& f = EntryFor(client, now_ns);
  if (now_ns - f.window_start_ns >= kWindowNs) f = Failures{0, now_ns};
  ++f.count;
}

void LoginLimiter::Succeeded(const std::string& client) {
  std::lock_guard lock(mu_);
  clients_.erase(client);
}

}  // namespace credsentry::collector::console
