// DNS responses built byte by byte for tests: one address record per answer, the owner name
// compressed to the question.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace credsentry::testing_dns {

inline std::string U16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
inline std::string U32(uint32_t v) { return U16(v >> 16) + U16(v & 0xffff); }

inline std::string EncodeName(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - start) + name.substr(start, dot - start);
    start = dot + 1;
  }
  return out + std::string(1, '\0');
}

inline int FamilyOf(const char* ip) { return std::strchr(ip, ':') ? AF_INET6 : AF_INET; }

// A response to "A <name>" (or "AAAA <name>" for an IPv6 `ip`) with one address record.
inline std::string Answer(const std::string& name, const char* ip, uint32_t ttl) {
  uint8_t a[16] = {};
  inet_pton(FamilyOf(ip), ip, a);
  const bool v6 = FamilyOf(ip) == AF_INET6;
  const size_t type = v6 ? 28 : 1, len = v6 ? 16 : 4;
  return U16(0x4242) + U16(0x8180) + U16(1) + U16(1) + U16(0) + U16(0) + EncodeName(name) +
         U16(type) + U16(1) + "\xc0\x0c" + U16(type) + U16(1) + U32(ttl) + U16(len) +
         std::string(reinterpret_cast<const char*>(a), len);
}

// A query for "A <name>".
inline std::string Query(const std::string& name, uint16_t id = 0x1234) {
  return U16(id) + U16(0x0100) + U16(1) + U16(0) + U16(0) + U16(0) + EncodeName(name) + U16(1) +
         U16(1);
}

// Encoders as DNS tunnels use them: lower-case hex, lower-case base32 without padding.
inline std::string Hex(const std::string& s) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += {k[c >> 4], k[c & 15]};
  return out;
}

inline std::string Base32(const std::string& s) {
  static const char* k = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : s) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) out += k[(acc >> (bits -= 5)) & 31];
  }
  if (bits > 0) out += k[(acc << (5 - bits)) & 31];
  return out;
}

// The same message as DNS over TCP sends it: a 2-byte length first.
inline std::string Framed(const std::string& message) { return U16(message.size()) + message; }

}  // namespace credsentry::testing_dns
