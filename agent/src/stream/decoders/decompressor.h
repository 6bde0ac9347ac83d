// Streaming decoders for Content-Encoding (gzip, deflate, br, zstd) and for the streams found
// undeclared (those and bzip2, xz), with a bomb guard: output is capped in total and relative to
// the compressed bytes consumed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace credsentry::stream::decoders {

enum class DecompressStatus { kOk, kBomb, kCorrupt };

class Decompressor {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  virtual ~Decompressor() = default;
  // Decodes `in` and hands decoded bytes to `out` in bounded pieces. After anything but kOk the
  // decompressor is finished and ignores further input.
  virtual DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) = 0;
  // How many input bytes the stream took, once it ended by itself (deflate's final block,
  // gzip's trailer); nullopt before that and for codings that do not say.
  virtual std::optional<size_t> EndOffset() const { return std::nullopt; }
};

struct DecompressLimits {
  size_t max_output = 16 << 20;
  size_t max_ratio = 100;
  // The ratio is only judged past this much output: small, very repetitive bodies are normal.
  size_t ratio_floor = 64 << 10;
};

// "gzip", "x-gzip", "deflate", "br", "zstd", "bzip2", "x-bzip2", "xz", "x-xz"
// (case-insensitive). nullptr for anything else.
std::unique_ptr<Decompressor> MakeDecompressor(std::string_view content_coding,
                                               const DecompressLimits& limits);

// Raw DEFLATE (RFC 1951, no header) as RFC 7692 permessage-deflate sends it: one stream per
// connection whose window carries from message to message, so a message may point back into
// the ones before it. The bomb caps count per message.
class MessageInflater {
 public:
  explicit MessageInflater(const DecompressLimits& limits);
  ~MessageInflater();
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // The caps count from zero again; the window is kept unless a failure or a final block
  // ended the stream, after which the next message starts a fresh one.
  void StartMessage();
  DecompressStatus Feed(std::span<const uint8_t> in, const Decompressor::Output& out);

 private:
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

}  // namespace credsentry::stream::decoders
