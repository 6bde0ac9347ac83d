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
// (zlib-wrapped), "zstd", "bzip2", "xz". "" for anything else.
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
constexpr std::string_view kZipDescriptor("PK\7\x08", 4);  // a data descriptor's signature
bool IsZip(std::string_view b) { return b.size() >= 30 && b.substr(0, 4) == std::string_view("PK\3\4", 4); }

// Decoded bytes that can pay off being decoded whole: text (at most one odd byte), or a
// compressed stream or an archive. Judged on a run's first bytes only.
bool Promising(std::string_view bytes) {
  if (bytes.size() < 2) return false;
  if (!SniffCompression(bytes).empty() || bytes.starts_with(std::string_view("PK\3\4", 4))) {
    return true;
  }
  int odd = 0;
  for (char ch : bytes) {
    auto c = static_cast<uint8_t>(ch);
    if (!((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r' || c == '\t')) ++odd;
  }
  return odd <= 1;
}

// Shorter all-hex runs are mostly ids and hashes; hex of anything worth a key is longer.
constexpr size_t kMinHexRun = 32;
// Each text may decode to at most this many bytes per byte of its own (and of what was inflated
// from it), all nested levels together: every level that grows the work is paid for by its input.
constexpr size_t kWorkPerInputByte = 8;

// Hex as encoders write it: even length, one letter case throughout.
bool IsHexRun(std::string_view run) {
  if (run.size() < kMinHexRun || run.size() % 2 != 0) return false;
  bool lower = false, upper = false;
  for (char c : run) {
    if (c >= 'a' && c <= 'f') {
      lower = true;
    } else if (c >= 'A' && c <= 'F') {
      upper = true;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return !(lower && upper);
}

bool HasPercentEscape(std::string_view text) {
  for (size_t at = text.find('%'); at != std::string_view::npos && at + 2 < text.size();
       at = text.find('%', at + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(text[at + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[at + 2]))) {
      return true;
    }
  }
  return false;
}

class Deriver {
 public:
  Deriver(const DerivedContext& ctx, uint64_t unit_id, size_t input_size)
      : ctx_(ctx), unit_id_(unit_id), budget_(kWorkPerInputByte * input_size) {}

  void Text(std::string_view text, TextKind kind, std::string_view content_type,
            const std::vector<std::string>& decoding, size_t depth) {
    if (kind == TextKind::kHeaderValue || kind == TextKind::kQuery) {
      // A query's '+' is a space only at this level: deeper, '+' is more likely base64.
      if (HasPercentEscape(text) && Spend(text.size())) {
        std::string decoded = PercentDecode(text, kind == TextKind::kQuery);
        auto steps = With(decoding, "percent");
        if (Emit(kLayerPercent, decoded, steps)) Nested(decoded, steps, depth + 1);
      }
      Nested(text, decoding, depth, Whole::kJsonOnly);
      return;
    }
    // A body that is a compressed stream or an archive nobody declared (tar czf - | curl).
    if (Container(text, decoding, depth)) return;
    std::string ct = Lower(content_type);
    bool form = false;
    if (ct.find("multipart/") != std::string::npos) {
      Multipart(text, content_type, decoding, depth);
    } else if (ct.find("x-www-form-urlencoded") != std::string::npos) {
      form = true;
      std::string decoded = PercentDecode(text, true);
      auto steps = With(decoding, "form");
      if (decoded != text && Spend(text.size()) && Emit(kLayerForm, decoded, steps)) {
        Nested(decoded, steps, depth + 1);
      }
    }
    bool jsonish = ct.find("json") != std::string::npos ||
                   (!text.empty() && (text.front() == '{' || text.front() == '['));
    Nested(text, decoding, depth, jsonish ? (form ? Whole::kJsonOnly : Whole::kBoth)
                                          : (form ? Whole::kNone : Whole::kPercentOnly));
  }

 private:
  // Which whole-text decodings Nested tries; the runs inside a text are always tried.
  enum class Whole { kNone, kPercentOnly, kJsonOnly, kBoth };

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

  // Charges `bytes` of decoding to this text's budget before it is done; false (counted once
  // per text) when they do not fit.
  bool Spend(size_t bytes) {
    if (spent_ + bytes > budget_) {
      if (!budget_cut_) ++ctx_.counters.transform_budget_exhausted;
      budget_cut_ = true;
      return false;
    }
    spent_ += bytes;
    return true;
  }

  // Encodings inside `text` (itself reached through `decoding`), in any order: percent-encoding
  // and JSON escapes of the whole text, base64, base64url and hex runs in it. Each decoded text
  // is emitted and searched again, one level deeper.
  void Nested(std::string_view text, const std::vector<std::string>& decoding, size_t depth,
              Whole whole = Whole::kBoth) {
    const bool percent =
        (whole == Whole::kBoth || whole == Whole::kPercentOnly) && HasPercentEscape(text);
    const bool json = (whole == Whole::kBoth || whole == Whole::kJsonOnly) &&
                      text.find('\\') != std::string_view::npos;
    auto runs = FindBase64Runs(text);
    if (!percent && !json && runs.empty()) return;
    if (depth >= ctx_.limits.max_encoding_depth) {
      // Counted only where one more level would have decoded something.
      bool more = percent || json || std::any_of(runs.begin(), runs.end(), [&](const TextRun& r) {
                    return Worth(text.substr(r.offset, r.length));
                  });
      if (more && !depth_cut_) ++ctx_.counters.transform_depth_exceeded;
      depth_cut_ = depth_cut_ || more;
      return;
    }
    if (percent && Spend(text.size())) {
      std::string decoded = PercentDecode(text, false);
      auto steps = With(decoding, "percent");
      if (Emit(kLayerPercent, decoded, steps)) Nested(decoded, steps, depth + 1);
    }
    if (json && Spend(text.size())) {
      if (auto unescaped = JsonUnescape(text)) {
        auto steps = With(decoding, "json");
        if (Emit(kLayerJson, *unescaped, steps)) Nested(*unescaped, steps, depth + 1);
      }
    }
    for (const TextRun& run : runs) {
      if (!Run(text.substr(run.offset, run.length), decoding, depth)) return;
    }
  }

  // Long alphanumeric runs (identifiers, hashes, keys themselves) are far more common than
  // encoded text. Judging the first 8 or 9 decoded bytes first keeps the full decode for runs
  // that can pay off; this is most of the decoders' time on ordinary traffic.
  static bool Worth(std::string_view run) {
    auto head = IsHexRun(run) ? HexDecode(run.substr(0, 16)) : Base64Decode(run.substr(0, 12));
    return head && Promising(*head);
  }

  // One base64 or hex run: false once nothing more may be emitted from this text.
  bool Run(std::string_view run, const std::vector<std::string>& decoding, size_t depth) {
    if (!Worth(run)) return true;
    const bool hex = IsHexRun(run);
    if (!Spend(hex ? run.size() / 2 : run.size() / 4 * 3 + 2)) return false;
    auto decoded = hex ? HexDecode(run) : Base64Decode(run);
    if (!decoded) return true;
    std::string_view step = hex                                              ? "hex"
                            : run.find_first_of("-_") != std::string_view::npos ? "base64url"
                                                                                : "base64";
    auto steps = With(decoding, step);
    if (Container(*decoded, steps, depth + 1) || !LooksLikeText(*decoded)) return true;
    if (!Emit(hex ? kLayerHex : kLayerBase64, *decoded, steps)) return false;
    Nested(*decoded, steps, depth + 1);
    return true;
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
    std::string out = Decompress(bytes, coding);
    auto steps = With(decoding, coding == "deflate" ? "zlib" : coding);
    if (out.empty() || Container(out, steps, depth + 1) || !LooksLikeText(out)) return true;
    // base64 of gzip keeps its own layer name, as before the other codings were sniffed.
    const bool base64_gzip = coding == "gzip" && !decoding.empty() && decoding.back() == "base64";
    // Base64 inside it is looked for at the depth it was found at, as before other codings
    // were sniffed; each Container level still counts one, so nesting ends.
    if (Emit(base64_gzip ? kLayerBase64Gzip : kLayerInflated, out, steps)) {
      Nested(out, steps, depth);
    }
    return true;
  }

  // Everything `compressed` inflates to under the decompression-bomb limits (counted when hit).
  // `end`, when given, gets where in `compressed` the stream ended (npos: it did not).
  std::string Decompress(std::string_view compressed, std::string_view coding,
                         size_t* end = nullptr) {
    if (end) *end = std::string_view::npos;
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
    if (end && codec->EndOffset()) *end = *codec->EndOffset();
    inflated_ += out.size();
    budget_ += kWorkPerInputByte * out.size();  // inflated text is decoded further like input
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

  // Local file headers in order: stored and deflated entries, with their sizes in the header or
  // (bit 3, archives written to a pipe) in a data descriptor after the data. Such an entry ends
  // where its deflate stream ends, or for a stored one at the descriptor whose size matches.
  void Zip(std::string_view zip, const std::vector<std::string>& steps, size_t depth) {
    for (size_t at = 0; at + 30 <= zip.size() && zip.substr(at, 4) == std::string_view("PK\3\4", 4);) {
      const uint32_t flags = Le(zip, at + 6, 2), method = Le(zip, at + 8, 2);
      const size_t data = at + 30 + Le(zip, at + 26, 2) + Le(zip, at + 28, 2);
      if (data > zip.size()) {
        ++ctx_.counters.parse_errors;
        return;
      }
      if (method != 0 && method != 8) {
        ++ctx_.counters.undeclared_unsupported;
        return;
      }
      const bool streamed = flags & 0x08;
      size_t size = streamed ? std::string_view::npos : Le(zip, at + 18, 4);
      if (streamed && method == 0) size = StoredEntrySize(zip, data);
      if (method == 0) {
        Entry(zip.substr(data, std::min(size, zip.size() - data)), steps, depth);
      } else {
        std::string_view content = zip.substr(data, std::min(size, zip.size() - data));
        size_t end;
        // "deflate" tries a zlib header first, then raw deflate, which zip uses.
        std::string inflated = Decompress(content, "deflate", &end);
        Entry(inflated, With(steps, "deflate"), depth);
        if (streamed) size = end;
      }
      if (size == std::string_view::npos || size > zip.size() - data) return;  // cut, or no end
      at = data + size;
      if (streamed) at = PastDescriptor(zip, at);
    }
  }

  // A stored streamed entry from `data` ends at a data descriptor ("PK\7\8", crc, sizes) whose
  // compressed size is its distance from `data`; npos when none is found.
  static size_t StoredEntrySize(std::string_view zip, size_t data) {
    for (size_t d = zip.find(kZipDescriptor, data); d != std::string_view::npos;
         d = zip.find(kZipDescriptor, d + 1)) {
      if (d + 16 <= zip.size() && Le(zip, d + 8, 4) == d - data) return d - data;
    }
    return std::string_view::npos;
  }

  // Where the next header starts after a data descriptor at `at`: with or without its signature,
  // 32-bit or (zip64) 64-bit sizes; the one followed by "PK" wins.
  static size_t PastDescriptor(std::string_view zip, size_t at) {
    const size_t base = zip.substr(at, 4) == kZipDescriptor ? at + 4 : at;
    for (size_t skip : {12u, 20u}) {
      if (base + skip + 2 <= zip.size() && zip.substr(base + skip, 2) == "PK") return base + skip;
    }
    return zip.size();
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
      auto steps = With(decoding, "base64");
      auto decoded = Spend(joined.size()) ? Base64Decode(joined) : std::nullopt;
      if (decoded && LooksLikeText(*decoded) && Emit(kLayerBase64, *decoded, steps)) {
        Nested(*decoded, steps, depth + 1);
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
  size_t budget_, spent_ = 0;  // bytes the text codecs may still decode / have decoded
  bool budget_cut_ = false, depth_cut_ = false;
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
  Deriver(ctx, unit_id, text.size()).Text(text, kind, content_type, decoding, 0);
}

}  // namespace credsentry::stream::decoders
