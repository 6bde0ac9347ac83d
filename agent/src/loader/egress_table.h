// Prevent mode's connect block, user-space side (bpf/egress.bpf.c): the addresses a tainted
// process may still reach, learned from DNS answers with their TTLs, and the egress.allow CIDRs.
// The kernel taints processes by itself; this writes only where they may go.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace credsentry::loader {

namespace gen {
struct credsentry;  // the libbpf skeleton (skeleton.h)
}

// 16 bytes, IPv4 as ::ffff:a.b.c.d (the kernel's cs_egress_key).
using EgressAddress = std::array<uint8_t, 16>;

struct EgressCidr {
  EgressAddress addr{};
  uint32_t prefix_len = 128;  // of the 128-bit form (an IPv4 /24 is 120)
};

// Parses "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" (a /32) or "::1"; false when it is not one.
bool ParseEgressCidr(const std::string& text, EgressCidr* out);
// A textual IPv4 or IPv6 address in the kernel's 16-byte form.
bool ParseEgressAddress(const std::string& text, EgressAddress* out);

class EgressTable {
 public:
  explicit EgressTable(gen::credsentry& skel) : skel_(skel) {}

  // `addr` may be reached by processes whose credentials are all in `creds` until
  // `expires_mono_ns` (CLOCK_MONOTONIC). Errors carry errno text (E2BIG: the table is full).
  Status Allow(const EgressAddress& addr, uint64_t creds, uint64_t expires_mono_ns);
  Status Forget(const EgressAddress& addr);
  // Replaces the egress.allow CIDRs.
  Status SetCidrs(const std::vector<EgressCidr>& cidrs);
  // Which programs were attached to how many cgroups (for --check-like logs and counters).
  int map_fd_tainted() const;

 private:
  gen::credsentry& skel_;
  std::vector<EgressCidr> cidrs_;  // in the kernel now
};

}  // namespace credsentry::loader
