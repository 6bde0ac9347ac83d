// Proxy tunnel handshakes (HTTP CONNECT heads, SOCKS5 greeting + auth + request) on arbitrary
// bytes, each parser on its own and on every prefix length the first byte picks, as a client
// that sends the handshake in pieces would; then the whole decoder with that handshake ahead of
// the bytes, so what follows a tunnel is decoded too.
#include "fuzz_sink.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/proxy_handshake.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::span<const uint8_t> bytes(data, size);
  const size_t cut = data[0] % (size + 1);
  for (size_t len : {cut, size}) {
    ConnectHead head;
    if (LooksLikeHttpConnect(text.substr(0, len)) &&
        ParseConnectHead(text.substr(0, len), 4096, head) == HandshakeStatus::kComplete &&
        head.head_bytes > len) {
      __builtin_trap();  // a head longer than what it was read from
    }
    Socks5Handshake socks;
    if (LooksLikeSocks5Greeting(bytes.first(len)) &&
        ParseSocks5Handshake(bytes.first(len), socks) == HandshakeStatus::kComplete &&
        socks.handshake_bytes > len) {
      __builtin_trap();
    }
    (void)IsTunnelHostName(text.substr(0, len));
  }
  EgressDecoder decoder(fuzz::SmallLimits(), ProtocolHint::kAuto);
  auto sink = fuzz::TouchingSink();
  fuzz::FeedInPieces(data, size, [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  return 0;
}
