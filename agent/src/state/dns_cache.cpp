#include "state/dns_cache.h"

#include <algorithm>

namespace credsentry::state {

DnsCache::DnsCache(DnsCacheOptions options) : options_(options) {
  options_.max_entries = std::max<size_t>(options_.max_entries, 1);
  options_.max_ttl_s = std::max(options_.max_ttl_s, options_.min_ttl_s);
}

void DnsCache::Add(const std::string& ip, const std::string& name, uint32_t ttl_s,
                   uint64_t now_mono_ns) {
  if (ip.empty() || name.empty()) return;
  const uint32_t ttl = std::clamp(ttl_s, options_.min_ttl_s, options_.max_ttl_s);
  const uint64_t expires = now_mono_ns + uint64_t{ttl} * 1000000000ull;
  if (auto it = index_.find(ip); it != index_.end()) {
    it->second->name = name;
    it->second->expires_mono_ns = expires;
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  if (index_.size() >= options_.max_entries) {
    index_.erase(order_.back().ip);
    order_.pop_back();
    ++evicted_;
  }
  order_.push_front({ip, name, expires});
  index_[ip] = order_.begin();
}

std::optional<std::string> DnsCache::Lookup(const std::string& ip, uint64_t now_mono_ns) {
  auto it = index_.find(ip);
  if (it == index_.end()) return std::nullopt;
  if (it->second->expires_mono_ns < now_mono_ns) {
    order_.erase(it->second);
    index_.erase(it);
    ++expired_;
    return std::nullopt;
  }
  order_.splice(order_.begin(), order_, it->second);
  return it->second->name;
}

}  // namespace credsentry::state
