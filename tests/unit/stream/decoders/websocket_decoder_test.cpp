// WebSocket after an HTTP/1.1 Upgrade request: masked frames are unmasked, fragments (with
// control frames between them) reassembled, permessage-deflate inflated with and without
// context takeover, and each message decoded like a body. Every frame that breaks RFC 6455,
// every cap reached and every cut at the stream's end is counted, and the bytes after a bad
// frame are decoded as HTTP/1 again.
#include <gtest/gtest.h>

#include <algorithm>

#include "../../match/shipped_database.h"
#include "../../match/synthetic_keys.h"
#include "chunk_recorder.h"
#include "egress_writes.h"
#include "compress_support.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/websocket_decoder.h"
#include "stream/egress_streams.h"
#include "websocket_frames.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Base64;
using testing::Bytes;
using testing::ChunkRecorder;
using testing::DecodeWrites;
using testing::FrameSpec;
using testing::H2ExtendedConnect;
using testing::H2Frame;
using testing::kH2ClientStart;
using testing::MessageDeflater;
using testing::RandomToken;
using testing::WebSocketFrame;
using testing::WebSocketUpgrade;

constexpr uint8_t kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9,
                  kPong = 0xa;


const std::vector<std::string> kPlain{"http1", "websocket"};
const std::vector<std::string> kInflated{"http1", "websocket", "permessage-deflate"};

TEST(WebSocket, MaskedTextMessageIsMatchedLikeABodyWithItsJsonDecoded) {
  const std::string token = RandomToken();
  const std::string message = R"({"op":"auth","blob":")" + Base64(token) + R"("})";
  const std::string frame = WebSocketFrame(message);
  ASSERT_EQ(frame.find(token), std::string::npos);  // masking hides it on the wire
  auto d = DecodeWrites({WebSocketUpgrade(), frame});
  const auto* unit = d.recorder.Find(R"("op":"auth")", std::string(kLayerWebSocketMessage));
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->bytes, message);
  EXPECT_TRUE(unit->complete);
  EXPECT_EQ(unit->decoding, kPlain);
  const auto* decoded = d.recorder.Find(token, "decoded.base64");
  ASSERT_NE(decoded, nullptr);
  EXPECT_EQ(decoded->decoding, (std::vector<std::string>{"http1", "websocket", "base64"}));
  EXPECT_EQ(d.counters.websocket_upgrades, 1u);
  EXPECT_EQ(d.counters.websocket_messages, 1u);
  EXPECT_EQ(d.counters.websocket_bad_frames, 0u);
  EXPECT_EQ(d.counters.websocket_truncated, 0u);
  EXPECT_EQ(d.facts.protocol, "http1");
}

TEST(WebSocket, SevenSixteenAndSixtyFourBitLengthsAllCarryTheirPayload) {
  const std::string token = RandomToken();
  struct Case {
    size_t size;
    int form;
  };
  for (Case c : {Case{40, 0}, Case{125, 0}, Case{126, 2}, Case{300, 2}, Case{65535, 2},
                 Case{70000, 8}, Case{60, 2}, Case{60, 8}}) {  // the last two: longer forms
    std::string payload(c.size - token.size(), 'x');
    payload.insert(payload.size() / 2, token);
    FrameSpec spec;
    spec.opcode = kBinary;
    spec.length_bytes = c.form;
    auto d = DecodeWrites({WebSocketUpgrade(), WebSocketFrame(payload, spec)});
    const auto* unit = d.recorder.Find(token, std::string(kLayerWebSocketMessage));
    ASSERT_NE(unit, nullptr) << c.size << " in the " << c.form << "-byte form";
    EXPECT_EQ(unit->bytes, payload);
    EXPECT_EQ(d.counters.websocket_bad_frames, 0u);
  }
}

TEST(WebSocket, FragmentsWithControlFramesBetweenThemAreOneMessage) {
  const std::string token = RandomToken();
  const std::string ping_data = RandomToken(12);
  const size_t cut = token.size() / 2;
  std::string wire = WebSocketFrame("key=" + token.substr(0, cut), {.opcode = kText, .fin = false});
  wire += WebSocketFrame(ping_data, {.opcode = kPing});
  wire += WebSocketFrame(token.substr(cut, 3), {.opcode = kContinuation, .fin = false});
  wire += WebSocketFrame("", {.opcode = kPong});
  wire += WebSocketFrame(token.substr(cut + 3) + "&end", {.opcode = kContinuation});
  wire += WebSocketFrame(std::string("\x03\xe8", 2) + "bye", {.opcode = kClose});
  auto d = DecodeWrites({WebSocketUpgrade(), wire});
  auto messages = d.recorder.InLayer(std::string(kLayerWebSocketMessage));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0]->bytes, "key=" + token + "&end");
  EXPECT_TRUE(messages[0]->complete);
  EXPECT_NE(d.recorder.Find(ping_data, std::string(kLayerWebSocketControl)), nullptr);
  EXPECT_NE(d.recorder.Find("bye", std::string(kLayerWebSocketControl)), nullptr);
  EXPECT_EQ(d.counters.websocket_messages, 1u);
  EXPECT_EQ(d.counters.websocket_control_frames, 3u);
  EXPECT_EQ(d.counters.websocket_bad_frames, 0u);
}

TEST(WebSocket, KeySplitAcrossFramesAndWritesIsFoundWhateverTheCuts) {
  const std::string token = RandomToken();
  std::string wire = WebSocketUpgrade();
  wire += WebSocketFrame(token.substr(0, 10), {.opcode = kText, .fin = false});
  wire += WebSocketFrame(token.substr(10), {.opcode = kContinuation, .mask = 0x01020304});
  for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{13}}) {
    auto d = DecodeWrites({wire}, piece);
    const auto* unit = d.recorder.Find(token, std::string(kLayerWebSocketMessage));
    ASSERT_NE(unit, nullptr) << "pieces of " << piece;
    EXPECT_EQ(unit->bytes, token);
    EXPECT_EQ(d.counters.websocket_messages, 1u);
  }
}

TEST(WebSocket, PermessageDeflateWithContextTakeoverInflatesEveryMessage) {
  const std::string token = RandomToken();
  const std::string message = R"({"token":")" + token + R"("})";
  MessageDeflater deflater;
  const std::string first = deflater.Compress(message);
  const std::string second = deflater.Compress(message);  // mostly a pointer into the first
  ASSERT_LT(second.size(), first.size() / 2);
  std::vector<std::string> writes{WebSocketUpgrade("permessage-deflate; client_max_window_bits")};
  writes.push_back(WebSocketFrame(first, {.rsv1 = true}));
  // The second message in two fragments: only the first frame of a message carries RSV1.
  writes.push_back(WebSocketFrame(second.substr(0, 2), {.fin = false, .rsv1 = true}));
  writes.push_back(WebSocketFrame(second.substr(2), {.opcode = kContinuation}));
  auto d = DecodeWrites(writes);
  auto messages = d.recorder.InLayer(std::string(kLayerWebSocketMessage));
  ASSERT_EQ(messages.size(), 2u);
  for (const auto* m : messages) {
    EXPECT_EQ(m->bytes, message);
    EXPECT_EQ(m->decoding, kInflated);
  }
  EXPECT_EQ(d.counters.websocket_inflate_failed, 0u);
  EXPECT_EQ(d.counters.websocket_bad_frames, 0u);
}

TEST(WebSocket, PermessageDeflateWithoutContextTakeoverAndUncompressedMessagesBetween) {
  const std::string token = RandomToken();
  MessageDeflater deflater(false);
  auto d = DecodeWrites(
      {WebSocketUpgrade("permessage-deflate; client_no_context_takeover, x-webkit-deflate-frame"),
       WebSocketFrame(deflater.Compress("first " + token), {.rsv1 = true}),
       WebSocketFrame("plain " + token),
       WebSocketFrame(deflater.Compress("third " + token), {.opcode = kBinary, .rsv1 = true})});
  auto messages = d.recorder.InLayer(std::string(kLayerWebSocketMessage));
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0]->bytes, "first " + token);
  EXPECT_EQ(messages[0]->decoding, kInflated);
  EXPECT_EQ(messages[1]->bytes, "plain " + token);
  EXPECT_EQ(messages[1]->decoding, kPlain);
  EXPECT_EQ(messages[2]->bytes, "third " + token);
  EXPECT_EQ(d.counters.websocket_messages, 3u);
}

TEST(WebSocket, CompressedFlagWithoutAnOfferIsABadFrameAndTheRestIsHttpAgain) {
  const std::string token = RandomToken();
  auto d = DecodeWrites({WebSocketUpgrade(), WebSocketFrame("x", {.rsv1 = true}) + token + "\n"});
  EXPECT_EQ(d.counters.websocket_bad_frames, 1u);
  EXPECT_TRUE(d.recorder.InLayer(std::string(kLayerWebSocketMessage)).empty());
  EXPECT_NE(d.recorder.Find(token, "raw"), nullptr);  // skipped bytes still reach the matcher
}

TEST(WebSocket, RefusedUpgradeFollowedByAnotherRequestIsDecodedAsHttp) {
  const std::string token = RandomToken();
  auto d = DecodeWrites({WebSocketUpgrade(),
                         "GET /retry HTTP/1.1\r\nHost: ws.test\r\nAuthorization: Bearer " + token +
                             "\r\n\r\n"});
  EXPECT_EQ(d.counters.websocket_upgrades, 1u);
  EXPECT_EQ(d.counters.websocket_bad_frames, 1u);
  EXPECT_EQ(d.counters.requests, 2u);
  EXPECT_NE(d.recorder.Find(token, "http1.header"), nullptr);
}

TEST(WebSocket, BrokenFramesAreCountedAndNeverFollowed) {
  const std::string token = RandomToken();
  const std::vector<std::string> broken{
      WebSocketFrame(token, {.opcode = 0x3}),                   // reserved opcode
      WebSocketFrame(token, {.opcode = kContinuation}),         // continuation of nothing
      WebSocketFrame(std::string(126, 'p'), {.opcode = kPing}),  // control over 125 bytes
      WebSocketFrame("p", {.opcode = kPing, .fin = false}),      // fragmented control
      WebSocketFrame(token, {.opcode = kText, .fin = false}) + WebSocketFrame(token),
      std::string("\x81\x7f\x80\0\0\0\0\0\0\0", 10),  // a 64-bit length with its top bit set
  };
  for (size_t i = 0; i < broken.size(); ++i) {
    std::string frame = broken[i];
    frame[0] = static_cast<char>(frame[0] | (i == 0 ? 0x20 : 0));  // and RSV2 on the first
    auto d = DecodeWrites({WebSocketUpgrade(), frame});
    EXPECT_EQ(d.counters.websocket_bad_frames, 1u) << i;
  }
}

TEST(WebSocket, HostileLengthIsBoundedAndCounted) {
  DecoderLimits limits;
  limits.max_body_bytes = 4096;
  const std::string token = RandomToken();
  std::string header("\x82\x7f\0\0\x01\0\0\0\0\0", 10);  // 2^40 bytes announced, unmasked
  auto d = DecodeWrites({WebSocketUpgrade(), header + token + std::string(10000, 'z')}, 0, limits);
  const auto* unit = d.recorder.Find(token, std::string(kLayerWebSocketMessage));
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->bytes.size(), 4096u);
  EXPECT_EQ(d.counters.websocket_truncated, 1u);  // at the cap, not again at the stream's end
  EXPECT_EQ(d.counters.skipped_bytes, token.size() + 10000 - 4096);
}

TEST(WebSocket, TooManyFragmentsCutTheMessage) {
  std::string wire = WebSocketFrame("a", {.fin = false});
  for (size_t i = 0; i < kMaxWebSocketFramesPerMessage + 10; ++i) {
    wire += WebSocketFrame("b", {.opcode = kContinuation, .fin = false});
  }
  wire += WebSocketFrame("c", {.opcode = kContinuation});
  wire += WebSocketFrame("next");
  auto d = DecodeWrites({WebSocketUpgrade(), wire});
  auto messages = d.recorder.InLayer(std::string(kLayerWebSocketMessage));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0]->bytes.size(), kMaxWebSocketFramesPerMessage);
  EXPECT_EQ(messages[1]->bytes, "next");
  EXPECT_EQ(d.counters.websocket_truncated, 1u);
}

TEST(WebSocket, FrameCutByTheStreamsEndIsCountedAndWhatCameIsSeen) {
  const std::string token = RandomToken();
  const std::string frame = WebSocketFrame(token + std::string(50, 'q'));
  auto d = DecodeWrites({WebSocketUpgrade(), frame.substr(0, frame.size() - 20)});
  EXPECT_NE(d.recorder.Find(token, std::string(kLayerWebSocketMessage)), nullptr);
  EXPECT_EQ(d.counters.websocket_truncated, 1u);
  auto header_only = DecodeWrites({WebSocketUpgrade(), frame.substr(0, 3)});
  EXPECT_EQ(header_only.counters.websocket_truncated, 1u);
}

TEST(WebSocket, InflateBombAndCorruptDeflateAreCountedAndLaterMessagesStillRead) {
  const std::string token = RandomToken();
  MessageDeflater deflater(false);
  std::string corrupt = "\xff\xff\xff\xff";  // block type 3 does not exist
  auto d = DecodeWrites({WebSocketUpgrade("permessage-deflate"),
                         WebSocketFrame(deflater.Compress(std::string(32 << 20, '\0')),
                                        {.opcode = kBinary, .rsv1 = true}),
                         WebSocketFrame(corrupt, {.rsv1 = true}),
                         WebSocketFrame(deflater.Compress(token), {.rsv1 = true})});
  EXPECT_EQ(d.counters.bombs_stopped, 1u);
  EXPECT_EQ(d.counters.websocket_inflate_failed, 1u);
  EXPECT_EQ(d.counters.websocket_truncated, 2u);
  EXPECT_NE(d.recorder.Find(token, std::string(kLayerWebSocketMessage)), nullptr);
}

TEST(WebSocket, UpgradeNeedsTheHeadersThatMakeOne) {
  WebSocketOffer offer;
  NoteWebSocketHeader("UPGRADE", "h2c, WebSocket", offer);
  EXPECT_FALSE(offer.Requested());  // no key yet
  NoteWebSocketHeader("sec-websocket-key", "  ", offer);
  EXPECT_FALSE(offer.Requested());
  NoteWebSocketHeader("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", offer);
  EXPECT_TRUE(offer.Requested());
  NoteWebSocketHeader("Sec-WebSocket-Extensions", "x-webkit-deflate-frame", offer);
  EXPECT_FALSE(offer.permessage_deflate);
  NoteWebSocketHeader("Sec-WebSocket-Extensions", "foo, PerMessage-Deflate ;x=1", offer);
  EXPECT_TRUE(offer.permessage_deflate);
  // Without Upgrade: websocket the frame bytes stay HTTP/1 (here: skipped, shown raw).
  const std::string token = RandomToken();
  auto d = DecodeWrites({"GET / HTTP/1.1\r\nSec-WebSocket-Key: abc\r\nUpgrade: h2c\r\n\r\n",
                         WebSocketFrame("x") + "\n" + token + "\n"});
  EXPECT_EQ(d.counters.websocket_upgrades, 0u);
  EXPECT_EQ(d.recorder.Find(token, std::string(kLayerWebSocketMessage)), nullptr);
}

TEST(WebSocketOverHttp2, ExtendedConnectStreamsCarryTheirOwnMessages) {
  const std::string token1 = RandomToken(), token3 = RandomToken();
  MessageDeflater deflater1;
  const std::string one = WebSocketFrame(deflater1.Compress("one " + token1), {.rsv1 = true});
  const std::string three = WebSocketFrame("three " + token3);
  std::string wire = kH2ClientStart + H2ExtendedConnect(1, "websocket", true) +
                     H2ExtendedConnect(3, "websocket", true);
  // Stream 1's frame is cut across two DATA frames with stream 3's message between them.
  wire += H2Frame(0x0, 0, 1, one.substr(0, 5));
  wire += H2Frame(0x0, 0, 3, three);
  wire += H2Frame(0x0, 0, 1, one.substr(5));
  auto d = DecodeWrites({wire}, 7);
  auto messages = d.recorder.InLayer(std::string(kLayerWebSocketMessage));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0]->bytes, "three " + token3);
  EXPECT_EQ(messages[0]->decoding, (std::vector<std::string>{"h2", "websocket"}));
  EXPECT_EQ(messages[1]->bytes, "one " + token1);
  EXPECT_EQ(messages[1]->decoding, (std::vector<std::string>{"h2", "websocket",
                                                             "permessage-deflate"}));
  EXPECT_NE(messages[0]->unit_id, messages[1]->unit_id);
  EXPECT_EQ(d.counters.websocket_upgrades, 2u);
  EXPECT_EQ(d.counters.websocket_messages, 2u);
  EXPECT_EQ(d.facts.protocol, "h2");
}

TEST(WebSocketOverHttp2, PlainConnectAndBrokenFramesStayStreamData) {
  const std::string token = RandomToken();
  std::string wire = kH2ClientStart + H2ExtendedConnect(1, "connect-udp", false) +
                     H2ExtendedConnect(3, "websocket", false);
  wire += H2Frame(0x0, 0, 1, WebSocketFrame(token));  // not WebSocket: a body as it is
  wire += H2Frame(0x0, 0, 3, "\x83\x05" + token);    // reserved opcode
  auto d = DecodeWrites({wire});
  EXPECT_TRUE(d.recorder.InLayer(std::string(kLayerWebSocketMessage)).empty());
  const auto* rest = d.recorder.Find(token, "h2.data");
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(rest->unit_id, 3u);
  EXPECT_EQ(d.counters.websocket_upgrades, 1u);
  EXPECT_EQ(d.counters.websocket_bad_frames, 1u);
}

// What the user sees: the key in a compressed, masked, fragmented message is a match on its
// connection's stream, with the decoding steps the alert lists.
TEST(WebSocket, KeyInACompressedMessageIsASecretMatchWithItsDecodingSteps) {
  credsentry::testing::KeyGenerator keys;
  const std::string key = "sk-proj-" + keys.Alnum(74) + "T3BlbkFJ" + keys.Alnum(74);
  std::vector<std::string> found;
  std::vector<std::vector<std::string>> steps;
  EgressStreams streams(4, credsentry::testing::ShippedMatcherDatabase(),
                        std::make_shared<match::KnownValues>(),
                        [&](const StreamKey&, const StreamContext&, const match::SecretMatch& m) {
                          found.push_back(m.value);
                          steps.push_back(m.decoding);
                        });
  const StreamKey k{100, StreamOrigin::kSocket, 5};
  MessageDeflater deflater;
  const std::string compressed = deflater.Compress(R"({"k":")" + key + R"("})");
  const std::vector<std::string> writes{
      WebSocketUpgrade("permessage-deflate"),
      WebSocketFrame(compressed.substr(0, 9), {.fin = false, .rsv1 = true}),
      WebSocketFrame(compressed.substr(9), {.opcode = kContinuation})};
  for (const auto& w : writes) {
    StreamWrite write;
    write.pid = 100;
    write.tid = 100;
    write.comm = "node";
    write.fd = 5;
    write.found_in = alert::FoundIn::kSocketWrite;
    write.bytes = w.size();
    streams.Record(k, write);
    streams.Scan(k, Bytes(w), Framing::kStream);
  }
  streams.Close(k);
  ASSERT_FALSE(found.empty());
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i], key);
    EXPECT_NE(std::find(steps[i].begin(), steps[i].end(), "permessage-deflate"), steps[i].end());
  }
  EXPECT_EQ(streams.decoder_totals().websocket_messages, 1u);
}

}  // namespace
}  // namespace credsentry::stream::decoders
