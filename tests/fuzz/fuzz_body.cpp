// BodyDecoder: every Content-Encoding (gzip, deflate, br, zstd, bzip2, xz, stacked, unknown) and every
// content type with derived decoding (JSON, form, multipart, base64), fed in pieces.
#include "fuzz_sink.h"
#include "stream/decoders/body_decoder.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* kCodings[] = {"",         "gzip",     "deflate", "br",   "zstd",
                                   "gzip, br", "compress", "bzip2",   "x-xz"};
  static const char* kTypes[] = {"",
                                 "application/json",
                                 "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=XyZ",
                                 "multipart/mixed; boundary=\"q\"",
                                 "text/plain"};
  BodyHeaders headers{kCodings[data[0] % 9], kTypes[data[1] % 6]};
  DecoderLimits limits = fuzz::SmallLimits();
  DecoderCounters counters;
  TransformBudget budget(limits.max_transform_bytes);
  auto sink = fuzz::TouchingSink();
  {
    BodyDecoder body("fuzz.body", 1, {"fuzz"}, headers, limits, counters, budget);
    fuzz::FeedInPieces(data + 1, size - 1,
                       [&](std::span<const uint8_t> piece) { body.Feed(piece, sink); });
    body.Finish(sink);
  }
  return 0;
}
