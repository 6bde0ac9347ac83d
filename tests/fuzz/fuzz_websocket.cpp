// WebSocket frames after an upgrade request, on arbitrary bytes: the first byte picks whether
// permessage-deflate was offered, the rest is the client's frames in pieces the input chooses.
// The decoder alone, then the whole egress decoder with the upgrade request ahead of the bytes
// (so a bad frame's hand-back to HTTP/1, and upgrades again after it, are reached too), then
// as the DATA of an HTTP/2 extended CONNECT stream.
#include <string>

#include "fuzz_sink.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/websocket_decoder.h"
#include "tests/unit/stream/decoders/websocket_frames.h"

using namespace credsentry::stream::decoders;
using testing::H2ExtendedConnect;
using testing::H2Frame;
using testing::kH2ClientStart;
using testing::WebSocketUpgrade;

namespace {

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

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
      decoder.Finish(sink);
    } else if (decoder.TakeUndecoded().size() > size) {
      __builtin_trap();  // handed back more than it was given
    }
  }
  const std::string upgrade = WebSocketUpgrade(deflate ? "permessage-deflate" : "");
  EgressDecoder decoder(limits, ProtocolHint::kAuto);
  decoder.Feed(AsBytes(upgrade), sink);
  fuzz::FeedInPieces(data, size,
                     [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  decoder.Finish(sink);

  // RFC 8441: the same bytes as DATA of an HTTP/2 extended CONNECT stream, a frame per piece.
  EgressDecoder h2(limits, ProtocolHint::kAuto);
  h2.Feed(AsBytes(kH2ClientStart + H2ExtendedConnect(1, "websocket", deflate)), sink);
  fuzz::FeedInPieces(data, size, [&](std::span<const uint8_t> piece) {
    h2.Feed(AsBytes(H2Frame(0x0, 0, 1, std::string(piece.begin(), piece.end()))), sink);
  });
  h2.Finish(sink);
  return 0;
}
