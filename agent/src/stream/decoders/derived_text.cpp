#include "stream/decoders/derived_text.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "stream/decoders/decompressor.h"
#include "stream/decoders/text_codecs.h"

namespace credsentry::stream::decoders {
namespace {

// A hostile body could hold millions of short base64 runs; beyond this many derived units per
// source text the rest is counted as truncated rather than emitted.
constexpr size_t kMaxDerivedPerText = 512;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string> With(const std::vector<std::string>& decoding, std::string_view step) {
  std::vector<std::string> out = decoding;
  out.emplace_back(step);
  return out;
}

// Base64 whose first bytes decode to text (at most one odd byte) or to a gzip header.
bool PromisingBase64(std::string_view head) {
  auto bytes = Base64Decode(head);
  if (!bytes || bytes->size() < 2) return false;
  if (static_cast<uint8_t>((*bytes)[0]) == 0x1f && static_cast<uint8_t>((*bytes)[1]) == 0x8b) {
    return true;
  }
  int odd = 0;
  for (char ch : *bytes) {
    auto c = static_cast<uint8_t>(ch);
    if (!((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r' || c == '\t')) ++odd;
  }
  return odd <= 1;
}

class Deriver {
 public:
  explicit Deriver(const DerivedContext& ctx, uint64_t unit_id) : ctx_(ctx), unit_id_(unit_id) {}

  void Text(std::string_view text, TextKind kind, std::string_view content_type,
            const std::vector<std::string>& decoding, size_t depth) {
    if (kind == TextKind::kHeaderValue || kind == TextKind::kQuery) {
      if (text.find('%') != std::string_view::npos) {
        std::string decoded = PercentDecode(text, kind == TextKind::kQuery);
        auto steps = With(decoding, "percent");
        if (Emit(kLayerPercent, decoded, steps)) Base64Runs(decoded, steps, depth);
      }
      Base64Runs(text, decoding, depth);
      return;
    }
    std::string ct = Lower(content_type);
    if (ct.find("multipart/") != std::string::npos) {
      Multipart(text, content_type, decoding, depth);
    } else if (ct.find("x-www-form-urlencoded") != std::string::npos) {
      std::string decoded = PercentDecode(text, true);
      auto steps = With(decoding, "form");
      if (decoded != text && Emit(kLayerForm, decoded, steps)) Base64Runs(decoded, steps, depth);
    }
    bool jsonish = ct.find("json") != std::string::npos ||
                   (!text.empty() && (text.front() == '{' || text.front() == '['));
    if (jsonish) {
      if (auto unescaped = JsonUnescape(text)) {
        auto steps = With(decoding, "json");
        if (Emit(kLayerJson, *unescaped, steps)) Base64Runs(*unescaped, steps, depth);
      }
    }
    Base64Runs(text, decoding, depth);
  }

 private:
  bool Emit(std::string_view layer, std::string_view bytes,
            const std::vector<std::string>& decoding) {
    if (emitted_ >= kMaxDerivedPerText) {
      if (emitted_++ == kMaxDerivedPerText) ++ctx_.counters.transform_truncated;
      return false;
    }
    ++emitted_;
    EmitUnit(layer, unit_id_, bytes, decoding, ctx_.sink);
    return true;
  }

  void Base64Runs(std::string_view text, const std::vector<std::string>& decoding, size_t depth) {
    if (depth >= ctx_.limits.max_base64_depth) return;
    for (const TextRun& run : FindBase64Runs(text)) {
      // Long alphanumeric runs (identifiers, hashes, keys themselves) are far more common than
      // base64 of text. Judging the first 9 decoded bytes first keeps the full decode for runs
      // that can pay off; this is most of the decoders' time on ordinary traffic.
      if (!PromisingBase64(text.substr(run.offset, 12))) continue;
      auto decoded = Base64Decode(text.substr(run.offset, run.length));
      if (!decoded) continue;
      if (decoded->size() >= 2 && static_cast<uint8_t>((*decoded)[0]) == 0x1f &&
          static_cast<uint8_t>((*decoded)[1]) == 0x8b) {
        Gunzip(*decoded, With(decoding, "base64"), depth + 1);
        continue;
      }
      if (!LooksLikeText(*decoded)) continue;
      auto steps = With(decoding, "base64");
      if (!Emit(kLayerBase64, *decoded, steps)) return;
      if (auto unescaped = JsonUnescape(*decoded)) {
        auto json_steps = With(steps, "json");
        if (Emit(kLayerJson, *unescaped, json_steps)) Base64Runs(*unescaped, json_steps, depth + 1);
      }
      Base64Runs(*decoded, steps, depth + 1);
    }
  }

  void Gunzip(std::string_view compressed, const std::vector<std::string>& decoding, size_t depth) {
    DecompressLimits limits{
        .max_output = std::min(ctx_.limits.max_inflated_bytes, ctx_.limits.max_transform_bytes),
        .max_ratio = ctx_.limits.max_inflate_ratio};
    auto gz = MakeDecompressor("gzip", limits);
    std::string out;
    auto status = gz->Feed({reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size()},
                           [&](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); });
    if (status == DecompressStatus::kBomb) ++ctx_.counters.bombs_stopped;
    if (status == DecompressStatus::kCorrupt) ++ctx_.counters.decompress_errors;
    if (out.empty() || !LooksLikeText(out)) return;
    auto steps = With(decoding, "gzip");
    if (Emit(kLayerBase64Gzip, out, steps)) Base64Runs(out, steps, depth);
  }

  void Multipart(std::string_view body, std::string_view content_type,
                 const std::vector<std::string>& decoding, size_t depth) {
    std::string ct_lower = Lower(content_type);
    size_t at = ct_lower.find("boundary=");
    if (at == std::string::npos) return;
    std::string_view boundary = content_type.substr(at + 9);
    if (!boundary.empty() && boundary.front() == '"') {
      boundary.remove_prefix(1);
      boundary = boundary.substr(0, boundary.find('"'));
    } else {
      boundary = boundary.substr(0, boundary.find_first_of("; \t"));
    }
    if (boundary.empty() || boundary.size() > 200) return;
    std::string delimiter = "--" + std::string(boundary);
    auto steps = With(decoding, "multipart");
    size_t pos = body.find(delimiter);
    while (pos != std::string_view::npos) {
      size_t part_start = body.find("\r\n", pos);
      if (part_start == std::string_view::npos) return;
      part_start += 2;
      size_t next = body.find(delimiter, part_start);
      size_t headers_end = body.find("\r\n\r\n", part_start);
      if (headers_end == std::string_view::npos ||
          (next != std::string_view::npos && headers_end > next)) {
        return;
      }
      std::string_view headers = body.substr(part_start, headers_end - part_start);
      size_t content_start = headers_end + 4;
      size_t content_end = next == std::string_view::npos ? body.size() : next;
      // The CRLF before the next delimiter belongs to the delimiter.
      if (content_end >= content_start + 2 && body.substr(content_end - 2, 2) == "\r\n") {
        content_end -= 2;
      }
      Part(headers, body.substr(content_start, content_end - content_start), steps, depth);
      pos = next;
    }
  }

  void Part(std::string_view headers, std::string_view content,
            const std::vector<std::string>& decoding, size_t depth) {
    std::string lower = Lower(headers);
    std::string part_type;
    if (size_t ct = lower.find("content-type:"); ct != std::string::npos) {
      size_t end = headers.find("\r\n", ct);
      part_type = std::string(headers.substr(
          ct + 13, end == std::string_view::npos ? std::string_view::npos : end - ct - 13));
    }
    if (!Emit(kLayerMultipart, content, decoding)) return;
    if (lower.find("content-transfer-encoding: base64") != std::string::npos) {
      // MIME base64 is wrapped at 76 columns, so the run finder would see short pieces.
      std::string joined;
      for (char c : content) {
        if (!std::isspace(static_cast<unsigned char>(c))) joined.push_back(c);
      }
      if (auto decoded = Base64Decode(joined); decoded && LooksLikeText(*decoded)) {
        Emit(kLayerBase64, *decoded, With(decoding, "base64"));
      }
    }
    if (part_type.find("multipart/") == std::string::npos) {  // no nested multipart recursion
      Text(content, TextKind::kBody, part_type, decoding, depth);
    }
  }

  const DerivedContext& ctx_;
  uint64_t unit_id_;
  size_t emitted_ = 0;
};

}  // namespace

void EmitUnit(std::string_view layer, uint64_t unit_id, std::string_view bytes,
              const std::vector<std::string>& decoding, const ChunkSink& sink) {
  DecodedChunk chunk{layer,
                     unit_id,
                     {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                     true,
                     &decoding};
  sink(chunk);
}

void EmitUndecoded(std::string_view bytes, const std::vector<std::string>& decoding,
                   const ChunkSink& sink) {
  sink(DecodedChunk{"raw",
                    0,
                    {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                    true,
                    &decoding,
                    true});
}

void EmitDerived(std::string_view text, TextKind kind, std::string_view content_type,
                 uint64_t unit_id, const std::vector<std::string>& decoding,
                 const DerivedContext& ctx) {
  Deriver(ctx, unit_id).Text(text, kind, content_type, decoding, 0);
}

}  // namespace credsentry::stream::decoders
