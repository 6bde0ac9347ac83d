// TLS ClientHello from plain socket writes: the server name (SNI) and ALPN a client asked for,
// which name the destination even for TLS stacks whose plaintext we cannot capture.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace credsentry::stream::decoders {

struct ClientHello {
  std::string sni;
  std::vector<std::string> alpn;
};

enum class ClientHelloStatus { kComplete, kNeedMore, kInvalid };

// `record_bytes` starts at a TLS record header; the ClientHello may span several records.
// kNeedMore when the bytes end before the ClientHello does.
ClientHelloStatus ParseClientHelloPrefix(std::span<const uint8_t> record_bytes, ClientHello& out);

std::optional<ClientHello> ParseClientHello(std::span<const uint8_t> record_bytes);

// True when the bytes begin like a TLS handshake record (0x16 0x03 0x00..0x04).
bool LooksLikeTlsHandshake(std::span<const uint8_t> bytes);

}  // namespace credsentry::stream::decoders
