// Second-order decoding: text found inside a header, query string or body that is itself
// encoded (percent, form, JSON escapes, multipart parts, base64, base64url, hex, base64 of gzip),
// nested in any order up to max_encoding_depth levels and at most 8 decoded bytes per input
// byte. Each decoded value becomes its own unit under a "decoded.*" layer, with the steps taken
// in `decoding`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders {

inline constexpr std::string_view kLayerPercent = "decoded.percent";
inline constexpr std::string_view kLayerForm = "decoded.form";
inline constexpr std::string_view kLayerJson = "decoded.json";
inline constexpr std::string_view kLayerMultipart = "decoded.multipart";
inline constexpr std::string_view kLayerBase64 = "decoded.base64";  // and base64url
inline constexpr std::string_view kLayerHex = "decoded.hex";
inline constexpr std::string_view kLayerBase64Gzip = "decoded.base64-gzip";
// A compressed stream nobody declared (found by its magic number), inflated.
inline constexpr std::string_view kLayerInflated = "decoded.inflated";
// One file of a tar or zip archive found in a body (raw, inflated, or after base64).
inline constexpr std::string_view kLayerArchive = "decoded.archive";

enum class TextKind { kHeaderValue, kQuery, kBody };

struct DerivedContext {
  const DecoderLimits& limits;
  DecoderCounters& counters;
  const ChunkSink& sink;
};

// `content_type` matters only for kBody (form, JSON, multipart).
void EmitDerived(std::string_view text, TextKind kind, std::string_view content_type,
                 uint64_t unit_id, const std::vector<std::string>& decoding,
                 const DerivedContext& ctx);

// Helper for decoders: emits `bytes` as one whole unit.
void EmitUnit(std::string_view layer, uint64_t unit_id, std::string_view bytes,
              const std::vector<std::string>& decoding, const ChunkSink& sink);
// Emits bytes a decoder skipped as one undecoded unit (layer "raw").
void EmitUndecoded(std::string_view bytes, const std::vector<std::string>& decoding,
                   const ChunkSink& sink);

}  // namespace credsentry::stream::decoders
