// Where a tainted process may still connect in prevent mode (bpf/egress.bpf.c blocks the rest).
// The kernel sees addresses, the rules name hosts: every address a DNS answer gives for a name
// becomes reachable, until the answer's TTL is over, by processes whose credentials all expect
// that name (each credential file is one bit, credsentry_abi.h), and by every process when
// egress.allow names it. This class decides; the pipeline writes its updates into the kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalogue/rules.h"
#include "common/counters.h"

namespace credsentry::detect {

// clang-format off
#define CREDSENTRY_EGRESS_POLICY_COUNTERS(X)                                                  \
  X(block_addresses_allowed, "addresses a DNS answer made reachable for tainted processes")   \
  X(block_addresses_expired, "of those, let go when their TTL was over")                      \
  X(block_addresses_evicted, "of those, dropped early: the kernel's table was full")          \
  X(block_answers_unexpected, "DNS answers for names no credential expects (not allowed)")
// clang-format on

struct EgressPolicyCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_EGRESS_POLICY_COUNTERS, EgressPolicyCounters)
};

struct EgressPolicyOptions {
  size_t max_addresses = 16384;  // CS_MAX_EGRESS_IPS
  // Clients cache answers past a short TTL (the JVM 30 s, glibc's callers as long as they
  // like); a connect made from such a cache must still find its address. Kept at least this
  // long, at most max_ttl_s.
  uint32_t min_ttl_s = 30;
  uint32_t max_ttl_s = 3600;
};

// One write into the kernel's table: allow `ip` for `creds` until `expires_mono_ns`, or forget
// it (creds 0).
struct EgressUpdate {
  std::string ip;
  uint64_t creds = 0;
  uint64_t expires_mono_ns = 0;
};

class EgressPolicy {
 public:
  static constexpr uint64_t kAllCreds = ~0ull;  // CS_CREDS_ALL: egress.allow

  explicit EgressPolicy(EgressPolicyOptions options = {}) : options_(options) {}

  // The credential files (cred_id = index + 1) and their expected hosts, the egress.allow names
  // (host globs) for every process, and extra destinations that exempt blocks (prevent.allow
  // rules with a destination and no process). Addresses already allowed keep their grants until
  // they expire.
  void SetRules(const catalogue::RuleSet& rules, std::vector<std::string> allow_names);
  // Credential bits `name` is expected for; kAllCreds when egress.allow names it.
  uint64_t CredsFor(const std::string& name) const;

  // A DNS answer: `ip` for `name`, `ttl_s`. The updates to write, in order: the address evicted
  // to make room, if any (creds 0: forget it, or the kernel's table fills and refuses the rest),
  // then `ip`'s; none when no credential expects the name.
  std::vector<EgressUpdate> OnAnswer(const std::string& ip, const std::string& name,
                                     uint32_t ttl_s, uint64_t now_mono_ns);
  // Addresses whose grants are over (creds 0: forget) or narrower now. Call about once a second.
  std::vector<EgressUpdate> Expire(uint64_t now_mono_ns);

  size_t size() const { return addresses_.size(); }
  const EgressPolicyCounters& counters() const { return counters_; }

 private:
  struct Grant {
    std::string name;
    uint64_t creds = 0;
    uint64_t expires_mono_ns = 0;
  };
  struct Address {
    std::vector<Grant> grants;  // one per name answered with it (bounded: kMaxGrants)
  };
  static constexpr size_t kMaxGrants = 8;
  EgressUpdate Combined(const std::string& ip, const Address& a) const;

  EgressPolicyOptions options_;
  // For each credential file (index = cred_id - 1): the host globs it expects.
  std::vector<std::vector<std::string>> expected_;
  std::vector<std::string> allow_names_;
  std::unordered_map<std::string, Address> addresses_;
  EgressPolicyCounters counters_;
};

}  // namespace credsentry::detect
