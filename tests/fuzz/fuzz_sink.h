// Shared by the fuzz targets: a chunk sink that reads every byte it is handed (so ASan sees any
// span that outlived its buffer) and small limits so the fuzzer reaches every cap quickly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders::fuzz {

inline volatile uint64_t g_checksum = 0;

inline ChunkSink TouchingSink() {
  return [](const DecodedChunk& chunk) {
    uint64_t sum = chunk.unit_id + chunk.layer.size() + chunk.decoding->size();
    for (uint8_t b : chunk.bytes) sum += b;
    g_checksum = g_checksum + sum;
  };
}

inline DecoderLimits SmallLimits() {
  DecoderLimits limits;
  limits.max_header_bytes = 4 << 10;
  limits.max_body_bytes = 256 << 10;
  limits.max_inflated_bytes = 1 << 20;
  limits.max_h2_streams = 8;
  limits.max_buffered_bytes = 32 << 10;
  limits.max_transform_bytes = 64 << 10;
  return limits;
}

// Splits the input into writes whose sizes come from the input itself, like send() calls.
template <class F>
void FeedInPieces(const uint8_t* data, size_t size, F&& feed) {
  if (size == 0) return;
  size_t step = 1 + data[0] % 97;
  for (size_t at = 1; at < size; at += step) {
    size_t n = at + step <= size ? step : size - at;
    feed(std::span<const uint8_t>(data + at, n));
  }
}

}  // namespace credsentry::stream::decoders::fuzz
