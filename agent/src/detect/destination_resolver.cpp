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
  ResolvedDestination resolved = ResolvePeer(key, ctx, nullptr);
  if (ctx.tunnel) ThroughTunnel(*ctx.tunnel, ctx, resolved);
  alert::Destination& d = resolved.where;
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

// A tunnel's bytes go where the client asked the proxy to take them; the socket's own peer is
// the proxy, named as the path. The TLS name, when there is one, still wins over the target
// the handshake named: it is what the far end's certificate must answer to.
void DestinationResolver::ThroughTunnel(const stream::decoders::TunnelTarget& t,
                                        const stream::StreamContext& ctx,
                                        ResolvedDestination& resolved) {
  using alert::NameSource;
  alert::Destination& d = resolved.where;
  alert::ProxyHop via{.kind = t.kind,
                      .host = d.name_source == NameSource::kDns ? d.host : "",
                      .ip = d.ip,
                      .port = d.port};
  const std::string sni = d.name_source == NameSource::kSni ? d.host : "";
  d.via = std::move(via);
  d.port = t.port;
  d.ip = t.host_is_address ? t.host : "";
  resolved.unknown_why.clear();
  if (!sni.empty()) {
    d.host = sni;
    d.name_source = NameSource::kSni;
    if (!t.host_is_address && !catalogue::HostMatchesGlob(t.host, sni)) {
      resolved.notes.push_back("the proxy was asked for " + t.host + " but TLS names " + sni);
    }
  } else if (!t.host_is_address) {
    d.host = t.host;
    d.name_source = NameSource::kTunnel;
  } else if (auto name = dns_.NameOf(t.host, ctx.last_mono_ns)) {
    d.host = *name;  // the client resolved the name itself and gave the proxy the address
    d.name_source = NameSource::kDns;
  } else {
    d.host.clear();
    d.name_source = NameSource::kIp;
  }
}

ResolvedDestination DestinationResolver::ResolvePeer(const stream::StreamKey& key,
                                                     const stream::StreamContext& ctx,
                                                     int32_t* fd_out) {
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
  if (fd_out) *fd_out = fd;
  return resolved;
}

void DestinationResolver::Remember(const stream::StreamKey& key, stream::StreamContext& ctx) {
  if (!ctx.dest.ip.empty() && !ctx.dest.host.empty()) return;  // complete: nothing to learn
  // The peer, not the tunnel's target: the target is applied afresh from ctx.tunnel each time.
  int32_t fd = -1;
  const alert::Destination d = ResolvePeer(key, ctx, &fd).where;
  // TLS plaintext whose write named no socket (a tunnelled socket is not marked TLS by the
  // kernel) keeps the one found for it, so the socket's proxy handshake can be found too.
  if (key.origin == stream::StreamOrigin::kTls && ctx.fd < 0 && fd >= 0) ctx.fd = fd;
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
