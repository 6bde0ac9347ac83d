// Which name a peer address was resolved from: DNS answers received by in-scope processes map
// each A/AAAA address to the name that was asked for, for the answer's TTL. Destination
// identity uses it after SNI and before the bare IP.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

namespace credsentry::state {

struct DnsCacheOptions {
  size_t max_entries = 16384;
  // A TTL of 0 or a few seconds still names the connection the client opens right after the
  // answer, and the agent may handle the answer a moment after the connect; a day-long TTL
  // should not keep a name for an address that has long been reassigned.
  uint32_t min_ttl_s = 60;
  uint32_t max_ttl_s = 3600;
};

class DnsCache {
 public:
  explicit DnsCache(DnsCacheOptions options = {});

  // `ip` (textual, as decode::SocketAddress writes it) was an answer for `name`, received at
  // `now_mono_ns` with `ttl_s`. A newer answer for the same address replaces the older name.
  void Add(const std::string& ip, const std::string& name, uint32_t ttl_s, uint64_t now_mono_ns);
  // The name `ip` was resolved from, if an answer for it is still within its (clamped) TTL.
  std::optional<std::string> Lookup(const std::string& ip, uint64_t now_mono_ns);

  size_t size() const { return index_.size(); }
  uint64_t evicted() const { return evicted_; }  // dropped to stay within max_entries
  uint64_t expired() const { return expired_; }  // found past their TTL

 private:
  struct Entry {
    std::string ip;
    std::string name;
    uint64_t expires_mono_ns = 0;
  };
  using Order = std::list<Entry>;  // most recently used first

  DnsCacheOptions options_;
  Order order_;
  std::unordered_map<std::string, Order::iterator> index_;
  uint64_t evicted_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace credsentry::state
