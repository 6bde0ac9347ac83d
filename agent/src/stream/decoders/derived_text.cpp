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
// Containers nest (base64 of gzip of tar of zip ...): each level counts one, up to this many.
constexpr size_t kMaxContainerDepth = 6;

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

uint8_t At(std::string_view b, size_t i) { return static_cast<uint8_t>(b[i]); }
uint32_t Le(std::string_view b, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = n; i-- > 0;) v = v << 8 | At(b, at + i);
  return v;
}

// The coding of a compressed stream that starts `b`, by its magic number: "gzip", "deflate"
// (zlib-wrapped), "zstd"; "bzip2" and "xz" are known but not decoded. "" for anything else.
std::string_view SniffCompression(std::string_view b) {
  if (b.size() >= 2 && At(b, 0) == 0x1f && At(b, 1) == 0x8b) return "gzip";
  if (b.size() >= 4 && Le(b, 0, 4) == 0xFD2FB528u) return "zstd";
  // zlib: CMF 0x78 (deflate, 32 KiB window) with the FLG bytes zlib writes for its levels;
  // 0x5e is left out because "x^" starts ordinary text.
  if (b.size() >= 2 && At(b, 0) == 0x78 && (At(b, 1) == 0x01 || At(b, 1) == 0x9c || At(b, 1) == 0xda)) {
    return "deflate";
  }
  if (b.size() >= 4 && b.substr(0, 3) == "BZh" && At(b, 3) >= '1' && At(b, 3) <= '9') return "bzip2";
  if (b.size() >= 6 && b.substr(0, 6) == std::string_view("\xfd" "7zXZ\0", 6)) return "xz";
  return "";
}

bool IsTar(std::string_view b) { return b.size() >= 512 && b.substr(257, 5) == "ustar"; }
bool IsZip(std::string_view b) { return b.size() >= 30 && b.substr(0, 4) == std::string_view("PK\3\4", 4); }

// Base64 whose first bytes decode to text (at most one odd byte) or to a compressed stream or
// an archive.
bool PromisingBase64(std::string_view head) {
  auto bytes = Base64Decode(head);
  if (!bytes || bytes->size() < 2) return false;
  if (!SniffCompression(*bytes).empty() || bytes->starts_with(std::string_view("PK\3\4", 4))) {
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
    // A body that is a compressed stream or an archive nobody declared (tar czf - | curl).
    if (Container(text, decoding, depth)) return;
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
      if (Container(*decoded, With(decoding, "base64"), depth + 1)) continue;
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

  // A compressed stream or an archive at the start of `bytes`: decoded (or counted when its
  // format is not decodable) and true; false when `bytes` is neither.
  bool Container(std::string_view bytes, const std::vector<std::string>& decoding, size_t depth) {
    if (depth >= kMaxContainerDepth) return false;
    if (IsTar(bytes)) {
      Tar(bytes, With(decoding, "tar"), depth);
      return true;
    }
    if (IsZip(bytes)) {
      Zip(bytes, With(decoding, "zip"), depth);
      return true;
    }
    std::string_view coding = SniffCompression(bytes);
    if (coding.empty()) return false;
    ++ctx_.counters.undeclared_compressed;
    if (coding == "bzip2" || coding == "xz") {
      ++ctx_.counters.undeclared_unsupported;
      return true;
    }
    std::string out = Decompress(bytes, coding);
    auto steps = With(decoding, coding == "deflate" ? "zlib" : coding);
    if (out.empty() || Container(out, steps, depth + 1) || !LooksLikeText(out)) return true;
    // base64 of gzip keeps its own layer name, as before the other codings were sniffed.
    const bool base64_gzip = coding == "gzip" && !decoding.empty() && decoding.back() == "base64";
    // Base64 inside it is looked for at the depth it was found at, as before other codings
    // were sniffed; each Container level still counts one, so nesting ends.
    if (Emit(base64_gzip ? kLayerBase64Gzip : kLayerInflated, out, steps)) {
      Base64Runs(out, steps, depth);
    }
    return true;
  }

  // Everything `compressed` inflates to under the decompression-bomb limits (counted when hit).
  std::string Decompress(std::string_view compressed, std::string_view coding) {
    // One budget for everything inflated from this text: a zip of many small bombs stops too.
    const size_t left = ctx_.limits.max_inflated_bytes - std::min(inflated_, ctx_.limits.max_inflated_bytes);
    std::string out;
    if (left == 0) {
      ++ctx_.counters.bombs_stopped;
      return out;
    }
    DecompressLimits limits{.max_output = std::min(left, ctx_.limits.max_transform_bytes),
                            .max_ratio = ctx_.limits.max_inflate_ratio};
    auto codec = MakeDecompressor(coding, limits);
    if (!codec) return out;
    auto status = codec->Feed({reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size()},
                              [&](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); });
    if (status == DecompressStatus::kBomb) ++ctx_.counters.bombs_stopped;
    if (status == DecompressStatus::kCorrupt) ++ctx_.counters.decompress_errors;
    inflated_ += out.size();
    return out;
  }

  // One file of an archive: matched as it is, then decoded further like a body.
  void Entry(std::string_view content, const std::vector<std::string>& steps, size_t depth) {
    ++ctx_.counters.archive_entries;
    if (content.empty() || Container(content, steps, depth + 1)) return;
    if (Emit(kLayerArchive, content, steps)) Text(content, TextKind::kBody, {}, steps, depth + 1);
  }

  // ustar: 512-byte headers, octal sizes, contents padded to 512; regular files only.
  void Tar(std::string_view tar, const std::vector<std::string>& steps, size_t depth) {
    for (size_t at = 0; at + 512 <= tar.size();) {
      std::string_view h = tar.substr(at, 512);
      if (h[0] == '\0') return;  // the end-of-archive blocks
      if (h.substr(257, 5) != "ustar") {
        ++ctx_.counters.parse_errors;
        return;
      }
      uint64_t size = 0;
      for (size_t i = 124; i < 136 && h[i] != '\0' && h[i] != ' '; ++i) {
        if (h[i] < '0' || h[i] > '7' || size > tar.size()) {
          ++ctx_.counters.parse_errors;
          return;
        }
        size = size * 8 + static_cast<uint64_t>(h[i] - '0');
      }
      at += 512;
      if (h[156] == '0' || h[156] == '\0') {
        Entry(tar.substr(at, std::min<uint64_t>(size, tar.size() - at)), steps, depth);
      }
      if (size > tar.size() - at) return;  // cut short: what was there was read
      at += (size + 511) / 512 * 512;
    }
  }

  // Local file headers in order: stored and deflated entries whose sizes the header gives.
  void Zip(std::string_view zip, const std::vector<std::string>& steps, size_t depth) {
    for (size_t at = 0; at + 30 <= zip.size() && zip.substr(at, 4) == std::string_view("PK\3\4", 4);) {
      const uint32_t flags = Le(zip, at + 6, 2), method = Le(zip, at + 8, 2);
      const uint32_t size = Le(zip, at + 18, 4);
      const size_t data = at + 30 + Le(zip, at + 26, 2) + Le(zip, at + 28, 2);
      if (data > zip.size()) {
        ++ctx_.counters.parse_errors;
        return;
      }
      // Bit 3: the sizes follow the data (streamed archives); where an entry ends is unknown.
      if ((flags & 0x08) || (method != 0 && method != 8)) {
        ++ctx_.counters.undeclared_unsupported;
        return;
      }
      std::string_view content = zip.substr(data, std::min<size_t>(size, zip.size() - data));
      if (method == 0) {
        Entry(content, steps, depth);
      } else {
        std::string inflated = Decompress(content, "deflate");  // raw deflate after a bad zlib header
        Entry(inflated, With(steps, "deflate"), depth);
      }
      if (size > zip.size() - data) return;
      at = data + size;
    }
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
  size_t inflated_ = 0;  // bytes decompressed from this text so far
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
