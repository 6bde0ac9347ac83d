#include "stream/decoders/proxy_handshake.h"

#include <sys/socket.h>

#include <algorithm>
#include <charconv>

#include "decode/ip_address.h"

namespace credsentry::stream::decoders {
namespace {

constexpr std::string_view kConnect = "CONNECT ";

bool ParsePort(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// A name is kept as written but in lower case: hosts compare case-insensitively, and the
// expected-destination globs are lower case.
std::string LowerName(std::string_view host) {
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "host:port", "1.2.3.4:port" or "[v6]:port" (RFC 9110 authority-form: a port is required).
bool ParseAuthority(std::string_view authority, TunnelTarget& target) {
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() ||
        authority[close + 1] != ':') {
      return false;
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
    std::string ip = decode::CanonicalIp(host);
    if (ip.empty() || ip.find(':') == std::string::npos) return false;  // brackets hold IPv6
    target.host = std::move(ip);
    target.host_is_address = true;
  } else {
    size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos || authority.find(':') != colon) return false;
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (std::string ip = decode::CanonicalIp(host); !ip.empty()) {
      target.host = std::move(ip);
      target.host_is_address = true;
    } else if (IsTunnelHostName(host)) {
      target.host = LowerName(host);
      target.host_is_address = false;
    } else {
      return false;
    }
  }
  return ParsePort(port, target.port);
}

}  // namespace

bool IsTunnelHostName(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') {
    return false;
  }
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return host.find("..") == std::string_view::npos;
}

bool LooksLikeHttpConnect(std::string_view bytes) {
  size_t n = std::min(bytes.size(), kConnect.size());
  return n > 0 && bytes.substr(0, n) == kConnect.substr(0, n);
}

bool LooksLikeSocks5Greeting(std::span<const uint8_t> bytes) {
  if (bytes.empty() || bytes[0] != 0x05) return false;
  if (bytes.size() < 2) return true;
  const size_t methods = bytes[1];
  if (methods == 0) return false;
  for (size_t i = 2; i < bytes.size() && i < 2 + methods; ++i) {
    if (bytes[i] == 0xff) return false;  // "no acceptable method" is the server's word only
  }
  return true;
}

HandshakeStatus ParseConnectHead(std::string_view bytes, size_t max_head, ConnectHead& out) {
  size_t eol = bytes.find("\r\n");
  if (eol == std::string_view::npos) {
    return bytes.size() > max_head ? HandshakeStatus::kInvalid : HandshakeStatus::kNeedMore;
  }
  // CONNECT SP authority SP HTTP/1.x: one space each, nothing else on the line.
  std::string_view line = bytes.substr(0, eol);
  if (line.substr(0, kConnect.size()) != kConnect) return HandshakeStatus::kInvalid;
  line.remove_prefix(kConnect.size());
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return HandshakeStatus::kInvalid;
  std::string_view version = line.substr(sp + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return HandshakeStatus::kInvalid;
  TunnelTarget target;
  target.kind = alert::ProxyKind::kHttpConnect;
  if (!ParseAuthority(line.substr(0, sp), target)) return HandshakeStatus::kInvalid;
  // Headers up to the blank line; each must be "name: value" without control bytes in the name.
  size_t at = eol + 2;
  for (;;) {
    size_t next = bytes.find("\r\n", at);
    if (next == std::string_view::npos) {
      return bytes.size() > max_head ? HandshakeStatus::kInvalid : HandshakeStatus::kNeedMore;
    }
    if (next + 2 > max_head) return HandshakeStatus::kInvalid;
    if (next == at) {
      out.target = std::move(target);
      out.head_bytes = next + 2;
      return HandshakeStatus::kComplete;
    }
    std::string_view header = bytes.substr(at, next - at);
    size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos) return HandshakeStatus::kInvalid;
    for (char c : header.substr(0, colon)) {
      if (c <= ' ' || c == 0x7f) return HandshakeStatus::kInvalid;
    }
    at = next + 2;
  }
}

HandshakeStatus ParseSocks5Handshake(std::span<const uint8_t> bytes, Socks5Handshake& out) {
  auto need = [&](size_t n) { return bytes.size() >= n; };
  // Greeting: VER NMETHODS METHODS...
  if (!LooksLikeSocks5Greeting(bytes)) return HandshakeStatus::kInvalid;
  if (!need(2) || !need(2 + size_t{bytes[1]})) return HandshakeStatus::kNeedMore;
  bool offers_password = false;
  for (size_t i = 0; i < bytes[1]; ++i) offers_password |= bytes[2 + i] == 0x02;
  size_t at = 2 + bytes[1];
  if (!need(at + 1)) return HandshakeStatus::kNeedMore;
  // RFC 1929 username/password (version 1), sent only when the proxy chose method 2. We cannot
  // see that choice; the version byte tells the step apart from the request (version 5).
  if (bytes[at] == 0x01) {
    if (!offers_password) return HandshakeStatus::kInvalid;
    if (!need(at + 2)) return HandshakeStatus::kNeedMore;
    size_t ulen = bytes[at + 1];
    if (ulen == 0) return HandshakeStatus::kInvalid;
    if (!need(at + 2 + ulen + 1)) return HandshakeStatus::kNeedMore;
    size_t plen = bytes[at + 2 + ulen];
    if (!need(at + 3 + ulen + plen)) return HandshakeStatus::kNeedMore;
    const char* base = reinterpret_cast<const char*>(bytes.data());
    out.username = std::string_view(base + at + 2, ulen);
    out.password = std::string_view(base + at + 3 + ulen, plen);
    at += 3 + ulen + plen;
    if (!need(at + 1)) return HandshakeStatus::kNeedMore;
  }
  // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
  if (bytes[at] != 0x05) return HandshakeStatus::kInvalid;
  if (!need(at + 4)) return HandshakeStatus::kNeedMore;
  const uint8_t command = bytes[at + 1];
  if (command < 1 || command > 3 || bytes[at + 2] != 0x00) return HandshakeStatus::kInvalid;
  const uint8_t atyp = bytes[at + 3];
  TunnelTarget target;
  target.kind = alert::ProxyKind::kSocks5;
  size_t addr_at = at + 4;
  size_t addr_len = 0;
  switch (atyp) {
    case 0x01:
      addr_len = 4;
      break;
    case 0x04:
      addr_len = 16;
      break;
    case 0x03:
      if (!need(addr_at + 1)) return HandshakeStatus::kNeedMore;
      addr_len = bytes[addr_at];
      if (addr_len == 0) return HandshakeStatus::kInvalid;
      ++addr_at;
      break;
    default:
      return HandshakeStatus::kInvalid;
  }
  if (!need(addr_at + addr_len + 2)) return HandshakeStatus::kNeedMore;
  auto addr = bytes.subspan(addr_at, addr_len);
  if (atyp == 0x03) {
    std::string_view name(reinterpret_cast<const char*>(addr.data()), addr.size());
    // A client may write an address as a "domain" (curl --socks5-hostname with an IP URL).
    if (std::string ip = decode::CanonicalIp(name); !ip.empty()) {
      target.host = std::move(ip);
      target.host_is_address = true;
    } else if (IsTunnelHostName(name)) {
      target.host = LowerName(name);
    } else {
      return HandshakeStatus::kInvalid;
    }
  } else {
    target.host = decode::IpText(atyp == 0x01 ? AF_INET : AF_INET6, addr);
    if (target.host.empty()) return HandshakeStatus::kInvalid;
    target.host_is_address = true;
  }
  size_t port_at = addr_at + addr_len;
  target.port = static_cast<uint16_t>((bytes[port_at] << 8) | bytes[port_at + 1]);
  if (target.port == 0 && command == 1) return HandshakeStatus::kInvalid;
  out.target = std::move(target);
  out.command = command;
  out.handshake_bytes = port_at + 2;
  return HandshakeStatus::kComplete;
}

}  // namespace credsentry::stream::decoders
