// Where a stream's bytes go, in one shape for every stage that needs it: the resolver's answer,
// the destination a stream remembers after its connection is gone, and the alert's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace credsentry::alert {

// How the destination's name was learned. kNone: no name and no address. kTunnel: the name the
// client asked a proxy to connect to (HTTP CONNECT authority, SOCKS5 host). kDnsTunnel: the
// parent domain DNS queries carried data under (the zone whose server reads them).
enum class NameSource : uint8_t { kNone, kSni, kDns, kIp, kTunnel, kDnsTunnel };

// The kind of proxy a tunnelled connection went through. kDnsResolver: the DNS server a tunnel's
// queries were sent to, which passes them on to the parent domain's server.
enum class ProxyKind : uint8_t { kHttpConnect, kSocks5, kDnsResolver };

// The proxy as the path the bytes took: the socket's own peer, while the Destination's host,
// ip and port name the tunnel's target.
struct ProxyHop {
  ProxyKind kind = ProxyKind::kHttpConnect;
  std::string host;  // the proxy's DNS name when one is known, else empty
  std::string ip;
  uint16_t port = 0;
};

// kUnknown only on alerts that have no destination (a process opening another's environment).
enum class Transport : uint8_t { kUnknown, kTcp, kUdp, kTls };

struct Destination {
  std::string host;  // best name: SNI, then DNS name of the IP, else empty
  std::string ip;    // canonical text; empty when unknown
  uint16_t port = 0;
  Transport transport = Transport::kUnknown;
  NameSource name_source = NameSource::kNone;
  // On an alert: where the credential it carries may go; empty = it never leaves the host.
  std::vector<std::string> expected;
  // Set when the connection is a tunnel through a proxy (HTTP CONNECT, SOCKS5).
  std::optional<ProxyHop> via;

  bool unknown() const { return host.empty() && ip.empty(); }
};

}  // namespace credsentry::alert
