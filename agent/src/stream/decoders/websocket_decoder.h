// WebSocket (RFC 6455) client frames on a connection an HTTP/1.1 request upgraded: frames are
// unmasked, fragmented messages reassembled, permessage-deflate (RFC 7692) inflated, and each
// text or binary message goes out as one body-like unit (so JSON, base64 and undeclared
// compression inside it are decoded as in any request body). Control frames are interleaved
// with fragments and carry at most 125 bytes; their payloads are units of their own, since a
// ping can carry data as well as a message can.
//
// We see only egress, never the server's 101, so the request alone decides that the stream
// switched. A frame that breaks the protocol means it did not (or the bytes are something else):
// decoding stops there and the caller takes the rest back as HTTP/1.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stream/decoders/body_decoder.h"
#include "stream/decoders/decoded_chunk.h"
#include "stream/decoders/decompressor.h"

namespace credsentry::stream::decoders {

inline constexpr std::string_view kLayerWebSocketMessage = "ws.message";
inline constexpr std::string_view kLayerWebSocketControl = "ws.control";

// A message cut into more frames than this is not a client's doing; the rest of it is skipped.
inline constexpr size_t kMaxWebSocketFramesPerMessage = 4096;

// What a request's headers say about switching to WebSocket.
struct WebSocketOffer {
  bool upgrade = false;             // Upgrade: websocket
  bool key = false;                 // Sec-WebSocket-Key
  bool permessage_deflate = false;  // offered in Sec-WebSocket-Extensions
  bool Requested() const { return upgrade && key; }
};

// Notes one request header into `offer`; headers that say nothing of WebSocket are ignored.
void NoteWebSocketHeader(std::string_view name, std::string_view value, WebSocketOffer& offer);

class WebSocketDecoder {
 public:
  // Unit ids are unit_base + 1, + 2, ...: HTTP/2 runs one decoder per stream, side by side.
  WebSocketDecoder(const WebSocketOffer& offer, std::vector<std::string> decoding,
                   const DecoderLimits& limits, DecoderCounters& counters,
                   TransformBudget& budget, uint64_t unit_base = 0);
  ~WebSocketDecoder();
  WebSocketDecoder(const WebSocketDecoder&) = delete;
  WebSocketDecoder& operator=(const WebSocketDecoder&) = delete;

  // False once a frame broke the protocol: the bytes from that frame's first byte on are then
  // in TakeUndecoded() and nothing more is read.
  bool Feed(std::span<const uint8_t> bytes, const ChunkSink& sink);
  std::string TakeUndecoded() { return std::move(undecoded_); }

  // The stream ended: a message or frame still open is counted as truncated, and what arrived
  // of the message is decoded (JSON, base64, ...) as a whole message would be.
  void Finish(const ChunkSink& sink);

 private:
  // Each step reads from `in` and returns false when it needs more bytes (or failed).
  bool Header(std::span<const uint8_t>& in, const ChunkSink& sink);
  void Payload(std::span<const uint8_t>& in, const ChunkSink& sink);
  bool StartFrame(const ChunkSink& sink);
  void FrameDone(const ChunkSink& sink);
  void MessageBytes(std::span<const uint8_t> bytes, const ChunkSink& sink);
  void Inflate(std::span<const uint8_t> bytes, const ChunkSink& sink);
  void EndMessage(const ChunkSink& sink);
  void TruncateMessage();

  const DecoderLimits& limits_;
  DecoderCounters& counters_;
  TransformBudget& budget_;
  bool deflate_offered_;
  uint64_t unit_base_;
  std::vector<std::string> decoding_;           // messages sent as they are
  std::vector<std::string> inflated_decoding_;  // permessage-deflate messages
  std::vector<std::string> control_decoding_;

  // The frame being read.
  std::array<uint8_t, 14> header_{};
  size_t header_len_ = 0;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  std::array<uint8_t, 4> mask_{};
  uint64_t remaining_ = 0;  // payload bytes of this frame still to come
  uint64_t mask_at_ = 0;    // payload offset, for the mask's phase
  std::string control_;     // a control frame's payload (125 bytes at most)

  // The message being reassembled.
  bool in_message_ = false;
  bool compressed_ = false;
  bool message_skipped_ = false;  // over a cap: the rest of the message is not decoded
  uint64_t message_bytes_ = 0;    // wire payload bytes so far
  size_t message_frames_ = 0;
  uint64_t messages_ = 0;
  uint64_t controls_ = 0;
  std::unique_ptr<BodyDecoder> body_;
  std::unique_ptr<MessageInflater> inflater_;  // made at the first compressed message

  bool failed_ = false;
  std::string undecoded_;
  std::vector<uint8_t> scratch_;  // unmasked payload, one input piece at a time
};

}  // namespace credsentry::stream::decoders
