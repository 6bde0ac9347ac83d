// A minimal TLS 1.2-style ClientHello with SNI and ALPN, built field by field, for tests that
// need one on the wire (the decoder's own tests, and the pipeline naming a socket by it).
#pragma once

#include <string>
#include <vector>

namespace credsentry::stream::decoders::testing {

inline std::string BuildClientHello(const std::string& sni, const std::vector<std::string>& alpn) {
  auto u16 = [](size_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; };
  std::string server_name = std::string(1, '\0') + u16(sni.size()) + sni;
  std::string sni_ext =
      u16(0) + u16(server_name.size() + 2) + u16(server_name.size()) + server_name;
  std::string protos;
  for (const auto& p : alpn) protos += static_cast<char>(p.size()) + p;
  std::string alpn_ext = u16(16) + u16(protos.size() + 2) + u16(protos.size()) + protos;
  std::string extensions = sni_ext + alpn_ext;
  std::string body = "\x03\x03" + std::string(32, '\x11') + std::string(1, '\0') + u16(2) +
                     "\x13\x01" + "\x01" + std::string(1, '\0') + u16(extensions.size()) +
                     extensions;
  std::string handshake =
      std::string("\x01") + static_cast<char>(body.size() >> 16) + u16(body.size()) + body;
  return "\x16\x03\x01" + u16(handshake.size()) + handshake;
}

}  // namespace credsentry::stream::decoders::testing
