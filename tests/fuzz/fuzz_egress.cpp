// The whole per-connection decoder with protocol sniffing (HTTP/1, HTTP/2 with or without the
// preface, TLS, mid-stream resync) on arbitrary bytes; the first byte picks the DNS/TCP hint.
#include "fuzz_sink.h"
#include "stream/decoders/egress_decoder.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  EgressDecoder decoder(fuzz::SmallLimits(),
                        data[0] == 0xD5 ? ProtocolHint::kDnsTcp : ProtocolHint::kAuto);
  auto sink = fuzz::TouchingSink();
  fuzz::FeedInPieces(data, size,
                     [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  return 0;
}
