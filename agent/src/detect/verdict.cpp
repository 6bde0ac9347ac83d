#include "detect/verdict.h"

#include "decode/ip_address.h"

namespace credsentry::detect {

Verdict Judge(const catalogue::CredentialKind& kind, const alert::Destination& dest,
              const std::string& unknown_why) {
  const std::string where = !dest.host.empty() ? dest.host : (!dest.ip.empty() ? dest.ip : "an unknown peer");
  if (kind.never_sent) {
    return {true, false,
            kind.name + " sent to " + where + "; this credential never legitimately leaves the host"};
  }
  if (dest.unknown()) {
    std::string why = unknown_why.empty() ? "no connection was seen" : unknown_why;
    return {true, true,
            kind.name + " sent to a destination the agent could not determine (" + why + ")"};
  }
  for (const auto& glob : kind.destinations) {
    if (!dest.host.empty() && catalogue::HostMatchesGlob(dest.host, glob)) return {false, false, ""};
    // An allow-list entry may be an address (a gateway reached by IP), written in any of its
    // textual forms; dest.ip is already canonical.
    if (dest.host.empty() && !dest.ip.empty() && dest.ip == decode::CanonicalIp(glob)) {
      return {false, false, ""};
    }
  }
  return {true, false, kind.name + " sent to " + where + ", which is not an expected destination"};
}

bool Deduplicator::FirstTime(const std::string& key, uint64_t now_ns) {
  while (!order_.empty() && (order_.front().second + window_ns_ < now_ns || order_.size() > max_keys_)) {
    index_.erase(order_.front().first);
    order_.pop_front();
  }
  if (index_.count(key)) {
    ++suppressed_;
    return false;
  }
  order_.emplace_back(key, now_ns);
  index_[key] = std::prev(order_.end());
  if (order_.size() > max_keys_) {
    index_.erase(order_.front().first);
    order_.pop_front();
  }
  return true;
}

}  // namespace credsentry::detect
