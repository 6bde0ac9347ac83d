#include "loader/egress_table.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "credsentry_abi.h"
#include "loader/skeleton.h"

namespace credsentry::loader {
namespace {

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

cs_egress_cidr_key CidrKey(const EgressCidr& c) {
  cs_egress_cidr_key key{};
  key.prefixlen = c.prefix_len;
  std::memcpy(key.addr, c.addr.data(), sizeof key.addr);
  return key;
}

}  // namespace

bool ParseEgressAddress(const std::string& text, EgressAddress* out) {
  EgressAddress a{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    a[10] = a[11] = 0xff;
    std::memcpy(&a[12], &v4, 4);
  } else if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1) {
    return false;
  }
  *out = a;
  return true;
}

bool ParseEgressCidr(const std::string& text, EgressCidr* out) {
  const size_t slash = text.find('/');
  const std::string ip = text.substr(0, slash);
  EgressCidr c;
  if (!ParseEgressAddress(ip, &c.addr)) return false;
  const bool v4 = ip.find(':') == std::string::npos;
  const uint32_t max = v4 ? 32 : 128;
  uint32_t len = max;
  if (slash != std::string::npos) {
    const std::string digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    len = static_cast<uint32_t>(std::strtoul(digits.c_str(), nullptr, 10));
    if (len > max) return false;
  }
  c.prefix_len = v4 ? 96 + len : len;
  // Host bits cleared, so 10.1.2.3/8 means 10.0.0.0/8 (the trie compares prefixes only).
  for (uint32_t bit = c.prefix_len; bit < 128; ++bit) c.addr[bit / 8] &= ~(0x80u >> (bit % 8));
  *out = c;
  return true;
}

Status EgressTable::Allow(const EgressAddress& addr, uint64_t creds, uint64_t expires_mono_ns) {
  cs_egress_key key{};
  std::memcpy(key.addr, addr.data(), sizeof key.addr);
  cs_egress_allow value{creds, expires_mono_ns};
  if (bpf_map__update_elem(skel_.maps.cs_egress_ips, &key, sizeof key, &value, sizeof value,
                           BPF_ANY)) {
    return Error{"allowing an address: " + Errno(errno)};
  }
  return Status::Ok();
}

Status EgressTable::Forget(const EgressAddress& addr) {
  cs_egress_key key{};
  std::memcpy(key.addr, addr.data(), sizeof key.addr);
  if (bpf_map__delete_elem(skel_.maps.cs_egress_ips, &key, sizeof key, 0) && errno != ENOENT) {
    return Error{"forgetting an address: " + Errno(errno)};
  }
  return Status::Ok();
}

Status EgressTable::SetCidrs(const std::vector<EgressCidr>& cidrs) {
  if (cidrs.size() > CS_MAX_EGRESS_CIDRS) {
    return Error{"egress.allow: " + std::to_string(cidrs.size()) + " CIDRs, at most " +
                 std::to_string(CS_MAX_EGRESS_CIDRS)};
  }
  const uint32_t one = 1;
  // New ones first, then the old ones that are gone: a CIDR kept is never absent meanwhile.
  for (const auto& c : cidrs) {
    cs_egress_cidr_key key = CidrKey(c);
    if (bpf_map__update_elem(skel_.maps.cs_egress_cidrs, &key, sizeof key, &one, sizeof one,
                             BPF_ANY)) {
      return Error{"egress.allow CIDR: " + Errno(errno)};
    }
  }
  for (const auto& old : cidrs_) {
    bool kept = false;
    for (const auto& c : cidrs) kept |= c.prefix_len == old.prefix_len && c.addr == old.addr;
    if (kept) continue;
    cs_egress_cidr_key key = CidrKey(old);
    bpf_map__delete_elem(skel_.maps.cs_egress_cidrs, &key, sizeof key, 0);
  }
  cidrs_ = cidrs;
  return Status::Ok();
}

int EgressTable::map_fd_tainted() const { return bpf_map__fd(skel_.maps.cs_tainted); }

}  // namespace credsentry::loader
