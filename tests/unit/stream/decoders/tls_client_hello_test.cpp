#include "stream/decoders/tls_client_hello.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "chunk_recorder.h"
#include "client_hello_builder.h"
#include "stream/decoders/egress_decoder.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Bytes;

using testing::BuildClientHello;

std::string U16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

TEST(ClientHello, SniAndAlpnAreParsed) {
  auto hello = ParseClientHello(Bytes(BuildClientHello("api.exfil.example", {"h2", "http/1.1"})));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->sni, "api.exfil.example");
  EXPECT_EQ(hello->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(ClientHello, RecordedOpensslClientHelloIsParsed) {
  // Captured once from `openssl s_client -servername api.exfil.example -alpn h2,http/1.1`.
  std::ifstream in(std::string(CREDSENTRY_TEST_DATA) + "/decoders/openssl-client-hello.bin",
                   std::ios::binary);
  std::string wire((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(wire.empty());
  auto hello = ParseClientHello(Bytes(wire));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->sni, "api.exfil.example");
  EXPECT_EQ(hello->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(ClientHello, HelloSplitAcrossTwoRecordsIsReassembled) {
  std::string one = BuildClientHello("split.example", {"h2"});
  std::string handshake = one.substr(5);
  std::string two = "\x16\x03\x01" + U16(20) + handshake.substr(0, 20) + "\x16\x03\x01" +
                    U16(handshake.size() - 20) + handshake.substr(20);
  auto hello = ParseClientHello(Bytes(two));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->sni, "split.example");
}

TEST(ClientHello, TruncatedOrCorruptInputIsRejected) {
  std::string wire = BuildClientHello("a.example", {"h2"});
  ClientHello hello;
  for (size_t n = 0; n < wire.size(); ++n) {
    EXPECT_EQ(ParseClientHelloPrefix(Bytes(wire).first(n), hello), ClientHelloStatus::kNeedMore)
        << n;
  }
  std::string corrupt = wire;
  corrupt[wire.size() - 5] = '\x7f';  // an ALPN list length that runs past the extension
  EXPECT_FALSE(ParseClientHello(Bytes(corrupt)).has_value());
  std::string not_hello = wire;
  not_hello[5] = '\x02';  // ServerHello
  EXPECT_FALSE(ParseClientHello(Bytes(not_hello)).has_value());
}

// SNI comes from the socket-level capture, Host from the decrypted plaintext: both are recorded
// as claims, and neither overwrites the other.
TEST(ClientHello, HostThatDisagreesWithSniIsRecordedBesideIt) {
  testing::ChunkRecorder recorder;
  EgressDecoder socket_level;
  socket_level.Feed(Bytes(BuildClientHello("exfil.attacker.example", {"http/1.1"})),
                    recorder.Sink());
  socket_level.Feed(Bytes(std::string(300, '\x17')), recorder.Sink());  // encrypted records
  EgressDecoder plaintext;
  plaintext.Feed(Bytes(std::string("GET / HTTP/1.1\r\nHost: api.openai.com\r\n\r\n")),
                 recorder.Sink());
  EXPECT_EQ(socket_level.facts().protocol, "tls");
  EXPECT_EQ(socket_level.facts().sni, "exfil.attacker.example");
  EXPECT_EQ(socket_level.facts().alpn, "http/1.1");
  EXPECT_EQ(socket_level.counters().opaque_bytes,
            300u + BuildClientHello("exfil.attacker.example", {"http/1.1"}).size());
  EXPECT_EQ(plaintext.facts().http_host, "api.openai.com");
  EXPECT_TRUE(plaintext.facts().sni.empty());
}

}  // namespace
}  // namespace credsentry::stream::decoders
