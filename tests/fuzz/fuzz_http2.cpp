// HTTP/2 frames + HPACK (nghttp2 inflater) + per-stream bodies on arbitrary bytes.
#include "fuzz_sink.h"
#include "stream/decoders/http2_decoder.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  DecoderLimits limits = fuzz::SmallLimits();
  DecoderCounters counters;
  ConnectionFacts facts;
  TransformBudget budget(limits.max_transform_bytes);
  Http2Decoder decoder(limits, counters, facts, budget, /*expect_preface=*/false);
  auto sink = fuzz::TouchingSink();
  fuzz::FeedInPieces(data, size,
                     [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  (void)FindHttp2FrameBoundary({data, size}, limits.max_buffered_bytes);
  return 0;
}
