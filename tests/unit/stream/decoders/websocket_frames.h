// Test helper: writes WebSocket client traffic the way browsers and libraries do (RFC 6455
// frames, masked, RFC 7692 permessage-deflate, RFC 8441 extended CONNECT on HTTP/2), for the
// decoder tests and the fuzz target.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace credsentry::stream::decoders::testing {

inline std::string WebSocketUpgrade(const std::string& extensions = "") {
  std::string req =
      "GET /socket HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  if (!extensions.empty()) req += "Sec-WebSocket-Extensions: " + extensions + "\r\n";
  return req + "\r\n";
}

struct FrameSpec {
  uint8_t opcode = 0x1;
  bool fin = true;
  bool rsv1 = false;
  bool masked = true;
  int length_bytes = -1;  // -1: shortest form; 0, 2 or 8 forces the 7/16/64-bit form
  uint32_t mask = 0x37fa213d;
};

inline std::string WebSocketFrame(const std::string& payload, FrameSpec spec = {}) {
  std::string f;
  f.push_back(static_cast<char>((spec.fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | spec.opcode));
  const uint8_t mask_bit = spec.masked ? 0x80 : 0;
  int form = spec.length_bytes;
  if (form < 0) form = payload.size() < 126 ? 0 : payload.size() <= 0xffff ? 2 : 8;
  if (form == 0) {
    f.push_back(static_cast<char>(mask_bit | payload.size()));
  } else {
    f.push_back(static_cast<char>(mask_bit | (form == 2 ? 126 : 127)));
    for (int i = form - 1; i >= 0; --i) {
      f.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
    }
  }
  uint8_t key[4] = {static_cast<uint8_t>(spec.mask >> 24), static_cast<uint8_t>(spec.mask >> 16),
                    static_cast<uint8_t>(spec.mask >> 8), static_cast<uint8_t>(spec.mask)};
  if (spec.masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ (spec.masked ? key[i & 3] : 0)));
  }
  return f;
}

// A permessage-deflate compressor: one raw deflate stream, each message sync-flushed and its
// 00 00 ff ff tail stripped. With context takeover later messages point back into earlier ones.
class MessageDeflater {
 public:
  explicit MessageDeflater(bool context_takeover = true) : takeover_(context_takeover) {
    deflateInit2(&zs_, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  }
  ~MessageDeflater() { deflateEnd(&zs_); }
  MessageDeflater(const MessageDeflater&) = delete;
  MessageDeflater& operator=(const MessageDeflater&) = delete;

  std::string Compress(const std::string& message) {
    if (!takeover_) deflateReset(&zs_);
    std::string out(deflateBound(&zs_, message.size()) + 64, '\0');
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    zs_.avail_in = static_cast<uInt>(message.size());
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = static_cast<uInt>(out.size());
    deflate(&zs_, Z_SYNC_FLUSH);
    out.resize(out.size() - zs_.avail_out);
    if (out.size() >= 4 && out.compare(out.size() - 4, 4, std::string("\0\0\xff\xff", 4)) == 0) {
      out.resize(out.size() - 4);
    }
    return out;
  }

 private:
  z_stream zs_{};
  bool takeover_;
};

inline std::string H2Frame(uint8_t type, uint8_t flags, uint32_t stream,
                           const std::string& payload) {
  const size_t n = payload.size();
  const char head[9] = {char(n >> 16),      char(n >> 8),       char(n),
                        char(type),         char(flags),        char(stream >> 24),
                        char(stream >> 16), char(stream >> 8), char(stream)};
  return std::string(head, 9) + payload;
}

inline const std::string kH2ClientStart =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + H2Frame(0x4, 0, 0, "");

// One header as an HPACK literal without indexing (names and values under 128 bytes).
inline std::string H2Literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');
  out += char(name.size());
  out += name;
  out += char(value.size());
  out += value;
  return out;
}

// HEADERS of an extended CONNECT, as HPACK literals without indexing (short names and values).
inline std::string H2ExtendedConnect(uint32_t stream, std::string_view protocol, bool deflate) {
  std::string block;
  auto literal = [&](std::string_view name, std::string_view value) {
    block += H2Literal(name, value);
  };
  literal(":method", "CONNECT");
  literal(":protocol", protocol);
  literal(":scheme", "https");
  literal(":path", "/chat");
  literal(":authority", "ws.test");
  if (deflate) literal("sec-websocket-extensions", "permessage-deflate");
  return H2Frame(0x1, 0x4, stream, block);
}

}  // namespace credsentry::stream::decoders::testing
