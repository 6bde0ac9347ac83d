// HTTP CONNECT and SOCKS5 handshakes at the start of a connection: the tunnel's target is kept,
// what the tunnel carries is decoded as its own protocol, and every broken or cut handshake is
// counted without being followed.
#include <gtest/gtest.h>

#include <random>

#include "chunk_recorder.h"
#include "client_hello_builder.h"
#include "egress_writes.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/proxy_handshake.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Bytes;
using testing::ChunkRecorder;
using testing::DecodeWrites;
using testing::RandomToken;

std::string Connect(const std::string& authority, const std::string& headers = "") {
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n" + headers + "\r\n";
}

std::string InnerGet(const std::string& host, const std::string& token) {
  return "GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token +
         "\r\n\r\n";
}

std::string Bin(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string Socks5Domain(const std::string& host, uint16_t port) {
  return Bin({5, 1, 0, 3, static_cast<int>(host.size())}) + host +
         Bin({port >> 8, port & 0xff});
}

const std::string kGreetingNoAuth = Bin({5, 1, 0});

TEST(HttpConnect, TargetIsKeptAndTheTunnelIsDecodedAsItsOwnHttp) {
  std::string token = RandomToken();
  auto d = DecodeWrites({Connect("API.OpenAI.com:443", "Proxy-Connection: Keep-Alive\r\n"),
                         InnerGet("api.openai.com", token)});
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->kind, alert::ProxyKind::kHttpConnect);
  EXPECT_EQ(d.facts.tunnel->host, "api.openai.com");  // names compare in lower case
  EXPECT_EQ(d.facts.tunnel->port, 443);
  EXPECT_FALSE(d.facts.tunnel->host_is_address);
  EXPECT_EQ(d.counters.tunnels_http_connect, 1u);
  EXPECT_EQ(d.counters.http_connect_malformed, 0u);
  EXPECT_EQ(d.facts.protocol, "http1");
  EXPECT_FALSE(d.facts.mid_stream);
  // The CONNECT line is a unit, and so is the request inside the tunnel with its header.
  EXPECT_NE(d.recorder.Find("CONNECT API.OpenAI.com:443", "http1.request-line"), nullptr);
  const auto* auth = d.recorder.Find(token, "http1.header");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->bytes, "Authorization: Bearer " + token);
  EXPECT_EQ(d.counters.requests, 2u);
}

TEST(HttpConnect, ProxyAuthorizationIsMatchedLikeAnyHeader) {
  std::string token = RandomToken();
  auto d = DecodeWrites({Connect("exfil.test:443", "Proxy-Authorization: Bearer " + token + "\r\n")});
  ASSERT_NE(d.recorder.Find(token, "http1.header"), nullptr);
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->host, "exfil.test");
}

TEST(HttpConnect, FragmentedByteByByteGivesTheSameTarget) {
  std::string token = RandomToken();
  auto d = DecodeWrites({Connect("exfil.test:8443"), InnerGet("exfil.test", token)}, 1);
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->host, "exfil.test");
  EXPECT_EQ(d.facts.tunnel->port, 8443);
  ASSERT_NE(d.recorder.Find(token, "http1.header"), nullptr);
  EXPECT_EQ(d.counters.http_connect_truncated, 0u);
}

TEST(HttpConnect, AddressAuthoritiesAreCanonical) {
  auto v6 = DecodeWrites({Connect("[2001:DB8::1]:443")});
  ASSERT_TRUE(v6.facts.tunnel.has_value());
  EXPECT_EQ(v6.facts.tunnel->host, "2001:db8::1");
  EXPECT_TRUE(v6.facts.tunnel->host_is_address);
  auto v4 = DecodeWrites({Connect("203.0.113.7:80")});
  ASSERT_TRUE(v4.facts.tunnel.has_value());
  EXPECT_EQ(v4.facts.tunnel->host, "203.0.113.7");
  EXPECT_TRUE(v4.facts.tunnel->host_is_address);
}

TEST(HttpConnect, BytesInTheSameWriteAsTheHeadAreNotTrustedAsTunnelled) {
  std::string token = RandomToken();
  // A client that did not wait for the proxy's 200: the target is a claim nobody answered.
  auto d = DecodeWrites({Connect("api.openai.com:443") + InnerGet("api.openai.com", token)});
  EXPECT_FALSE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.counters.tunnel_early_data, 1u);
  ASSERT_NE(d.recorder.Find(token, "http1.header"), nullptr);  // still decoded and matched
}

TEST(HttpConnect, MalformedHeadsAreCountedAndDecodedAsPlainRequests) {
  std::string token = RandomToken();
  for (const std::string& head :
       {std::string("CONNECT api.openai.com HTTP/1.1\r\n"),      // no port
        std::string("CONNECT api.openai.com:0 HTTP/1.1\r\n"),    // port 0
        std::string("CONNECT api.openai.com:99999 HTTP/1.1\r\n"),
        std::string("CONNECT bad/host:443 HTTP/1.1\r\n"),
        std::string("CONNECT  api.openai.com:443 HTTP/1.1\r\n"),  // two spaces
        std::string("CONNECT api.openai.com:443 HTTP/2.0\r\n"),
        std::string("CONNECT [127.0.0.1]:443 HTTP/1.1\r\n")}) {    // brackets hold IPv6 only
    auto d = DecodeWrites({head + "X-Token: " + token + "\r\n\r\n"});
    EXPECT_FALSE(d.facts.tunnel.has_value()) << head;
    EXPECT_EQ(d.counters.http_connect_malformed, 1u) << head;
    EXPECT_EQ(d.counters.tunnels_http_connect, 0u) << head;
  }
  auto bad_header = DecodeWrites({"CONNECT a.test:443 HTTP/1.1\r\nno colon here\r\n\r\n"});
  EXPECT_FALSE(bad_header.facts.tunnel.has_value());
  EXPECT_EQ(bad_header.counters.http_connect_malformed, 1u);
}

TEST(HttpConnect, TruncatedHeadsAreCounted) {
  auto cut = DecodeWrites({"CONNECT exfil.test:443 HTTP/1.1\r\nHost: exf"});
  EXPECT_FALSE(cut.facts.tunnel.has_value());
  EXPECT_EQ(cut.counters.http_connect_truncated, 1u);

  DecoderLimits limits;
  limits.max_header_bytes = 256;
  auto huge = DecodeWrites({"CONNECT exfil.test:443 HTTP/1.1\r\nX-Pad: " + std::string(400, 'a') +
                            "\r\n\r\n"},
                           0, limits);
  EXPECT_FALSE(huge.facts.tunnel.has_value());
  EXPECT_EQ(huge.counters.http_connect_truncated, 1u);
}

TEST(HttpConnect, OtherMethodsStartingLikeConnectAreOrdinaryRequests) {
  auto d = DecodeWrites({"COPY /a HTTP/1.1\r\nHost: dav.test\r\n\r\n"});
  EXPECT_FALSE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.counters.requests, 1u);
  EXPECT_EQ(d.counters.http_connect_malformed + d.counters.http_connect_truncated, 0u);
}

TEST(HttpConnect, TlsThroughTheTunnelIsOpaque) {
  // The pipeline takes the ClientHello write for its SNI; the stream sees the records after it.
  std::string records = Bin({0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 4, 9, 9, 9, 9});
  auto d = DecodeWrites({Connect("api.openai.com:443"), records, Bin({0x17, 3, 3, 0, 2, 7, 7})});
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.protocol, "tls");
  EXPECT_FALSE(d.facts.mid_stream);
  EXPECT_EQ(d.counters.opaque_bytes, records.size() + 7);
  EXPECT_EQ(d.counters.parse_errors, 0u);

  auto hello = DecodeWrites({Connect("x.test:443"), testing::BuildClientHello("api.openai.com", {})});
  EXPECT_EQ(hello.facts.sni, "api.openai.com");
}

TEST(Socks5, DomainTargetAndTheTunnelledRequest) {
  std::string token = RandomToken();
  auto d = DecodeWrites({kGreetingNoAuth, Socks5Domain("Exfil.Test", 8080),
                         InnerGet("exfil.test", token)});
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->kind, alert::ProxyKind::kSocks5);
  EXPECT_EQ(d.facts.tunnel->host, "exfil.test");
  EXPECT_EQ(d.facts.tunnel->port, 8080);
  EXPECT_EQ(d.counters.tunnels_socks5, 1u);
  EXPECT_EQ(d.facts.protocol, "http1");
  EXPECT_FALSE(d.facts.mid_stream);
  ASSERT_NE(d.recorder.Find(token, "http1.header"), nullptr);
}

TEST(Socks5, AddressTargets) {
  auto v4 = DecodeWrites({kGreetingNoAuth, Bin({5, 1, 0, 1, 203, 0, 113, 7, 1, 187})});
  ASSERT_TRUE(v4.facts.tunnel.has_value());
  EXPECT_EQ(v4.facts.tunnel->host, "203.0.113.7");
  EXPECT_EQ(v4.facts.tunnel->port, 443);
  EXPECT_TRUE(v4.facts.tunnel->host_is_address);

  auto v6 = DecodeWrites({kGreetingNoAuth, Bin({5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 1, 0, 80})});
  ASSERT_TRUE(v6.facts.tunnel.has_value());
  EXPECT_EQ(v6.facts.tunnel->host, "2001:db8::1");
  EXPECT_EQ(v6.facts.tunnel->port, 80);

  // An address written as a "domain" is still an address.
  auto literal = DecodeWrites({kGreetingNoAuth, Socks5Domain("127.0.0.1", 443)});
  ASSERT_TRUE(literal.facts.tunnel.has_value());
  EXPECT_TRUE(literal.facts.tunnel->host_is_address);
}

TEST(Socks5, UsernameAndPasswordAreUnitsOfTheirOwn) {
  std::string secret = RandomToken();
  std::string auth = Bin({1, 4}) + "user" + static_cast<char>(secret.size()) + secret;
  auto d = DecodeWrites({Bin({5, 2, 0, 2}), auth, Socks5Domain("exfil.test", 443)});
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->host, "exfil.test");
  const auto* password = d.recorder.Find(secret, "socks5.password");
  ASSERT_NE(password, nullptr);
  EXPECT_EQ(password->bytes, secret);
  EXPECT_TRUE(password->complete);
}

TEST(Socks5, FragmentedByteByByteGivesTheSameTarget) {
  std::string token = RandomToken();
  auto d = DecodeWrites({kGreetingNoAuth, Socks5Domain("exfil.test", 443),
                         InnerGet("exfil.test", token)},
                        1);
  ASSERT_TRUE(d.facts.tunnel.has_value());
  EXPECT_EQ(d.facts.tunnel->host, "exfil.test");
  EXPECT_EQ(d.facts.tunnel->port, 443);
  ASSERT_NE(d.recorder.Find(token, "http1.header"), nullptr);
  EXPECT_EQ(d.counters.socks5_truncated + d.counters.socks5_malformed, 0u);
}

TEST(Socks5, GreetingAndRequestInOneWriteAreFollowedButDataWithThemIsNot) {
  auto together = DecodeWrites({kGreetingNoAuth + Socks5Domain("exfil.test", 443)});
  ASSERT_TRUE(together.facts.tunnel.has_value());
  auto early = DecodeWrites({kGreetingNoAuth, Socks5Domain("api.openai.com", 443) + "GET / HTTP/1.1\r\n\r\n"});
  EXPECT_FALSE(early.facts.tunnel.has_value());
  EXPECT_EQ(early.counters.tunnel_early_data, 1u);
  EXPECT_EQ(early.counters.requests, 1u);
}

TEST(Socks5, MalformedHandshakesAreCountedNotFollowed) {
  for (const std::string& request :
       {Bin({5, 1, 1, 3, 4}) + "a.io" + Bin({0, 80}),   // reserved byte set
        Bin({5, 1, 0, 9, 1, 2, 3, 4, 0, 80}),           // no such address type
        Bin({5, 9, 0, 1, 1, 2, 3, 4, 0, 80}),           // no such command
        Bin({4, 1, 0, 80, 1, 2, 3, 4, 0}),              // SOCKS4 after a SOCKS5 greeting
        Bin({5, 1, 0, 3, 0, 0, 80}),                    // empty name
        Bin({5, 1, 0, 3, 5}) + "a b\n!" + Bin({0, 80}),  // not a host name
        Bin({5, 1, 0, 1, 1, 2, 3, 4, 0, 0}),            // port 0
        Bin({1, 4}) + "user" + Bin({0})}) {             // password step nobody offered
    auto d = DecodeWrites({kGreetingNoAuth, request});
    EXPECT_FALSE(d.facts.tunnel.has_value());
    EXPECT_EQ(d.counters.socks5_malformed, 1u);
  }
}

TEST(Socks5, TruncatedHandshakesAreCountedAtTheEnd) {
  auto greeting_only = DecodeWrites({kGreetingNoAuth});
  EXPECT_EQ(greeting_only.counters.socks5_truncated, 1u);
  auto half_request = DecodeWrites({kGreetingNoAuth, Bin({5, 1, 0, 3, 20}) + "exfil"});
  EXPECT_EQ(half_request.counters.socks5_truncated, 1u);
  EXPECT_FALSE(half_request.facts.tunnel.has_value());
  auto half_greeting = DecodeWrites({Bin({5, 3, 0})});
  EXPECT_EQ(half_greeting.counters.socks5_truncated, 1u);
}

TEST(Socks5, OtherCommandsAreCountedAndNotFollowed) {
  auto bind = DecodeWrites({kGreetingNoAuth, Bin({5, 2, 0, 1, 10, 0, 0, 1, 0, 80})});
  EXPECT_FALSE(bind.facts.tunnel.has_value());
  EXPECT_EQ(bind.counters.socks5_other_commands, 1u);
  EXPECT_EQ(bind.counters.tunnels_socks5, 0u);
}

TEST(Socks5, AGreetingOfferingNoAcceptableMethodIsNotSocks) {
  EXPECT_FALSE(LooksLikeSocks5Greeting(Bytes(Bin({5, 1, 0xff}))));
  EXPECT_FALSE(LooksLikeSocks5Greeting(Bytes(Bin({5, 0}))));
  EXPECT_TRUE(LooksLikeSocks5Greeting(Bytes(Bin({5}))));
}

// Hostile input at a connection's start: any bytes after "CONNECT " or a SOCKS5 greeting, cut
// anywhere, never crash, never follow a tunnel that was not well formed, and are bounded.
TEST(ProxyHandshake, RandomInputAfterEitherStartIsSafe) {
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string wire = round % 2 ? std::string("CONNECT ") : kGreetingNoAuth;
    size_t n = rng() % 600;
    for (size_t i = 0; i < n; ++i) wire.push_back(static_cast<char>(byte(rng)));
    auto d = DecodeWrites({wire}, 1 + rng() % 7);
    if (d.facts.tunnel) {
      EXPECT_TRUE(d.facts.tunnel->host_is_address || IsTunnelHostName(d.facts.tunnel->host));
      EXPECT_NE(d.facts.tunnel->port, 0);
    }
    uint64_t judged = d.counters.tunnels_http_connect + d.counters.tunnels_socks5 +
                      d.counters.http_connect_malformed + d.counters.http_connect_truncated +
                      d.counters.socks5_malformed + d.counters.socks5_truncated +
                      d.counters.socks5_other_commands;
    EXPECT_EQ(judged, 1u) << "round " << round;
  }
}

}  // namespace
}  // namespace credsentry::stream::decoders
