// The pure text decoders and the derived-text pass (percent, JSON escapes, base64 depth 2,
// base64 of gzip) on arbitrary text.
#include <string_view>

#include "fuzz_sink.h"
#include "stream/decoders/derived_text.h"
#include "stream/decoders/text_codecs.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t sum = PercentDecode(text, true).size() + PercentDecode(text, false).size();
  if (auto j = JsonUnescape(text)) sum += j->size();
  for (const auto& run : FindBase64Runs(text)) sum += run.length;
  if (auto b = Base64Decode(text)) sum += b->size();
  if (auto h = HexDecode(text)) sum += h->size();
  if (auto b = Base32Decode(text)) sum += b->size();
  sum += LooksLikeText(text);
  DecoderLimits limits = fuzz::SmallLimits();
  DecoderCounters counters;
  auto sink = fuzz::TouchingSink();
  DerivedContext ctx{limits, counters, sink};
  static const std::vector<std::string> kDecoding{"fuzz"};
  EmitDerived(text, TextKind::kHeaderValue, {}, 1, kDecoding, ctx);
  EmitDerived(text, TextKind::kQuery, {}, 1, kDecoding, ctx);
  EmitDerived(text, TextKind::kBody, "multipart/form-data; boundary=b", 1, kDecoding, ctx);
  fuzz::g_checksum = fuzz::g_checksum + sum;
  return 0;
}
