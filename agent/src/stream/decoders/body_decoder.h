// One message body (HTTP/1 request body or HTTP/2 stream DATA): undoes Content-Encoding with
// bomb caps, emits the decoded bytes incrementally as one unit, and at the end runs the
// derived-text decoders (form, JSON, multipart, base64) over the whole decoded body.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stream/decoders/decoded_chunk.h"
#include "stream/decoders/decompressor.h"

namespace credsentry::stream::decoders {

// Bytes a connection may hold for body transforms, shared by all of its bodies (HTTP/2 streams
// run concurrently), so one connection's memory stays bounded however many streams it opens.
class TransformBudget {
 public:
  explicit TransformBudget(size_t bytes) : left_(bytes) {}
  size_t Take(size_t want) {
    size_t got = want < left_ ? want : left_;
    left_ -= got;
    return got;
  }
  void Give(size_t bytes) { left_ += bytes; }

 private:
  size_t left_;
};

struct BodyHeaders {
  std::string content_encoding;  // as sent, e.g. "gzip" or "gzip, br"
  std::string content_type;
};

class BodyDecoder {
 public:
  BodyDecoder(std::string_view layer, uint64_t unit_id, std::vector<std::string> decoding,
              const BodyHeaders& headers, const DecoderLimits& limits, DecoderCounters& counters,
              TransformBudget& budget);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  void Feed(std::span<const uint8_t> bytes, const ChunkSink& sink);
  // Closes the unit (an empty chunk with unit_end) and emits the derived units.
  void Finish(const ChunkSink& sink);

 private:
  void SniffCoding(std::span<const uint8_t> first);
  void Decompress(size_t stage, std::span<const uint8_t> bytes, const ChunkSink& sink);
  void Decoded(std::span<const uint8_t> bytes, const ChunkSink& sink);

  std::string_view layer_;
  uint64_t unit_id_;
  std::vector<std::string> decoding_;
  std::string content_type_;
  const DecoderLimits& limits_;
  DecoderCounters& counters_;
  TransformBudget& budget_;
  std::vector<std::unique_ptr<Decompressor>> stages_;  // applied in order to incoming bytes
  bool sniff_coding_ = false;  // no Content-Encoding: look at the first bytes
  bool stopped_ = false;       // bomb or corrupt data: the rest of the body is not decoded
  bool truncated_ = false;     // counted once per unit
  bool finished_ = false;
  size_t examined_ = 0;
  std::string kept_;  // decoded body for the derived-text pass, bounded by budget_
  size_t kept_reserved_ = 0;
  bool kept_truncated_ = false;
};

}  // namespace credsentry::stream::decoders
