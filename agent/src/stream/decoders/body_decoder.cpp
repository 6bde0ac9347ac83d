#include "stream/decoders/body_decoder.h"

#include <algorithm>
#include <cctype>

#include "stream/decoders/derived_text.h"

namespace credsentry::stream::decoders {
namespace {

// More stacked codings than this is not something a real client sends.
constexpr size_t kMaxCodings = 3;

std::vector<std::string> SplitCodings(std::string_view header) {
  std::vector<std::string> codings;
  size_t start = 0;
  while (start <= header.size()) {
    size_t comma = header.find(',', start);
    std::string_view item = header.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string token;
    for (char c : item) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        token.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
    }
    if (!token.empty() && token != "identity") codings.push_back(token);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return codings;
}

}  // namespace

BodyDecoder::BodyDecoder(std::string_view layer, uint64_t unit_id,
                         std::vector<std::string> decoding, const BodyHeaders& headers,
                         const DecoderLimits& limits, DecoderCounters& counters,
                         TransformBudget& budget)
    : layer_(layer),
      unit_id_(unit_id),
      decoding_(std::move(decoding)),
      content_type_(headers.content_type),
      limits_(limits),
      counters_(counters),
      budget_(budget) {
  auto codings = SplitCodings(headers.content_encoding);
  if (codings.size() > kMaxCodings) {
    ++counters_.parse_errors;
    codings.clear();
  }
  DecompressLimits dl{.max_output = limits.max_inflated_bytes,
                      .max_ratio = limits.max_inflate_ratio};
  // Codings are listed in the order they were applied, so they are undone last to first.
  sniff_coding_ = codings.empty();
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    auto stage = MakeDecompressor(*it, dl);
    if (!stage) {
      // Unknown coding: the bytes are passed on as they are, so a plain body is still matched.
      ++counters_.parse_errors;
      stages_.clear();
      break;
    }
    stages_.push_back(std::move(stage));
    decoding_.push_back(*it);
  }
}

BodyDecoder::~BodyDecoder() { budget_.Give(kept_reserved_); }

void BodyDecoder::Feed(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  if (finished_ || stopped_ || bytes.empty()) return;
  if (sniff_coding_) {
    sniff_coding_ = false;
    SniffCoding(bytes);
  }
  Decompress(0, bytes, sink);
}

void BodyDecoder::SniffCoding(std::span<const uint8_t> first) {
  // No Content-Encoding known (none sent, or its header was lost to a mid-stream HPACK gap):
  // exfiltration scripts often compress without saying so, and the magic bytes tell.
  static constexpr uint8_t kGzip[] = {0x1f, 0x8b, 0x08};
  static constexpr uint8_t kZstd[] = {0x28, 0xb5, 0x2f, 0xfd};
  static constexpr uint8_t kXz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
  auto starts = [&](std::span<const uint8_t> magic) {
    return first.size() >= magic.size() && std::equal(magic.begin(), magic.end(), first.begin());
  };
  // zlib: CMF 0x78 with the FLG bytes zlib writes for its levels ("x^" is left to text).
  const bool zlib = first.size() >= 2 && first[0] == 0x78 &&
                    (first[1] == 0x01 || first[1] == 0x9c || first[1] == 0xda);
  // bzip2: "BZh" and the block size digit, then a block's or the end's magic (pi or sqrt(pi)).
  const bool bzip2 = first.size() >= 5 && first[0] == 'B' && first[1] == 'Z' && first[2] == 'h' &&
                     first[3] >= '1' && first[3] <= '9' && (first[4] == 0x31 || first[4] == 0x17);
  std::string_view coding = starts(kGzip)  ? "gzip"
                            : starts(kZstd) ? "zstd"
                            : starts(kXz)   ? "xz"
                            : bzip2         ? "bzip2"
                            : zlib          ? "deflate"
                                            : "";
  if (coding.empty()) return;
  ++counters_.undeclared_compressed;
  stages_.push_back(
      MakeDecompressor(coding, DecompressLimits{.max_output = limits_.max_inflated_bytes,
                                                .max_ratio = limits_.max_inflate_ratio}));
  decoding_.push_back(std::string(coding) + "(sniffed)");
}

void BodyDecoder::Decompress(size_t stage, std::span<const uint8_t> bytes, const ChunkSink& sink) {
  if (stopped_) return;
  if (stage == stages_.size()) {
    Decoded(bytes, sink);
    return;
  }
  auto status = stages_[stage]->Feed(
      bytes, [&](std::span<const uint8_t> out) { Decompress(stage + 1, out, sink); });
  if (status == DecompressStatus::kOk) return;
  stopped_ = true;
  if (status == DecompressStatus::kBomb) {
    ++counters_.bombs_stopped;
  } else {
    ++counters_.decompress_errors;
  }
  if (!truncated_) {
    truncated_ = true;
    ++counters_.truncated_units;
  }
}

void BodyDecoder::Decoded(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  size_t room = limits_.max_body_bytes - examined_;
  if (bytes.size() > room) {
    bytes = bytes.first(room);
    stopped_ = true;
    if (!truncated_) {
      truncated_ = true;
      ++counters_.truncated_units;
    }
  }
  if (bytes.empty()) return;
  examined_ += bytes.size();
  sink(DecodedChunk{layer_, unit_id_, bytes, false, &decoding_});

  if (kept_truncated_) return;
  size_t want = bytes.size();
  size_t got = budget_.Take(want);
  kept_reserved_ += got;
  kept_.append(reinterpret_cast<const char*>(bytes.data()), got);
  if (got < want) {
    kept_truncated_ = true;
    ++counters_.transform_truncated;
  }
}

void BodyDecoder::Finish(const ChunkSink& sink) {
  if (finished_) return;
  finished_ = true;
  sink(DecodedChunk{layer_, unit_id_, {}, true, &decoding_});
  if (!kept_.empty()) {
    EmitDerived(kept_, TextKind::kBody, content_type_, unit_id_, decoding_,
                DerivedContext{limits_, counters_, sink});
  }
  std::string().swap(kept_);
  budget_.Give(kept_reserved_);
  kept_reserved_ = 0;
}

}  // namespace credsentry::stream::decoders
