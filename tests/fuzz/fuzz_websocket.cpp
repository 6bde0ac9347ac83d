// WebSocket frames after an upgrade request, on arbitrary bytes: the first byte picks whether
// permessage-deflate was offered, the rest is the client's frames in pieces the input chooses.
// The decoder alone, then the whole egress decoder with the upgrade request ahead of the bytes
// (so a bad frame's hand-back to HTTP/1, and upgrades again after it, are reached too).
#include <string>

#include "fuzz_sink.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/websocket_decoder.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool deflate = (data[0] & 0x80) != 0;
  const DecoderLimits limits = fuzz::SmallLimits();
  auto sink = fuzz::TouchingSink();
  {
    DecoderCounters counters;
    TransformBudget budget(limits.max_transform_bytes);
    WebSocketOffer offer{.upgrade = true, .key = true, .permessage_deflate = deflate};
    WebSocketDecoder decoder(offer, {"http1"}, limits, counters, budget);
    bool ok = true;
    fuzz::FeedInPieces(data, size, [&](std::span<const uint8_t> piece) {
      if (ok) ok = decoder.Feed(piece, sink);
    });
    if (ok) {
      decoder.Finish();
    } else if (decoder.TakeUndecoded().size() > size) {
      __builtin_trap();  // handed back more than it was given
    }
  }
  std::string upgrade =
      "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  if (deflate) upgrade += "Sec-WebSocket-Extensions: permessage-deflate\r\n";
  upgrade += "\r\n";
  EgressDecoder decoder(limits, ProtocolHint::kAuto);
  decoder.Feed({reinterpret_cast<const uint8_t*>(upgrade.data()), upgrade.size()}, sink);
  fuzz::FeedInPieces(data, size, [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  decoder.Finish();
  return 0;
}
