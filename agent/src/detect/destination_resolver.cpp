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

Destination DestinationResolver::Resolve(const stream::StreamKey& key,
                                         const stream::StreamContext& ctx,
                                         const stream::decoders::ConnectionFacts* facts) {
  Destination d;
  int32_t fd = ctx.fd;
  std::string tls_sni;
  if (key.origin == stream::StreamOrigin::kTls) {
    d.transport = "tls";
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
      if (d.transport.empty()) d.transport = c->udp ? "udp" : "tcp";
      if (tls_sni.empty()) tls_sni = c->sni;
    }
  }
  if (d.ip.empty() && !ctx.dest_ip.empty()) {  // the connection is gone: use what was known
    d.ip = ctx.dest_ip;
    d.port = ctx.dest_port;
    if (d.transport.empty()) d.transport = ctx.dest_transport;
  }
  if (tls_sni.empty() && ctx.dest_name_source == "sni") tls_sni = ctx.dest_host;
  if (d.transport.empty()) d.transport = "tcp";
  if (!tls_sni.empty()) {
    d.host = tls_sni;
    d.name_source = "sni";
  } else if (std::string dns = DnsNameOf(d.ip, conn, ctx); !dns.empty()) {
    d.host = dns;
    d.name_source = "dns";
  } else if (!d.ip.empty()) {
    d.name_source = "ip";
  }
  if (d.unknown()) {
    d.unknown_why = fd < 0 ? "the TLS write could not be tied to a socket"
                           : "socket fd " + std::to_string(fd) + " has no connection the agent saw";
  }
  // What the request claims is evidence: a note when it disagrees or cannot be checked.
  if (facts) {
    for (const std::string* claim : {&facts->http_host, &facts->h2_authority}) {
      if (claim->empty()) continue;
      std::string host = HostWithoutPort(*claim);
      if (!d.host.empty() && !catalogue::HostMatchesGlob(host, d.host)) {
        d.notes.push_back("request claims host " + *claim + " but the connection goes to " + d.host);
      } else if (d.host.empty()) {
        d.notes.push_back("request claims host " + *claim + " (unverified: no SNI or DNS name)");
      }
    }
  }
  return d;
}

void DestinationResolver::Remember(const stream::StreamKey& key, stream::StreamContext& ctx) {
  if (!ctx.dest_ip.empty() && !ctx.dest_host.empty()) return;  // complete: nothing to learn
  Destination d = Resolve(key, ctx, nullptr);
  if (!d.host.empty()) {
    ctx.dest_host = d.host;
    ctx.dest_name_source = d.name_source;
  }
  if (!d.ip.empty()) {
    ctx.dest_ip = d.ip;
    ctx.dest_port = d.port;
    ctx.dest_transport = d.transport;
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
  if (ctx.dest_name_source == "dns" && (ip.empty() || ip == ctx.dest_ip)) return ctx.dest_host;
  if (ip.empty()) return "";
  auto name = dns_.NameOf(ip, ctx.last_mono_ns);
  if (!name) return "";
  if (conn) conn->dns_name = *name;
  return *name;
}

}  // namespace credsentry::detect
