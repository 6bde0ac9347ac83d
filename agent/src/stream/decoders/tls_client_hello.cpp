#include "stream/decoders/tls_client_hello.h"

#include <string_view>

namespace credsentry::stream::decoders {
namespace {

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kClientHelloType = 0x01;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr size_t kMaxHandshake = 64 << 10;  // no real ClientHello comes close

// Bounds-checked reader: every read fails once past the end, so parsing code checks once.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool U8(uint32_t& v) { return Int(1, v); }
  bool U16(uint32_t& v) { return Int(2, v); }
  bool U24(uint32_t& v) { return Int(3, v); }
  bool Bytes(size_t n, std::span<const uint8_t>& out) {
    if (n > b_.size() - at_) return false;
    out = b_.subspan(at_, n);
    at_ += n;
    return true;
  }
  bool Skip(size_t n) {
    std::span<const uint8_t> ignored;
    return Bytes(n, ignored);
  }
  bool empty() const { return at_ == b_.size(); }

 private:
  bool Int(size_t n, uint32_t& v) {
    if (n > b_.size() - at_) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | b_[at_++];
    return true;
  }
  std::span<const uint8_t> b_;
  size_t at_ = 0;
};

std::string AsString(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

bool ParseServerName(std::span<const uint8_t> ext, ClientHello& out) {
  Reader r(ext);
  uint32_t list_len;
  std::span<const uint8_t> list;
  if (!r.U16(list_len) || !r.Bytes(list_len, list)) return false;
  Reader names(list);
  while (!names.empty()) {
    uint32_t type, len;
    std::span<const uint8_t> name;
    if (!names.U8(type) || !names.U16(len) || !names.Bytes(len, name)) return false;
    if (type == 0 && out.sni.empty()) out.sni = AsString(name);  // host_name
  }
  return true;
}

bool ParseAlpn(std::span<const uint8_t> ext, ClientHello& out) {
  Reader r(ext);
  uint32_t list_len;
  std::span<const uint8_t> list;
  if (!r.U16(list_len) || !r.Bytes(list_len, list)) return false;
  Reader protos(list);
  while (!protos.empty()) {
    uint32_t len;
    std::span<const uint8_t> proto;
    if (!protos.U8(len) || !protos.Bytes(len, proto)) return false;
    out.alpn.push_back(AsString(proto));
  }
  return true;
}

bool ParseBody(std::span<const uint8_t> body, ClientHello& out) {
  Reader r(body);
  uint32_t len;
  if (!r.Skip(2 + 32)) return false;              // legacy_version, random
  if (!r.U8(len) || !r.Skip(len)) return false;   // session id
  if (!r.U16(len) || !r.Skip(len)) return false;  // cipher suites
  if (!r.U8(len) || !r.Skip(len)) return false;   // compression methods
  if (r.empty()) return true;                     // no extensions (very old clients)
  std::span<const uint8_t> extensions;
  if (!r.U16(len) || !r.Bytes(len, extensions)) return false;
  Reader ext(extensions);
  while (!ext.empty()) {
    uint32_t type, ext_len;
    std::span<const uint8_t> data;
    if (!ext.U16(type) || !ext.U16(ext_len) || !ext.Bytes(ext_len, data)) return false;
    if (type == kExtServerName && !ParseServerName(data, out)) return false;
    if (type == kExtAlpn && !ParseAlpn(data, out)) return false;
  }
  return true;
}

}  // namespace

bool LooksLikeTlsHandshake(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return false;
  if (bytes[0] != kHandshakeRecord) return false;
  if (bytes.size() >= 2 && bytes[1] != 0x03) return false;
  if (bytes.size() >= 3 && bytes[2] > 0x04) return false;
  return true;
}

ClientHelloStatus ParseClientHelloPrefix(std::span<const uint8_t> record_bytes, ClientHello& out) {
  // Reassemble the handshake message from as many handshake records as it spans.
  std::string handshake;
  size_t at = 0;
  for (;;) {
    if (handshake.size() >= 4) {
      size_t need = 4 + ((size_t{static_cast<uint8_t>(handshake[1])} << 16) |
                         (size_t{static_cast<uint8_t>(handshake[2])} << 8) |
                         static_cast<uint8_t>(handshake[3]));
      if (static_cast<uint8_t>(handshake[0]) != kClientHelloType || need > kMaxHandshake) {
        return ClientHelloStatus::kInvalid;
      }
      if (handshake.size() >= need) {
        auto* p = reinterpret_cast<const uint8_t*>(handshake.data());
        out = ClientHello{};
        return ParseBody({p + 4, need - 4}, out) ? ClientHelloStatus::kComplete
                                                 : ClientHelloStatus::kInvalid;
      }
    }
    if (record_bytes.size() - at < 5) return ClientHelloStatus::kNeedMore;
    const uint8_t* h = record_bytes.data() + at;
    if (!LooksLikeTlsHandshake({h, 3})) return ClientHelloStatus::kInvalid;
    size_t len = (size_t{h[3]} << 8) | h[4];
    if (len == 0 || len > (16 << 10) + 2048) return ClientHelloStatus::kInvalid;
    if (record_bytes.size() - at - 5 < len) {
      // Take what is there so the ClientHello type is judged early, then ask for more.
      if (handshake.size() < 4) {
        size_t have = record_bytes.size() - at - 5;
        std::string probe = handshake;
        probe.append(reinterpret_cast<const char*>(h + 5), have);
        if (!probe.empty() && static_cast<uint8_t>(probe[0]) != kClientHelloType) {
          return ClientHelloStatus::kInvalid;
        }
      }
      return ClientHelloStatus::kNeedMore;
    }
    handshake.append(reinterpret_cast<const char*>(h + 5), len);
    at += 5 + len;
  }
}

std::optional<ClientHello> ParseClientHello(std::span<const uint8_t> record_bytes) {
  ClientHello hello;
  if (ParseClientHelloPrefix(record_bytes, hello) != ClientHelloStatus::kComplete) {
    return std::nullopt;
  }
  return hello;
}

}  // namespace credsentry::stream::decoders
