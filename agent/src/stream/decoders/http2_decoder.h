// HTTP/2 client-side decoder: preface, frames, HEADERS/CONTINUATION through one stateful HPACK
// inflater per connection (nghttp2), DATA per stream through BodyDecoder. Frames are parsed
// incrementally; DATA payloads stream through without being buffered whole.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stream/decoders/body_decoder.h"
#include "stream/decoders/decoded_chunk.h"
#include "stream/decoders/websocket_decoder.h"

struct nghttp2_hd_inflater;

namespace credsentry::stream::decoders {

inline constexpr std::string_view kLayerH2Header = "h2.header";
inline constexpr std::string_view kLayerH2Data = "h2.data";
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Offset of the first position in `bytes` from which at least two plausible client frames
// follow back to back (or one that ends exactly at the end), for a capture that started
// mid-connection. npos when there is none.
size_t FindHttp2FrameBoundary(std::span<const uint8_t> bytes, size_t max_frame);

class Http2Decoder {
 public:
  // expect_preface: the connection start was seen; otherwise frames start right away.
  Http2Decoder(const DecoderLimits& limits, DecoderCounters& counters, ConnectionFacts& facts,
               TransformBudget& budget, bool expect_preface);
  ~Http2Decoder();
  Http2Decoder(const Http2Decoder&) = delete;
  Http2Decoder& operator=(const Http2Decoder&) = delete;

  void Feed(std::span<const uint8_t> bytes, const ChunkSink& sink);
  // The connection ended: streams still open are closed, their bodies and WebSocket messages
  // decoded with what arrived (and counted).
  void Finish(const ChunkSink& sink);

 private:
  struct Stream {
    uint32_t id = 0;
    BodyHeaders body_headers;
    std::unique_ptr<BodyDecoder> body;
    // RFC 8441: CONNECT with :protocol websocket carries WebSocket frames in its DATA.
    bool connect = false;
    WebSocketOffer websocket_offer;
    std::unique_ptr<WebSocketDecoder> websocket;
    size_t header_bytes = 0;
    bool headers_truncated = false;
    bool end_stream_after_headers = false;
    std::list<uint32_t>::iterator lru;
  };
  struct FrameHeader {
    uint32_t length = 0;
    uint8_t type = 0;
    uint8_t flags = 0;
    uint32_t stream_id = 0;
  };

  bool Preface();
  bool NextFrameHeader();
  bool DataPayload(const ChunkSink& sink);
  bool WholeFrame(const ChunkSink& sink);
  void HeaderBlock(std::span<const uint8_t> fragment, bool end_headers, const ChunkSink& sink);
  void EmitHeader(Stream& stream, std::string_view name, std::string_view value,
                  const ChunkSink& sink);
  void HeadersComplete(Stream& stream, const ChunkSink& sink);
  Stream* FindStream(uint32_t id);
  Stream& OpenStream(uint32_t id, const ChunkSink& sink);
  void CloseStream(uint32_t id, const ChunkSink& sink);
  void StreamData(Stream& stream, std::span<const uint8_t> bytes, const ChunkSink& sink);
  void ResetInflater();

  const DecoderLimits& limits_;
  DecoderCounters& counters_;
  ConnectionFacts& facts_;
  TransformBudget& budget_;
  nghttp2_hd_inflater* inflater_ = nullptr;
  bool preface_pending_;
  std::string buf_;  // bytes of the frame being assembled (header, or header + payload)
  bool have_header_ = false;
  FrameHeader frame_;
  // DATA payload streamed as it arrives: what is left of it, and of its trailing padding.
  uint32_t data_left_ = 0;
  uint32_t pad_left_ = 0;
  bool data_pad_known_ = false;
  bool skipping_ = false;             // an oversized non-DATA frame being skipped
  uint32_t continuation_stream_ = 0;  // nonzero while a header block awaits CONTINUATION
  std::map<uint32_t, Stream> streams_;
  std::list<uint32_t> lru_;  // least recently used first, for eviction at the cap
  std::vector<std::string> decoding_{"h2"};
  std::vector<std::string> hpack_decoding_{"h2", "hpack"};
};

}  // namespace credsentry::stream::decoders
