#include "ingest/peer_identity.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <cctype>

namespace credsentry::collector {
namespace {

bool EqualNoCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
    return std::tolower(x) == std::tolower(y);
  });
}

std::vector<std::string> Property(const grpc::AuthContext& auth, const char* name) {
  std::vector<std::string> out;
  for (const auto& value : auth.FindPropertyValues(name))
    out.emplace_back(value.data(), value.size());
  return out;
}

}  // namespace

bool PeerIdentity::Names(std::string_view host) const {
  if (host.empty()) return false;
  if (!dns_names.empty()) {
    return std::any_of(dns_names.begin(), dns_names.end(),
                       [&](const std::string& name) { return EqualNoCase(name, host); });
  }
  return !common_name.empty() && EqualNoCase(common_name, host);
}

std::string PeerIdentity::Label() const {
  if (dns_names.empty()) return common_name.empty() ? "(no name)" : common_name;
  std::string out;
  for (const auto& name : dns_names) out += (out.empty() ? "" : ",") + name;
  return out;
}

PeerIdentity PeerIdentityOf(const grpc::ServerContextBase& ctx) {
  PeerIdentity peer;
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth) return peer;
  // Decided by the transport, not by whether the certificate carried a name: a verified
  // certificate that names nothing must be refused, not waved through as plaintext.
  auto transport = Property(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (transport.empty() || transport[0] != GRPC_SSL_TRANSPORT_SECURITY_TYPE) return peer;
  peer.has_certificate = true;
  // peer_dns holds only the DNS subjectAltNames; x509_subject_alternative_name mixes in IP,
  // URI and e-mail names, which are not host names.
  peer.dns_names = Property(*auth, GRPC_PEER_DNS_PROPERTY_NAME);
  auto cn = Property(*auth, GRPC_X509_CN_PROPERTY_NAME);
  if (!cn.empty()) peer.common_name = cn[0];
  return peer;
}

std::string IdentityRefusal(const PeerIdentity& peer, std::string_view host) {
  return "certificate for '" + peer.Label() + "' cannot send for host '" + std::string(host) + "'";
}

}  // namespace credsentry::collector
