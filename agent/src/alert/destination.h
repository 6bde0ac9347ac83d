// Where a stream's bytes go, in one shape for every stage that needs it: the resolver's answer,
// the destination a stream remembers after its connection is gone, and the alert's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace credsentry::alert {

// How the destination's name was learned. kNone: no name and no address.
enum class NameSource : uint8_t { kNone, kSni, kDns, kIp };

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

  bool unknown() const { return host.empty() && ip.empty(); }
};

}  // namespace credsentry::alert
