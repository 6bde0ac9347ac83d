#include "detect/egress_policy.h"

#include <algorithm>

namespace credsentry::detect {
namespace {

uint64_t CredBit(size_t cred_id) { return cred_id >= 1 && cred_id <= 63 ? 1ull << (cred_id - 1) : 0; }

bool AnyGlob(const std::vector<std::string>& globs, const std::string& name) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return catalogue::HostMatchesGlob(name, g); });
}

}  // namespace

void EgressPolicy::SetRules(const catalogue::RuleSet& rules, std::vector<std::string> allow_names) {
  expected_.clear();
  for (const auto& file : rules.files) expected_.push_back(rules.ExpectedDestinations(file));
  allow_names_ = std::move(allow_names);
}

uint64_t EgressPolicy::CredsFor(const std::string& name) const {
  if (AnyGlob(allow_names_, name)) return kAllCreds;
  uint64_t creds = 0;
  // Files past the 63rd share CS_CRED_BIT_OTHER, which no answer allows (credsentry_abi.h).
  for (size_t i = 0; i < expected_.size() && i < 63; ++i) {
    if (AnyGlob(expected_[i], name)) creds |= CredBit(i + 1);
  }
  return creds;
}

EgressUpdate EgressPolicy::Combined(const std::string& ip, const Address& a) const {
  EgressUpdate u{ip, 0, 0};
  for (const auto& g : a.grants) {
    u.creds |= g.creds;
    u.expires_mono_ns = std::max(u.expires_mono_ns, g.expires_mono_ns);
  }
  return u;
}

std::vector<EgressUpdate> EgressPolicy::OnAnswer(const std::string& ip, const std::string& name,
                                                 uint32_t ttl_s, uint64_t now_mono_ns) {
  std::vector<EgressUpdate> out;
  const uint64_t creds = CredsFor(name);
  if (creds == 0) {
    ++counters_.block_answers_unexpected;
    return out;
  }
  const uint64_t ttl = std::clamp(ttl_s, options_.min_ttl_s, options_.max_ttl_s);
  const uint64_t expires = now_mono_ns + ttl * 1'000'000'000ull;
  auto it = addresses_.find(ip);
  if (it == addresses_.end()) {
    if (addresses_.size() >= options_.max_addresses) {
      // The grant that ends soonest goes: the kernel's table is bounded.
      auto soonest = std::min_element(addresses_.begin(), addresses_.end(), [&](auto& x, auto& y) {
        return Combined(x.first, x.second).expires_mono_ns <
               Combined(y.first, y.second).expires_mono_ns;
      });
      out.push_back({soonest->first, 0, 0});
      addresses_.erase(soonest);
      ++counters_.block_addresses_evicted;
    }
    it = addresses_.emplace(ip, Address{}).first;
    ++counters_.block_addresses_allowed;
  }
  auto& grants = it->second.grants;
  auto same = std::find_if(grants.begin(), grants.end(), [&](auto& g) { return g.name == name; });
  if (same != grants.end()) {
    same->creds = creds;
    same->expires_mono_ns = std::max(same->expires_mono_ns, expires);
  } else {
    if (grants.size() >= kMaxGrants) {
      grants.erase(std::min_element(grants.begin(), grants.end(), [](auto& x, auto& y) {
        return x.expires_mono_ns < y.expires_mono_ns;
      }));
    }
    grants.push_back({name, creds, expires});
  }
  out.push_back(Combined(ip, it->second));
  return out;
}

std::vector<EgressUpdate> EgressPolicy::Expire(uint64_t now_mono_ns) {
  std::vector<EgressUpdate> out;
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    auto& grants = it->second.grants;
    const size_t before = grants.size();
    std::erase_if(grants, [&](const Grant& g) { return g.expires_mono_ns <= now_mono_ns; });
    if (grants.empty()) {
      out.push_back({it->first, 0, 0});
      ++counters_.block_addresses_expired;
      it = addresses_.erase(it);
      continue;
    }
    if (grants.size() != before) out.push_back(Combined(it->first, it->second));
    ++it;
  }
  return out;
}

}  // namespace credsentry::detect
