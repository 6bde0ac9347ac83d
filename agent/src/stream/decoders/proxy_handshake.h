// The two ways a client asks a proxy for a tunnel, read from the client's side only: an HTTP
// CONNECT request head, and a SOCKS5 greeting (with its optional username/password step) and
// CONNECT request. We never see the proxy's answer, so these parsers are strict: anything that
// is not exactly the protocol is kInvalid and the connection is decoded as it would be without a
// proxy. What they return is the target the client named, which is a claim until the proxy
// carries the bytes there; callers decide how far to trust it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders {

enum class HandshakeStatus { kNeedMore, kComplete, kInvalid };

// The longest SOCKS5 handshake: greeting (2 + 255), username/password (3 + 255 + 255), request
// (4 + 1 + 255 + 2). Anything held longer than this is not SOCKS5.
inline constexpr size_t kMaxSocks5Handshake = 257 + 513 + 262;

// True while `bytes` could still be the start of "CONNECT ".
bool LooksLikeHttpConnect(std::string_view bytes);
// True while `bytes` could still be a SOCKS5 greeting (05, 1..255 methods, none of them FF).
bool LooksLikeSocks5Greeting(std::span<const uint8_t> bytes);

struct ConnectHead {
  TunnelTarget target;
  size_t head_bytes = 0;  // the request line and headers, blank line included
};

// "CONNECT host:port HTTP/1.x" then headers up to the blank line. kNeedMore while the blank
// line has not come and fewer than `max_head` bytes are held; over that it is kInvalid.
HandshakeStatus ParseConnectHead(std::string_view bytes, size_t max_head, ConnectHead& out);

struct Socks5Handshake {
  TunnelTarget target;
  size_t handshake_bytes = 0;
  uint8_t command = 0;          // 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE
  std::string_view username;    // RFC 1929 step, when the client sent one (views into input)
  std::string_view password;
};

// Greeting, optional RFC 1929 username/password, then the request (ATYP 1, 3 or 4). A request
// whose command is not CONNECT is kComplete with `command` saying which; the caller decides.
HandshakeStatus ParseSocks5Handshake(std::span<const uint8_t> bytes, Socks5Handshake& out);

// A proxy's target host as written in an authority or a SOCKS5 domain: letters, digits, '-',
// '_' and '.', at most 253 characters. Address literals are checked by CanonicalIp instead.
bool IsTunnelHostName(std::string_view host);

}  // namespace credsentry::stream::decoders
