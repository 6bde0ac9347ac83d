#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <memory>
#include <utility>

#include "chunk_recorder.h"
#include "compress_support.h"
#include "stream/decoders/egress_decoder.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Bytes;
using testing::ChunkRecorder;
using testing::RandomToken;

constexpr uint8_t kData = 0, kHeaders = 1, kSettings = 4, kContinuation = 9;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;
const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size());
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>(stream >> 24);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  return f + payload;
}

// An HPACK encoder with the state a real client keeps across requests on one connection.
class HpackClient {
 public:
  HpackClient() { nghttp2_hd_deflate_new(&deflater_, 4096); }
  ~HpackClient() { nghttp2_hd_deflate_del(deflater_); }
  std::string Encode(const std::vector<std::pair<std::string, std::string>>& headers) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : headers) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    auto n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                   nva.data(), nva.size());
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

std::vector<std::pair<std::string, std::string>> Request(const std::string& token,
                                                         const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "https"},
          {":authority", "evil.example"},
          {":path", path},
          {"authorization", "Bearer " + token},
          {"content-encoding", "gzip"}};
}

struct Decoded {
  ChunkRecorder recorder;
  DecoderCounters counters;
  ConnectionFacts facts;
};

Decoded Decode(const std::string& wire, size_t piece = 0, DecoderLimits limits = {}) {
  Decoded out;
  EgressDecoder decoder(limits);
  auto sink = out.recorder.Sink();
  if (piece == 0) piece = wire.size();
  for (size_t at = 0; at < wire.size(); at += piece) {
    decoder.Feed(Bytes(wire).subspan(at, std::min(piece, wire.size() - at)), sink);
  }
  out.counters = decoder.counters();
  out.facts = decoder.facts();
  return out;
}

std::vector<uint64_t> StreamsWithHeader(const ChunkRecorder& recorder, const std::string& line) {
  std::vector<uint64_t> streams;
  for (const auto* unit : recorder.InLayer("h2.header")) {
    if (unit->bytes == line) streams.push_back(unit->unit_id);
  }
  return streams;
}

// nghttp2 (curl, node) sends authorization as a never-indexed, Huffman-coded literal.
TEST(Http2Decoder, HuffmanCodedAuthorizationOnEveryRequestDecodes) {
  std::string token = RandomToken();
  HpackClient client;
  std::string block1 = client.Encode(Request(token, "/v1/a"));
  std::string block2 = client.Encode(Request(token, "/v1/b"));
  ASSERT_EQ(block1.find(token), std::string::npos);  // Huffman-coded on the wire
  std::string wire = kPreface + Frame(kSettings, 0, 0, "") +
                     Frame(kHeaders, kEndHeaders | kEndStream, 1, block1) +
                     Frame(kHeaders, kEndHeaders | kEndStream, 3, block2);
  for (size_t piece : {size_t{0}, size_t{1}, size_t{10}}) {
    auto d = Decode(wire, piece);
    EXPECT_EQ(d.facts.protocol, "h2");
    EXPECT_EQ(d.facts.h2_authority, "evil.example");
    EXPECT_EQ(StreamsWithHeader(d.recorder, "authorization: Bearer " + token),
              (std::vector<uint64_t>{1, 3}))
        << "piece " << piece;
    EXPECT_EQ(d.counters.h2_hpack_errors, 0u);
    EXPECT_EQ(d.counters.requests, 2u);
  }
}

// Encoders that index authorization (allowed by RFC 7541) send it on the second request as a
// single byte: an index into the dynamic table filled by the first request.
TEST(Http2Decoder, IndexedAuthorizationOnTheSecondRequestDecodes) {
  std::string token = RandomToken();
  // Borrow nghttp2's Huffman coder: "user-agent" (static index 58) is literal-with-indexing,
  // 0x40 | 58; swapping the name index for authorization's (23) keeps the coded value.
  HpackClient huffman;
  std::string literal = huffman.Encode({{"user-agent", "Bearer " + token}});
  ASSERT_EQ(static_cast<uint8_t>(literal[0]), 0x40 | 58);
  ASSERT_NE(static_cast<uint8_t>(literal[1]) & 0x80, 0);  // H bit: the value is Huffman-coded
  literal[0] = static_cast<char>(0x40 | 23);
  // :method POST (3), :scheme https (7), :path / (4) from the static table.
  std::string block1 = "\x83\x87\x84" + literal;
  std::string block2 = "\x83\x87\x84\xbe";  // 0x80 | 62: the newest dynamic entry
  std::string wire = kPreface + Frame(kHeaders, kEndHeaders | kEndStream, 1, block1) +
                     Frame(kHeaders, kEndHeaders | kEndStream, 3, block2);
  auto d = Decode(wire);
  EXPECT_EQ(StreamsWithHeader(d.recorder, "authorization: Bearer " + token),
            (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(d.counters.h2_hpack_errors, 0u);

  // Without the first request (capture began later) the index cannot be resolved: counted.
  auto late = Decode(kPreface + Frame(kHeaders, kEndHeaders | kEndStream, 3, block2));
  EXPECT_EQ(late.counters.h2_hpack_errors, 1u);
  EXPECT_EQ(late.recorder.Find(token), nullptr);
}

TEST(Http2Decoder, GzipDataWithPaddingAndPriorityFlagsDecodes) {
  std::string token = RandomToken();
  std::string body = "{\"key\":\"" + token + "\"}";
  std::string gz = testing::Gzip(body);
  HpackClient client;
  std::string block = client.Encode(Request("x", "/upload"));
  std::string headers_payload = std::string(1, '\x03') + std::string(5, '\0') + block +
                                std::string(3, '\0');  // pad length, priority, block, padding
  size_t half = gz.size() / 2;
  std::string data1 = std::string(1, '\x02') + gz.substr(0, half) + std::string(2, '\0');
  std::string wire = kPreface +
                     Frame(kHeaders, kEndHeaders | kPadded | kPriority, 1, headers_payload) +
                     Frame(kData, kPadded, 1, data1) + Frame(kData, kEndStream, 1, gz.substr(half));
  auto d = Decode(wire, 3);
  const auto* unit = d.recorder.Find(token, "h2.data");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->bytes, body);
  EXPECT_TRUE(unit->complete);
  EXPECT_EQ(unit->unit_id, 1u);
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"h2", "gzip"}));
  EXPECT_EQ(d.counters.parse_errors, 0u);
}

TEST(Http2Decoder, HeaderBlockSplitAcrossContinuationFrames) {
  std::string token = RandomToken();
  HpackClient client;
  std::string block = client.Encode(Request(token, "/c"));
  std::string wire = kPreface + Frame(kHeaders, kEndStream, 1, block.substr(0, 7)) +
                     Frame(kContinuation, 0, 1, block.substr(7, 10)) +
                     Frame(kContinuation, kEndHeaders, 1, block.substr(17));
  auto d = Decode(wire);
  EXPECT_NE(d.recorder.Find("authorization: Bearer " + token, "h2.header"), nullptr);
  EXPECT_EQ(d.counters.h2_hpack_errors, 0u);
}

TEST(Http2Decoder, InterleavedStreamsKeepTheirBodiesApart) {
  std::string t1 = RandomToken(), t3 = RandomToken();
  HpackClient client;
  std::vector<std::pair<std::string, std::string>> plain = {
      {":method", "POST"}, {":path", "/"}, {":authority", "a"}};
  std::string wire = kPreface + Frame(kHeaders, kEndHeaders, 1, client.Encode(plain)) +
                     Frame(kHeaders, kEndHeaders, 3, client.Encode(plain)) +
                     Frame(kData, 0, 1, t1.substr(0, 10)) + Frame(kData, 0, 3, t3.substr(0, 5)) +
                     Frame(kData, kEndStream, 1, t1.substr(10)) +
                     Frame(kData, kEndStream, 3, t3.substr(5));
  auto d = Decode(wire);
  const auto* b1 = d.recorder.Find(t1, "h2.data");
  const auto* b3 = d.recorder.Find(t3, "h2.data");
  ASSERT_NE(b1, nullptr);
  ASSERT_NE(b3, nullptr);
  EXPECT_EQ(b1->bytes, t1);
  EXPECT_EQ(b3->bytes, t3);
  EXPECT_EQ(b3->unit_id, 3u);
}

TEST(Http2Decoder, MidStreamCaptureResyncsOnFramesAndCountsLostHpackState) {
  std::string t1 = RandomToken(), t2 = RandomToken();
  HpackClient client;
  client.Encode(Request(t1, "/1"));  // request 1 happened before the capture began
  std::string block2 = client.Encode(Request(t1, "/2"));
  std::string wire = std::string("\x17\x42 tail of an earlier frame") +
                     Frame(kHeaders, kEndHeaders, 3, block2) +
                     Frame(kData, kEndStream, 3, testing::Gzip("k=" + t2));
  auto d = Decode(wire);
  EXPECT_TRUE(d.facts.mid_stream);
  EXPECT_EQ(d.facts.protocol, "h2");
  EXPECT_GE(d.counters.h2_hpack_errors, 1u);  // the indexed headers of request 2 are unknowable
  EXPECT_GT(d.counters.skipped_bytes, 0u);
  EXPECT_NE(d.recorder.Find("k=" + t2, "h2.data"), nullptr);
}

TEST(Http2Decoder, StreamsBeyondTheCapAreEvictedAndCounted) {
  DecoderLimits limits;
  limits.max_h2_streams = 4;
  HpackClient client;
  std::string wire = kPreface;
  for (uint32_t id = 1; id <= 19; id += 2) {
    wire += Frame(kHeaders, kEndHeaders, id, client.Encode({{":method", "POST"}, {":path", "/"}}));
    wire += Frame(kData, 0, id, "part-" + std::to_string(id));
  }
  auto d = Decode(wire, 0, limits);
  EXPECT_EQ(d.counters.h2_streams_dropped, 6u);
  size_t complete = 0;
  for (const auto* unit : d.recorder.InLayer("h2.data")) complete += unit->complete ? 1 : 0;
  EXPECT_EQ(complete, 6u);  // evicted streams' bodies were closed for the matcher
}

TEST(Http2Decoder, GarbageAfterThePrefaceIsCountedNotFatal) {
  std::string wire = kPreface + Frame(kHeaders, kEndHeaders, 1, "\xff\xff\xff\xff\xff\xff") +
                     Frame(kData, kPadded, 1, "\x7f");
  auto d = Decode(wire);
  EXPECT_EQ(d.counters.h2_hpack_errors, 1u);
  EXPECT_EQ(d.counters.parse_errors, 1u);
}

TEST(Http2Decoder, EmptyPaddedDataFrameDoesNotSwallowTheNextFrame) {
  std::string token = RandomToken();
  HpackClient client;
  std::string wire =
      kPreface + Frame(kData, kPadded, 1, "") +
      Frame(kHeaders, kEndHeaders | kEndStream, 3, client.Encode(Request(token, "/")));
  auto d = Decode(wire);
  EXPECT_EQ(d.counters.parse_errors, 1u);
  EXPECT_NE(d.recorder.Find("authorization: Bearer " + token, "h2.header"), nullptr);
}

}  // namespace
}  // namespace credsentry::stream::decoders
