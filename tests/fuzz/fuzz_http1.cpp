// HTTP/1 request decoder on arbitrary bytes, starting in sync or in resync mode.
#include "fuzz_sink.h"
#include "stream/decoders/http1_decoder.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  DecoderLimits limits = fuzz::SmallLimits();
  DecoderCounters counters;
  ConnectionFacts facts;
  TransformBudget budget(limits.max_transform_bytes);
  Http1Decoder decoder(limits, counters, facts, budget, (data[0] & 0x80) != 0);
  auto sink = fuzz::TouchingSink();
  fuzz::FeedInPieces(data, size,
                     [&](std::span<const uint8_t> piece) { decoder.Feed(piece, sink); });
  return 0;
}
