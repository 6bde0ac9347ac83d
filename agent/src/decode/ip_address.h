// The one way an IP address becomes text. Alerts (JSON and protobuf), the DNS cache's keys, the
// connection table and expected-destination addresses all compare these strings, so an address
// must read the same wherever it came from: a connect record, a socket's peer, /proc/net/tcp6
// or a DNS answer.
//
// Canonical form:
//   IPv4                      dotted quad                  "127.0.0.1"
//   IPv6                      RFC 5952 (lower case, the    "::1", "fd00:c5::1"
//                             longest zero run as "::")
//   IPv4-mapped IPv6          the IPv4 dotted quad         "::ffff:127.0.0.1" -> "127.0.0.1"
//
// A dual-stack socket (AF_INET6 talking to ::ffff:a.b.c.d, as Python and node open by default)
// reaches an IPv4 host; writing it as the dotted quad lets its DNS A answer name it and an
// IPv4 address in an allow-list match it. Link-local zones (fe80::1%eth0) are not carried by
// the kernel records, so a link-local address reads without its zone.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "decode/events.h"

namespace credsentry::decode {

// `bytes` in network order: 4 of them for AF_INET, 16 for AF_INET6. Empty text for any other
// family or too few bytes.
std::string IpText(uint16_t family, std::span<const uint8_t> bytes);

// An address with its port as the kernel gave it (addr: network order, IPv4 in the first 4
// bytes). A v4-mapped IPv6 peer comes back as AF_INET, its text the dotted quad.
SocketAddress MakeSocketAddress(uint16_t family, uint16_t port, std::span<const uint8_t> addr);

// The canonical text of an address a person or a protocol wrote ("2001:DB8::1",
// "[::1]", "::ffff:10.0.0.1"); empty when `text` is not an IP address.
std::string CanonicalIp(std::string_view text);

}  // namespace credsentry::decode
