// The destination of a stream from typed state alone: connections, TLS objects, DNS answers.
#include "detect/destination_resolver.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "../stream/decoders/dns_message_builder.h"

namespace credsentry::detect {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class DestinationResolverTest : public ::testing::Test {
 protected:
  void Connect(uint32_t pid, int32_t fd, const std::string& ip, uint16_t port) {
    decode::Connect c;
    c.header.pid = pid;
    c.header.ts_ns = now_;
    c.fd = fd;
    c.sock_type = SOCK_STREAM;
    c.peer = {static_cast<uint16_t>(ip.find(':') == std::string::npos ? AF_INET : AF_INET6), port,
              ip};
    connections_.OnConnect(c);
  }
  stream::StreamContext Ctx(uint32_t pid, int32_t fd, uint64_t ssl = 0) {
    stream::StreamContext ctx;
    ctx.pid = pid;
    ctx.fd = fd;
    ctx.ssl = ssl;
    ctx.last_mono_ns = now_;
    return ctx;
  }

  uint64_t now_ = 100 * kSecond;
  state::ConnectionTable connections_;
  DnsTracker dns_;
  DestinationResolver resolver_{connections_, dns_};
};

TEST_F(DestinationResolverTest, TlsIsNamedBySniNotByTheHostItClaims) {
  Connect(10, 5, "127.0.0.1", 8443);
  connections_.OnTlsSni(10, 0xa, "exfil.test", now_);
  connections_.OnTlsFd(10, 0xa, 5, now_);
  stream::decoders::ConnectionFacts facts;
  facts.http_host = "api.openai.com";
  const stream::StreamKey key{10, stream::StreamOrigin::kTls, 0xa};
  ResolvedDestination r = resolver_.Resolve(key, Ctx(10, -1, 0xa), &facts);
  EXPECT_EQ(r.where.host, "exfil.test");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kSni);
  EXPECT_EQ(r.where.ip, "127.0.0.1");
  EXPECT_EQ(r.where.port, 8443);
  EXPECT_EQ(r.where.transport, alert::Transport::kTls);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("claims host api.openai.com"), std::string::npos) << r.notes[0];
  EXPECT_TRUE(DestinationResolver::Settled(key, r.where));
}

TEST_F(DestinationResolverTest, AnAddressAloneDoesNotSettleATlsDestination) {
  Connect(11, 5, "127.0.0.1", 443);
  const stream::StreamKey key{11, stream::StreamOrigin::kTls, 0xb};
  ResolvedDestination r = resolver_.Resolve(key, Ctx(11, 5, 0xb), nullptr);
  EXPECT_EQ(r.where.ip, "127.0.0.1");
  EXPECT_TRUE(r.where.host.empty());
  EXPECT_FALSE(DestinationResolver::Settled(key, r.where));
  const stream::StreamKey plain{11, stream::StreamOrigin::kSocket, 5};
  EXPECT_TRUE(DestinationResolver::Settled(plain, resolver_.Resolve(plain, Ctx(11, 5), nullptr).where));
}

TEST_F(DestinationResolverTest, UnknownDestinationSaysWhy) {
  const stream::StreamKey tls{12, stream::StreamOrigin::kTls, 0xc};
  ResolvedDestination r = resolver_.Resolve(tls, Ctx(12, -1, 0xc), nullptr);
  EXPECT_TRUE(r.where.unknown());
  EXPECT_EQ(r.unknown_why, "the TLS write could not be tied to a socket");
  const stream::StreamKey sock{12, stream::StreamOrigin::kSocket, 7};
  r = resolver_.Resolve(sock, Ctx(12, 7), nullptr);
  EXPECT_EQ(r.unknown_why, "socket fd 7 has no connection the agent saw");
}

TEST_F(DestinationResolverTest, PlainPeerIsNamedByTheDnsAnswerItCameFromWithinItsTtl) {
  const std::string answer = testing_dns::Answer("exfil-dns.test", "127.0.0.9", 30);
  dns_.OnReceived(13, 3, false, false, Bytes(answer), now_);
  Connect(13, 4, "127.0.0.9", 80);
  const stream::StreamKey key{13, stream::StreamOrigin::kSocket, 4};
  ResolvedDestination r = resolver_.Resolve(key, Ctx(13, 4), nullptr);
  EXPECT_EQ(r.where.host, "exfil-dns.test");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kDns);
  EXPECT_EQ(resolver_.PeerPort(Ctx(13, 4)), 80);
  now_ += 2 * 3600 * kSecond;  // past any clamped TTL: a new connection gets the bare address
  Connect(13, 6, "127.0.0.9", 80);
  r = resolver_.Resolve({13, stream::StreamOrigin::kSocket, 6}, Ctx(13, 6), nullptr);
  EXPECT_EQ(r.where.host, "");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kIp);
}

TEST_F(DestinationResolverTest, RememberedDestinationOutlivesTheConnection) {
  Connect(14, 5, "127.0.0.5", 8080);
  const stream::StreamKey key{14, stream::StreamOrigin::kSocket, 5};
  stream::StreamContext ctx = Ctx(14, 5);
  resolver_.Remember(key, ctx);
  connections_.OnClose(14, 5);
  ResolvedDestination r = resolver_.Resolve(key, ctx, nullptr);
  EXPECT_EQ(r.where.ip, "127.0.0.5");
  EXPECT_EQ(r.where.port, 8080);
}

stream::decoders::TunnelTarget Target(alert::ProxyKind kind, const std::string& host,
                                      uint16_t port, bool address = false) {
  return {.kind = kind, .host = host, .port = port, .host_is_address = address};
}

TEST_F(DestinationResolverTest, ATunnelGoesToItsTargetThroughTheProxy) {
  Connect(20, 5, "127.0.0.1", 3128);
  const stream::StreamKey key{20, stream::StreamOrigin::kSocket, 5};
  stream::StreamContext ctx = Ctx(20, 5);
  ctx.tunnel = Target(alert::ProxyKind::kHttpConnect, "exfil.test", 80);
  stream::decoders::ConnectionFacts facts;
  facts.http_host = "exfil.test";
  ResolvedDestination r = resolver_.Resolve(key, ctx, &facts);
  EXPECT_EQ(r.where.host, "exfil.test");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kTunnel);
  EXPECT_EQ(r.where.ip, "");  // the proxy resolves the name: no address is known for it
  EXPECT_EQ(r.where.port, 80);
  ASSERT_TRUE(r.where.via.has_value());
  EXPECT_EQ(r.where.via->kind, alert::ProxyKind::kHttpConnect);
  EXPECT_EQ(r.where.via->ip, "127.0.0.1");
  EXPECT_EQ(r.where.via->port, 3128);
  EXPECT_TRUE(r.notes.empty()) << r.notes[0];  // the Host header agrees with the target
  EXPECT_TRUE(DestinationResolver::Settled(key, r.where));
  // Without a tunnel the same socket is the proxy itself, and nothing says "via".
  ResolvedDestination direct = resolver_.Resolve(key, Ctx(20, 5), nullptr);
  EXPECT_EQ(direct.where.ip, "127.0.0.1");
  EXPECT_FALSE(direct.where.via.has_value());
}

TEST_F(DestinationResolverTest, TheSniInsideATunnelWinsOverItsTarget) {
  Connect(21, 6, "127.0.0.1", 1080);
  connections_.OnTlsSni(21, 0xd, "exfil.test", now_);
  connections_.OnTlsFd(21, 0xd, 6, now_);
  const stream::StreamKey key{21, stream::StreamOrigin::kTls, 0xd};
  stream::StreamContext ctx = Ctx(21, -1, 0xd);
  ctx.tunnel = Target(alert::ProxyKind::kSocks5, "api.openai.com", 443);
  ResolvedDestination r = resolver_.Resolve(key, ctx, nullptr);
  EXPECT_EQ(r.where.host, "exfil.test");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kSni);
  EXPECT_EQ(r.where.port, 443);
  EXPECT_EQ(r.where.transport, alert::Transport::kTls);
  ASSERT_TRUE(r.where.via.has_value());
  EXPECT_EQ(r.where.via->kind, alert::ProxyKind::kSocks5);
  EXPECT_EQ(r.where.via->port, 1080);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("asked for api.openai.com but TLS names exfil.test"),
            std::string::npos)
      << r.notes[0];
}

TEST_F(DestinationResolverTest, AnAddressTargetIsNamedByTheClientsOwnDnsAnswer) {
  dns_.OnReceived(22, 3, false, false,
                  Bytes(testing_dns::Answer("exfil-dns.test", "198.51.100.4", 30)), now_);
  Connect(22, 7, "127.0.0.1", 1080);
  const stream::StreamKey key{22, stream::StreamOrigin::kSocket, 7};
  stream::StreamContext ctx = Ctx(22, 7);
  ctx.tunnel = Target(alert::ProxyKind::kSocks5, "198.51.100.4", 443, true);
  ResolvedDestination r = resolver_.Resolve(key, ctx, nullptr);
  EXPECT_EQ(r.where.host, "exfil-dns.test");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kDns);
  EXPECT_EQ(r.where.ip, "198.51.100.4");
  ctx.tunnel = Target(alert::ProxyKind::kSocks5, "203.0.113.9", 443, true);
  r = resolver_.Resolve(key, ctx, nullptr);
  EXPECT_EQ(r.where.host, "");
  EXPECT_EQ(r.where.ip, "203.0.113.9");
  EXPECT_EQ(r.where.name_source, alert::NameSource::kIp);
}

TEST_F(DestinationResolverTest, RememberKeepsTheProxyAndTheSocketOfTunnelledTls) {
  Connect(23, 8, "127.0.0.1", 3128);
  connections_.SetSocketSni(23, 8, "exfil.test", "");
  connections_.OnTlsSni(23, 0xe, "exfil.test", now_);
  const stream::StreamKey key{23, stream::StreamOrigin::kTls, 0xe};
  stream::StreamContext ctx = Ctx(23, -1, 0xe);  // the kernel named no socket for the write
  resolver_.Remember(key, ctx);
  EXPECT_EQ(ctx.fd, 8);  // found by the ClientHello's name, kept for the tunnel lookup
  EXPECT_EQ(ctx.dest.ip, "127.0.0.1");
  ctx.tunnel = Target(alert::ProxyKind::kHttpConnect, "exfil.test", 443);
  connections_.OnClose(23, 8);
  ResolvedDestination r = resolver_.Resolve(key, ctx, nullptr);
  EXPECT_EQ(r.where.host, "exfil.test");
  ASSERT_TRUE(r.where.via.has_value());
  EXPECT_EQ(r.where.via->ip, "127.0.0.1");  // the proxy, remembered after the socket closed
  EXPECT_EQ(r.where.via->port, 3128);
}

TEST(DnsTracker, TcpAnswersAreReassembledAndGapsCounted) {
  DnsTracker dns;
  const std::string framed =
      testing_dns::Framed(testing_dns::Answer("exfil-tcp.test", "127.0.0.13", 30));
  dns.OnReceived(20, 3, true, false, Bytes(framed.substr(0, 2)), 1);
  EXPECT_FALSE(dns.NameOf("127.0.0.13", 1));
  dns.OnReceived(20, 3, true, false, Bytes(framed.substr(2)), 1);
  EXPECT_EQ(dns.NameOf("127.0.0.13", 1), "exfil-tcp.test");
  dns.OnReceived(21, 3, true, true, Bytes(framed.substr(0, 5)), 1);  // the capture was cut
  dns.OnReceived(21, 3, true, false, Bytes(framed.substr(5)), 1);
  EXPECT_EQ(dns.counters().tcp_streams_dropped, 1u);
  EXPECT_EQ(dns.counters().answers_truncated, 1u);
  EXPECT_EQ(dns.counters().addresses_learned, 1u);
}

TEST(DnsTracker, TcpStreamsAreBoundedAndForgottenWithTheirSocket) {
  DnsTracker dns;
  const std::string half = testing_dns::Framed(testing_dns::Answer("a.test", "127.0.0.1", 30));
  for (int fd = 0; fd < static_cast<int>(DnsTracker::kMaxTcpStreams) + 5; ++fd) {
    dns.OnReceived(22, fd, true, false, Bytes(half.substr(0, 3)), 1);
  }
  EXPECT_EQ(dns.counters().tcp_streams_dropped, 5u);
  dns.ForgetProcess(22);
  dns.OnReceived(23, 1, true, false, Bytes(half.substr(0, 3)), 1);
  dns.ForgetSocket(23, 1);
  dns.OnReceived(23, 1, true, false, Bytes(half.substr(3)), 1);  // no longer a continuation
  EXPECT_FALSE(dns.NameOf("127.0.0.1", 1));
  EXPECT_EQ(dns.counters().addresses_learned, 0u);
}

}  // namespace
}  // namespace credsentry::detect
