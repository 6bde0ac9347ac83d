#include "detect/destination_resolver.h"

#include "catalogue/rules.h"

namespace credsentry::detect {
namespace {

// "example.com:8443" -> "example.com"; "[::1]:443" -> "[::1]".
std::string HostWithoutPort(const std::string& authority) {
  auto colon = authority.rfind(':');
  if (colon == std::string::npos || authority.find(']', colon) != std::string::npos) {
    return authority;
  }
  if (authority.front() != '[' && authority.find(':') != colon) return authority;  // bare IPv6
  return authority.substr(0, colon);
}

}  // namespace

ResolvedDestination DestinationResolver::Resolve(const stream::StreamKey& key,
                                                 const stream::StreamContext& ctx,
                                                 const stream::decoders::ConnectionFacts* facts) {
  using alert::NameSource;
  using alert::Transport;
  ResolvedDestination resolved;
  alert::Destination& d = resolved.where;
  int32_t fd = ctx.fd;
  std::string tls_sni;
  if (key.origin == stream::StreamOrigin::kTls) {
    d.transport = Transport::kTls;
    if (const auto* t = connections_.FindTls(ctx.pid, ctx.ssl)) {
      tls_sni = t->sni;
      if (fd < 0) fd = t->fd;
    }
    if (fd < 0 && !tls_sni.empty()) {
      // A memory-BIO TLS object (node): its socket is the one whose ClientHello gave this name.
      fd = connections_.SocketWithSni(ctx.pid, tls_sni);
      if (fd >= 0) connections_.OnTlsFd(ctx.pid, ctx.ssl, fd, ctx.last_mono_ns);
    }
  }
  if (ctx.explicit_destination) {
    d.ip = ctx.explicit_destination->ip;
    d.port = ctx.explicit_destination->port;
  }
  state::Connection* conn = fd >= 0 ? connections_.Find(ctx.pid, fd) : nullptr;
  if (fd >= 0) {
    if (const auto* c = conn) {
      if (d.ip.empty()) {
        d.ip = c->peer.ip;
        d.port = c->peer.port;
      }
      if (d.transport == Transport::kUnknown) {
        d.transport = c->udp ? Transport::kUdp : Transport::kTcp;
      }
      if (tls_sni.empty()) tls_sni = c->sni;
    }
  }
  if (d.ip.empty() && !ctx.dest.ip.empty()) {  // the connection is gone: use what was known
    d.ip = ctx.dest.ip;
    d.port = ctx.dest.port;
    if (d.transport == Transport::kUnknown) d.transport = ctx.dest.transport;
  }
  if (tls_sni.empty() && ctx.dest.name_source == NameSource::kSni) tls_sni = ctx.dest.host;
  if (d.transport == Transport::kUnknown) d.transport = Transport::kTcp;
  if (!tls_sni.empty()) {
    d.host = tls_sni;
    d.name_source = NameSource::kSni;
  } else if (std::string dns = DnsNameOf(d.ip, conn, ctx); !dns.empty()) {
    d.host = dns;
    d.name_source = NameSource::kDns;
  } else if (!d.ip.empty()) {
    d.name_source = NameSource::kIp;
  }
  if (d.unknown()) {
    resolved.unknown_why = fd < 0 ? "the TLS write could not be tied to a socket"
                           : "socket fd " + std::to_string(fd) + " has no connection the agent saw";
  }
  // What the request claims is evidence: a note when it disagrees or cannot be checked.
  if (facts) {
    for (const std::string* claim : {&facts->http_host, &facts->h2_authority}) {
      if (claim->empty()) continue;
      std::string host = HostWithoutPort(*claim);
      if (!d.host.empty() && !catalogue::HostMatchesGlob(host, d.host)) {
        resolved.notes.push_back("request claims host " + *claim +
                                 " but the connection goes to " + d.host);
      } else if (d.host.empty()) {
        resolved.notes.push_back("request claims host " + *claim + " (unverified: no SNI or DNS name)");
      }
    }
  }
  return resolved;
}

void DestinationResolver::Remember(const stream::StreamKey& key, stream::StreamContext& ctx) {
  if (!ctx.dest.ip.empty() && !ctx.dest.host.empty()) return;  // complete: nothing to learn
  const alert::Destination d = Resolve(key, ctx, nullptr).where;
  if (!d.host.empty()) {
    ctx.dest.host = d.host;
    ctx.dest.name_source = d.name_source;
  }
  if (!d.ip.empty()) {
    ctx.dest.ip = d.ip;
    ctx.dest.port = d.port;
    ctx.dest.transport = d.transport;
  }
}

uint16_t DestinationResolver::PeerPort(const stream::StreamContext& ctx) {
  if (ctx.explicit_destination) return ctx.explicit_destination->port;
  const auto* c = connections_.Find(ctx.pid, ctx.fd);
  return c ? c->peer.port : 0;
}

// The DNS name of a peer: the one the connection already has, else the cache's (within TTL),
// which the connection then keeps.
std::string DestinationResolver::DnsNameOf(const std::string& ip, state::Connection* conn,
                                           const stream::StreamContext& ctx) {
  if (conn && !conn->dns_name.empty()) return conn->dns_name;
  if (ctx.dest.name_source == alert::NameSource::kDns && (ip.empty() || ip == ctx.dest.ip)) {
    return ctx.dest.host;
  }
  if (ip.empty()) return "";
  auto name = dns_.NameOf(ip, ctx.last_mono_ns);
  if (!name) return "";
  if (conn) conn->dns_name = *name;
  return *name;
}

}  // namespace credsentry::detect
