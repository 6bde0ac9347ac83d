// HTTP/1.1 request decoder for one connection's egress bytes: request line (and its percent-
// decoded query), each header, and bodies (Content-Length or chunked, then Content-Encoding),
// pipelined requests one after another. Lost sync (garbage, a capture that started mid-body)
// is recovered at the next request line; bytes skipped meanwhile go out as "raw" so the
// matcher still sees them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stream/decoders/body_decoder.h"
#include "stream/decoders/decoded_chunk.h"
#include "stream/decoders/websocket_decoder.h"

namespace credsentry::stream::decoders {

inline constexpr std::string_view kLayerHttp1RequestLine = "http1.request-line";
inline constexpr std::string_view kLayerHttp1Header = "http1.header";
inline constexpr std::string_view kLayerHttp1Body = "http1.body";

// True when `bytes` begins like an HTTP/1 request line ("GET /", "POST ", ...). With fewer bytes
// than a method needs it answers for the bytes there are.
bool LooksLikeHttp1Request(std::span<const uint8_t> bytes);

class Http1Decoder {
 public:
  Http1Decoder(const DecoderLimits& limits, DecoderCounters& counters, ConnectionFacts& facts,
               TransformBudget& budget, bool start_in_resync);
  ~Http1Decoder();

  void Feed(std::span<const uint8_t> bytes, const ChunkSink& sink);
  // The stream ended: a body still open (fewer bytes than its length, a chunk or a message
  // cut off) is counted and what arrived of it is decoded as a whole body would be.
  void Finish(const ChunkSink& sink);

  // A request asked to switch to WebSocket and has ended: this decoder reads nothing more, and
  // the bytes after the request are the caller's to take.
  bool upgraded() const { return state_ == State::kUpgraded; }
  const WebSocketOffer& websocket_offer() const { return websocket_offer_; }
  std::string TakeRest();

 private:
  enum class State {
    kRequestLine,
    kHeaders,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkEnd,
    kTrailers,
    kResync,
    kUpgraded
  };

  // Each returns false when it needs more bytes.
  bool RequestLine(const ChunkSink& sink);
  bool HeaderLine(const ChunkSink& sink);
  bool Body(const ChunkSink& sink);
  bool ChunkSize(const ChunkSink& sink);
  bool ChunkData(const ChunkSink& sink);
  bool ChunkEnd(const ChunkSink& sink);
  bool Trailer(const ChunkSink& sink);
  bool Resync(const ChunkSink& sink);

  // Next line from the buffer without its CR LF; false when incomplete. A line longer than the
  // header limit is a parse error and sends the decoder into resync.
  bool NextLine(std::string_view& line, const ChunkSink& sink);
  void HeadersDone(const ChunkSink& sink);
  void EndRequest(const ChunkSink& sink);
  void LoseSync(const ChunkSink& sink);
  std::string_view Pending() const { return std::string_view(buf_).substr(pos_); }

  const DecoderLimits& limits_;
  DecoderCounters& counters_;
  ConnectionFacts& facts_;
  TransformBudget& budget_;
  State state_;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t request_ = 0;
  size_t header_bytes_ = 0;
  bool headers_truncated_ = false;
  bool chunked_ = false;
  uint64_t remaining_ = 0;  // body or chunk bytes still to come
  BodyHeaders body_headers_;
  WebSocketOffer websocket_offer_;
  std::unique_ptr<BodyDecoder> body_;
  std::vector<std::string> decoding_{"http1"};
};

}  // namespace credsentry::stream::decoders
