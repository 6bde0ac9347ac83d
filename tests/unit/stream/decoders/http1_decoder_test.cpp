#include <gtest/gtest.h>

#include "chunk_recorder.h"
#include "compress_support.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/text_codecs.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Base64;
using testing::Bytes;
using testing::ChunkRecorder;
using testing::RandomToken;

std::string Post(const std::string& headers, const std::string& body) {
  return "POST /v1/upload HTTP/1.1\r\nHost: collector.example\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Decoded {
  ChunkRecorder recorder;
  DecoderCounters counters;
  ConnectionFacts facts;
};

// Feeds the stream in one call, or split into `piece`-byte writes like a client's send() calls.
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

TEST(Http1Decoder, HeadersAreUnitsAndHostIsRecorded) {
  std::string token = RandomToken();
  auto d = Decode("GET /models HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer " + token +
                  "\r\n\r\n");
  const auto* unit = d.recorder.Find(token, "http1.header");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->bytes, "Authorization: Bearer " + token);
  EXPECT_TRUE(unit->complete);
  EXPECT_EQ(unit->unit_id, 1u);
  EXPECT_EQ(d.facts.protocol, "http1");
  EXPECT_EQ(d.facts.http_host, "api.openai.com");
  EXPECT_FALSE(d.facts.mid_stream);
}

TEST(Http1Decoder, QueryStringIsPercentDecoded) {
  std::string token = RandomToken();
  std::string encoded;
  for (char c : token) encoded += c == '-' ? std::string("%2D") : std::string(1, c);
  auto d = Decode("GET /collect?k=" + encoded + "&x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(d.recorder.Find(token, "http1.request-line"), nullptr);
  const auto* unit = d.recorder.Find(token, "decoded.percent");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "percent"}));
}

TEST(Http1Decoder, ChunkedBodyJoinsAKeySplitAcrossChunks) {
  std::string token = RandomToken();
  std::string body = "{\"key\":\"" + token + "\"}";
  size_t split = 12;  // inside the token
  auto hex = [](size_t n) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%zx", n);
    return std::string(buf);
  };
  std::string wire = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     hex(split) + ";ext=1\r\n" + body.substr(0, split) + "\r\n" +
                     hex(body.size() - split) + "\r\n" + body.substr(split) + "\r\n0\r\n\r\n";
  for (size_t piece : {size_t{0}, size_t{1}, size_t{7}}) {
    auto d = Decode(wire, piece);
    const auto* unit = d.recorder.Find(token, "http1.body");
    ASSERT_NE(unit, nullptr) << "piece " << piece;
    EXPECT_EQ(unit->bytes, body);
    EXPECT_TRUE(unit->complete);
    EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "chunked"}));
    EXPECT_EQ(d.counters.parse_errors, 0u);
  }
}

TEST(Http1Decoder, GzipBodyIsInflated) {
  std::string token = RandomToken();
  std::string body = "{\"env\":{\"OPENAI_API_KEY\":\"" + token + "\"}}";
  auto d = Decode(Post("Content-Encoding: gzip\r\n", testing::Gzip(body)), 5);
  const auto* unit = d.recorder.Find(token, "http1.body");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->bytes, body);
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "gzip"}));
}

TEST(Http1Decoder, DeflateZlibRawAndZstdBodiesAreDecoded) {
  std::string token = RandomToken();
  std::string body = "secret=" + token;
  for (auto [coding, compressed] : {std::pair{"deflate", testing::Deflate(body, 15)},
                                    std::pair{"deflate", testing::Deflate(body, -15)},
                                    std::pair{"zstd", testing::Zstd(body)}}) {
    auto d = Decode(Post(std::string("Content-Encoding: ") + coding + "\r\n", compressed));
    EXPECT_NE(d.recorder.Find(token, "http1.body"), nullptr) << coding;
  }
}

TEST(Http1Decoder, DecompressionBombIsStoppedAndCounted) {
  std::string zeros(50 << 20, '\0');
  DecoderLimits limits;
  limits.max_inflated_bytes = 4 << 20;
  auto d = Decode(Post("Content-Encoding: gzip\r\n", testing::Gzip(zeros)), 0, limits);
  EXPECT_EQ(d.counters.bombs_stopped, 1u);
  EXPECT_EQ(d.counters.truncated_units, 1u);
  auto bodies = d.recorder.InLayer("http1.body");
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_LE(bodies[0]->bytes.size(), limits.max_inflated_bytes);
  EXPECT_TRUE(bodies[0]->complete);
}

TEST(Http1Decoder, Base64JsonBodyAndDoubleBase64AreDecoded) {
  std::string token = RandomToken();
  std::string inner = "{\"anthropic\":\"" + token + "\"}";
  auto d = Decode(Post(
      "Content-Type: application/json\r\n",
      "{\"data\":\"" + Base64(inner) + "\",\"twice\":\"" + Base64(Base64("k=" + token)) + "\"}"));
  const auto* once = d.recorder.Find("{\"anthropic\":\"" + token, "decoded.base64");
  ASSERT_NE(once, nullptr);
  EXPECT_EQ(once->decoding, (std::vector<std::string>{"http1", "base64"}));
  const auto* twice = d.recorder.Find("k=" + token, "decoded.base64");
  ASSERT_NE(twice, nullptr);
  EXPECT_EQ(twice->decoding, (std::vector<std::string>{"http1", "base64", "base64"}));
}

TEST(Http1Decoder, Base64OfGzipIsUnpacked) {
  std::string token = RandomToken();
  auto d = Decode(Post("", "payload=" + Base64(testing::Gzip("AWS=" + token))));
  const auto* unit = d.recorder.Find(token, "decoded.base64-gzip");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", "base64", "gzip"}));
  // And base64 inside that gzip, as the Shai-Hulud loot nests its layers.
  std::string inner = RandomToken();
  auto nested = Decode(Post("", "payload=" + Base64(testing::Gzip("k=" + Base64("AWS=" + inner)))));
  const auto* deep = nested.recorder.Find(inner, "decoded.base64");
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(deep->decoding, (std::vector<std::string>{"http1", "base64", "gzip", "base64"}));
}

TEST(Http1Decoder, JsonEscapesAreDecoded) {
  std::string token = RandomToken();
  std::string escaped;
  for (char c : token) escaped += c == '-' ? std::string("\\u002d") : std::string(1, c);
  auto d = Decode(Post("Content-Type: application/json\r\n",
                       "{\"u\":\"https:\\/\\/x\",\"k\":\"" + escaped + "\"}"));
  const auto* unit = d.recorder.Find(token, "decoded.json");
  ASSERT_NE(unit, nullptr);
  EXPECT_NE(unit->bytes.find("https://x"), std::string::npos);
}

TEST(Http1Decoder, FormAndMultipartBodiesAreDecoded) {
  std::string token = RandomToken();
  std::string form_value = token.substr(0, 4) + "%2B" + token.substr(4);
  auto form =
      Decode(Post("Content-Type: application/x-www-form-urlencoded\r\n", "a=1&key=" + form_value));
  EXPECT_NE(form.recorder.Find(token.substr(0, 4) + "+" + token.substr(4), "decoded.form"),
            nullptr);

  std::string mime_b64 = Base64("key: " + token);
  std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"c\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      mime_b64.substr(0, 10) + "\r\n" + mime_b64.substr(10) + "\r\n--XyZ--\r\n";
  auto mp = Decode(Post("Content-Type: multipart/form-data; boundary=XyZ\r\n", multipart));
  auto parts = mp.recorder.InLayer("decoded.multipart");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->bytes, "hello");
  const auto* decoded = mp.recorder.Find("key: " + token, "decoded.base64");
  ASSERT_NE(decoded, nullptr);
  EXPECT_EQ(decoded->decoding, (std::vector<std::string>{"http1", "multipart", "base64"}));
}

TEST(Http1Decoder, BasicAuthHeaderIsBase64Decoded) {
  std::string token = RandomToken();
  auto d = Decode("GET / HTTP/1.1\r\nAuthorization: Basic " + Base64("user:" + token) + "\r\n\r\n");
  EXPECT_NE(d.recorder.Find("user:" + token, "decoded.base64"), nullptr);
}

TEST(Http1Decoder, PipelinedRequestsAreSeparateUnits) {
  std::string t1 = RandomToken(), t2 = RandomToken();
  std::string wire = Post("", "a=" + t1) + Post("", "b=" + t2) + "GET /3 HTTP/1.1\r\n\r\n";
  auto d = Decode(wire, 3);
  const auto* b1 = d.recorder.Find(t1, "http1.body");
  const auto* b2 = d.recorder.Find(t2, "http1.body");
  ASSERT_NE(b1, nullptr);
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(b1->unit_id, 1u);
  EXPECT_EQ(b2->unit_id, 2u);
  EXPECT_EQ(b2->bytes, "b=" + t2);
  EXPECT_EQ(d.counters.requests, 3u);
}

TEST(Http1Decoder, MidStreamCaptureResyncsAndPassesSkippedBytesRaw) {
  std::string t1 = RandomToken(), t2 = RandomToken();
  std::string wire = "tail of a body " + t1 + "\r\nmore\r\n" +
                     "GET /next HTTP/1.1\r\nX-Api-Key: " + t2 + "\r\n\r\n";
  auto d = Decode(wire);
  EXPECT_TRUE(d.facts.mid_stream);
  EXPECT_EQ(d.facts.protocol, "http1");
  EXPECT_NE(d.recorder.Find(t1, "raw"), nullptr);
  EXPECT_NE(d.recorder.Find(t2, "http1.header"), nullptr);
  EXPECT_GT(d.counters.skipped_bytes, 0u);
}

TEST(Http1Decoder, OversizedHeaderBlockIsTruncatedAndCounted) {
  DecoderLimits limits;
  limits.max_header_bytes = 1024;
  std::string headers;
  for (int i = 0; i < 100; ++i) headers += "X-Filler-" + std::to_string(i) + ": 0123456789\r\n";
  std::string token = RandomToken();
  auto d = Decode("GET / HTTP/1.1\r\n" + headers + "\r\nGET /2?k=" + token + " HTTP/1.1\r\n\r\n", 0,
                  limits);
  EXPECT_EQ(d.counters.truncated_units, 1u);
  EXPECT_LT(d.recorder.InLayer("http1.header").size(), 100u);
  EXPECT_NE(d.recorder.Find(token, "http1.request-line"), nullptr);  // next request still seen
}

TEST(Http1Decoder, LimitsOnBodyBytesAreHonoured) {
  DecoderLimits limits;
  limits.max_body_bytes = 1000;
  auto d = Decode(Post("", std::string(5000, 'a')), 0, limits);
  auto bodies = d.recorder.InLayer("http1.body");
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0]->bytes.size(), 1000u);
  EXPECT_EQ(d.counters.truncated_units, 1u);
}

}  // namespace
}  // namespace credsentry::stream::decoders
