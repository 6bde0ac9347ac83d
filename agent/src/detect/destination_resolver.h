// Where a stream's bytes really go: the TLS SNI, then the DNS name the peer's address was
// resolved from, then the address. Through an HTTP CONNECT or SOCKS5 tunnel the peer is the
// proxy (named in `via`) and the target the client asked for takes its place, SNI first. What the request claims (Host, :authority) is evidence, never
// the destination: it can lie.
#pragma once

#include <cstdint>

#include "detect/dns_tracker.h"
#include "detect/verdict.h"
#include "state/connection_table.h"
#include "stream/decoders/decoded_chunk.h"
#include "stream/stream_table.h"

namespace credsentry::detect {

class DestinationResolver {
 public:
  DestinationResolver(state::ConnectionTable& connections, DnsTracker& dns)
      : connections_(connections), dns_(dns) {}

  // The destination of `key`'s stream as far as it is known now; `facts` (may be null) adds the
  // request's claims as notes. A memory-BIO TLS object (node) is tied here to the socket whose
  // ClientHello named the same host, and a connection keeps the DNS name found for it.
  ResolvedDestination Resolve(const stream::StreamKey& key, const stream::StreamContext& ctx,
                              const stream::decoders::ConnectionFacts* facts);
  // Copies into `ctx` what is known of its destination, so that a match flushed after the
  // connection is gone still names it.
  void Remember(const stream::StreamKey& key, stream::StreamContext& ctx);
  // The peer port of the stream's socket (0 when unknown).
  uint16_t PeerPort(const stream::StreamContext& ctx);
  // Enough is known to judge: a name for TLS (SNI or DNS), an address for plain sockets. A TLS
  // connection is named by its SNI, which comes after the connect: an address alone would judge
  // a key sent to api.openai.com against 127.0.0.1.
  static bool Settled(const stream::StreamKey& key, const alert::Destination& d) {
    return key.origin == stream::StreamOrigin::kTls ? !d.host.empty() : !d.unknown();
  }

 private:
  // The socket's own peer (for a tunnel, the proxy); `fd_out` gets the socket found, or -1.
  ResolvedDestination ResolvePeer(const stream::StreamKey& key, const stream::StreamContext& ctx,
                                  int32_t* fd_out);
  void ThroughTunnel(const stream::decoders::TunnelTarget& t, const stream::StreamContext& ctx,
                     ResolvedDestination& resolved);
  std::string DnsNameOf(const std::string& ip, state::Connection* conn,
                        const stream::StreamContext& ctx);

  state::ConnectionTable& connections_;
  DnsTracker& dns_;
};

}  // namespace credsentry::detect
