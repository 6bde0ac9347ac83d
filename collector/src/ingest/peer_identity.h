// Which hosts an agent's client certificate may speak for. With mTLS every call carries the
// certificate the TLS handshake verified; its DNS subjectAltNames (else its subject CN) must
// name the host a heartbeat, an inventory or an alert claims, so one stolen agent certificate
// cannot write another host's alerts, silence its heartbeat alarm or rewrite its inventory.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>
#include <vector>

namespace credsentry::collector {

struct PeerIdentity {
  // false on a plaintext (--insecure) server: there is no certificate, so nothing is checked.
  bool has_certificate = false;
  std::vector<std::string> dns_names;  // DNS subjectAltNames, as in the certificate
  std::string common_name;

  // Case-insensitive, as DNS names are. As RFC 6125 asks of TLS clients, the CN counts only
  // when the certificate has no DNS subjectAltName. A certificate without either names nothing.
  bool Names(std::string_view host) const;
  // For logs and fleet alerts: the DNS names joined by ',', else the CN, else "(no name)".
  std::string Label() const;
};

// Reads the verified peer certificate's names from the call's AuthContext.
PeerIdentity PeerIdentityOf(const grpc::ServerContextBase& ctx);

// The PERMISSION_DENIED message for a refused claim: "certificate for 'X' cannot send for host
// 'Y'".
std::string IdentityRefusal(const PeerIdentity& peer, std::string_view host);

}  // namespace credsentry::collector
