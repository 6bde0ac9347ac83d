#include "stream/decoders/dns.h"

#include <gtest/gtest.h>

#include "chunk_recorder.h"
#include "dns_message_builder.h"
#include "stream/decoders/egress_decoder.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Bytes;
using testing::RandomToken;

using testing_dns::Base32;
using testing_dns::EncodeName;
using testing_dns::Hex;
using testing_dns::Query;
using testing_dns::U16;

TEST(Dns, QueryWithAKeyInHexLabelsIsDecoded) {
  std::string token = RandomToken(40);
  std::string hex = Hex(token);  // 88 chars: split over two labels as tunnelling tools do
  std::string qname = hex.substr(0, 60) + "." + hex.substr(60) + ".t.exfil.example";
  auto message = ParseDns(Bytes(Query(qname)));
  ASSERT_TRUE(message.has_value());
  EXPECT_FALSE(message->response);
  ASSERT_EQ(message->questions.size(), 1u);
  EXPECT_EQ(message->questions[0].name, qname);
  auto candidates = DecodeDnsLabels(qname);
  EXPECT_NE(std::find(candidates.begin(), candidates.end(), token), candidates.end());

  testing::ChunkRecorder recorder;
  DecoderCounters counters;
  EmitDnsMessage(Bytes(Query(qname)), DnsTransport::kUdp, 7, counters, recorder.Sink());
  EXPECT_NE(recorder.Find(qname, "dns.qname"), nullptr);
  const auto* label = recorder.Find(token, "dns.label");
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->unit_id, 7u);
}

TEST(Dns, Base32AndSplitPlainLabelsAreCandidates) {
  std::string token = RandomToken(20);
  auto b32 = DecodeDnsLabels(Base32(token) + ".x.example");
  EXPECT_NE(std::find(b32.begin(), b32.end(), token), b32.end());
  auto split = DecodeDnsLabels(token.substr(0, 10) + "." + token.substr(10) + ".x.example");
  EXPECT_NE(std::find(split.begin(), split.end(), token), split.end());
  EXPECT_TRUE(DecodeDnsLabels("www.example.com").empty() ||
              DecodeDnsLabels("www.example.com") == std::vector<std::string>{});
}

TEST(Dns, ResponseMapsAddressesToTheQueriedNameThroughCnames) {
  std::string q = EncodeName("api.example.com");
  std::string msg =
      U16(0x99) + U16(0x8180) + U16(1) + U16(3) + U16(0) + U16(0) + q + U16(1) + U16(1);
  // CNAME api.example.com -> edge.cdn.net (name by pointer to offset 12)
  std::string cname_target = EncodeName("edge.cdn.net");
  size_t cname_target_at = msg.size() + 2 + 10;
  msg += "\xc0\x0c" + U16(5) + U16(1) + U16(0) + U16(300) + U16(cname_target.size()) + cname_target;
  std::string ptr = {static_cast<char>(0xc0), static_cast<char>(cname_target_at)};
  msg += ptr + U16(1) + U16(1) + U16(0) + U16(60) + U16(4) + std::string("\x7f\x00\x00\x05", 4);
  msg += ptr + U16(28) + U16(1) + U16(0) + U16(60) + U16(16) + std::string(15, '\0') + "\x01";
  auto m = ParseDns(Bytes(msg));
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->response);
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].cname, "edge.cdn.net");
  EXPECT_EQ(m->answers[1].name, "edge.cdn.net");
  EXPECT_EQ(m->answers[1].ip, "127.0.0.5");
  EXPECT_EQ(m->answers[1].ttl, 60u);
  EXPECT_EQ(m->answers[1].queried_name, "api.example.com");
  EXPECT_EQ(m->answers[2].ip, "::1");

  auto tcp = ParseDns(Bytes(U16(msg.size()) + msg), DnsTransport::kTcp);
  ASSERT_TRUE(tcp.has_value());
  EXPECT_EQ(tcp->answers.size(), 3u);
}

TEST(Dns, CompressionLoopsAndTruncationAreRejected) {
  std::string header = U16(1) + U16(0x0100) + U16(1) + U16(0) + U16(0) + U16(0);
  EXPECT_FALSE(ParseDns(Bytes(header + "\xc0\x0c" + U16(1) + U16(1))).has_value());  // self
  std::string two = header +
                    "\x01"
                    "a"
                    "\xc0\x0c" +
                    U16(1) + U16(1);  // points back at itself
  EXPECT_FALSE(ParseDns(Bytes(two)).has_value());
  std::string q = Query("a.example");
  for (size_t n = 0; n < q.size(); ++n) EXPECT_FALSE(ParseDns(Bytes(q.substr(0, n))).has_value());
}

TEST(Dns, TcpStreamOfQueriesThroughTheEgressDecoder) {
  std::string token = RandomToken(30);
  std::string hex = Hex(token);  // 68 chars: over the 63-byte label limit, so two labels
  std::string q1 = Query("www.example.com", 1);
  std::string q2 = Query(hex.substr(0, 40) + "." + hex.substr(40) + ".exfil.example", 2);
  std::string wire = U16(q1.size()) + q1 + U16(q2.size()) + q2;
  EgressDecoder decoder({}, ProtocolHint::kDnsTcp);
  testing::ChunkRecorder recorder;
  for (size_t at = 0; at < wire.size(); at += 5) {
    decoder.Feed(Bytes(wire).subspan(at, std::min<size_t>(5, wire.size() - at)), recorder.Sink());
  }
  EXPECT_EQ(decoder.facts().protocol, "dns");
  EXPECT_EQ(recorder.InLayer("dns.qname").size(), 2u);
  const auto* label = recorder.Find(token, "dns.label");
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->unit_id, 2u);
}

TEST(Dns, ResolvedAddressesFollowCnamesAndIgnoreUnaskedRecords) {
  // Question with mixed case (0x20 randomisation): the name learned is lower-case.
  std::string q = EncodeName("Api.Example.com");
  std::string msg =
      U16(0x77) + U16(0x8180) + U16(1) + U16(4) + U16(0) + U16(0) + q + U16(1) + U16(1);
  // CNAME Api.Example.com -> edge.cdn.net (owner by pointer to the question); the A and AAAA
  // records' owners are pointers to the CNAME target inside the first record's data.
  std::string cname_target = EncodeName("edge.cdn.net");
  size_t cname_target_at = msg.size() + 2 + 10;
  msg += "\xc0\x0c" + U16(5) + U16(1) + U16(0) + U16(300) + U16(cname_target.size()) + cname_target;
  std::string ptr = {static_cast<char>(0xc0), static_cast<char>(cname_target_at)};
  msg += ptr + U16(1) + U16(1) + U16(0) + U16(45) + U16(4) + std::string("\x7f\x00\x00\x09", 4);
  msg += ptr + U16(28) + U16(1) + U16(0) + U16(45) + U16(16) + std::string(15, '\0') + "\x02";
  // An address for a name nobody asked about (the classic poisoning shape): never learned.
  msg += EncodeName("bank.test") + U16(1) + U16(1) + U16(0) + U16(9999) + U16(4) +
         std::string("\x7f\x00\x00\x42", 4);
  auto m = ParseDns(Bytes(msg));
  ASSERT_TRUE(m.has_value());
  auto resolved = ResolvedAddresses(*m);
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].ip, "127.0.0.9");
  EXPECT_EQ(resolved[0].name, "api.example.com");
  EXPECT_EQ(resolved[0].ttl, 45u);
  EXPECT_EQ(resolved[1].ip, "::2");
  EXPECT_EQ(resolved[1].name, "api.example.com");

  // The same bytes as a query (QR bit clear) teach nothing.
  std::string as_query = msg;
  as_query[2] = 0x01;
  auto q2 = ParseDns(Bytes(as_query));
  ASSERT_TRUE(q2.has_value());
  EXPECT_TRUE(ResolvedAddresses(*q2).empty());
}

TEST(Dns, HostileAnswersAreRejectedOrBounded) {
  // A CNAME loop (a -> b -> a) with an address on it: terminates, names the address once.
  std::string q = EncodeName("a.loop.test");
  std::string msg = U16(1) + U16(0x8180) + U16(1) + U16(3) + U16(0) + U16(0) + q + U16(1) + U16(1);
  std::string b = EncodeName("b.loop.test");
  msg += "\xc0\x0c" + U16(5) + U16(1) + U16(0) + U16(60) + U16(b.size()) + b;
  msg += b + U16(5) + U16(1) + U16(0) + U16(60) + U16(2) + "\xc0\x0c";
  msg += b + U16(1) + U16(1) + U16(0) + U16(60) + U16(4) + std::string("\x0a\x00\x00\x01", 4);
  auto m = ParseDns(Bytes(msg));
  ASSERT_TRUE(m.has_value());
  auto resolved = ResolvedAddresses(*m);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].name, "a.loop.test");

  // Every truncation of a valid answer is rejected, never read past its end.
  for (size_t n = 0; n < msg.size(); ++n) {
    EXPECT_FALSE(ParseDns(Bytes(msg.substr(0, n))).has_value()) << "cut at " << n;
  }
  // A name with bytes that are not host-name characters never becomes a destination name.
  std::string odd = U16(2) + U16(0x8180) + U16(1) + U16(1) + U16(0) + U16(0) +
                    EncodeName("ev\x1b[31mil.test") + U16(1) + U16(1) + "\xc0\x0c" + U16(1) +
                    U16(1) + U16(0) + U16(60) + U16(4) + std::string("\x0a\x00\x00\x02", 4);
  auto o = ParseDns(Bytes(odd));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->answers.size(), 1u);
  EXPECT_TRUE(ResolvedAddresses(*o).empty());
}

}  // namespace
}  // namespace credsentry::stream::decoders
