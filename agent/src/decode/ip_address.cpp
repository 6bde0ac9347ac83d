#include "decode/ip_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

namespace credsentry::decode {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsV4Mapped(std::span<const uint8_t> v6) {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), v6.begin());
}

}  // namespace

std::string IpText(uint16_t family, std::span<const uint8_t> bytes) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET && bytes.size() >= 4) {
    inet_ntop(AF_INET, bytes.data(), text, sizeof text);
  } else if (family == AF_INET6 && bytes.size() >= 16) {
    if (IsV4Mapped(bytes)) return IpText(AF_INET, bytes.subspan(12, 4));
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

SocketAddress MakeSocketAddress(uint16_t family, uint16_t port, std::span<const uint8_t> addr) {
  SocketAddress out;
  out.family = family;
  out.port = port;
  out.ip = IpText(family, addr);
  if (family == AF_INET6 && addr.size() >= 16 && IsV4Mapped(addr)) out.family = AF_INET;
  return out;
}

std::string CanonicalIp(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return "";
  const std::string z(text);  // inet_pton wants a terminated string
  uint8_t bytes[16] = {};
  if (inet_pton(AF_INET, z.c_str(), bytes) == 1) return IpText(AF_INET, bytes);
  if (inet_pton(AF_INET6, z.c_str(), bytes) == 1) return IpText(AF_INET6, bytes);
  return "";
}

}  // namespace credsentry::decode
