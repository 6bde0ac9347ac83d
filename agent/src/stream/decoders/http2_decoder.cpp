#include "stream/decoders/http2_decoder.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "stream/decoders/derived_text.h"

namespace credsentry::stream::decoders {
namespace {

constexpr size_t kFrameHeaderSize = 9;
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kPriority = 0x2, kRstStream = 0x3, kSettings = 0x4,
                  kPushPromise = 0x5, kPing = 0x6, kGoaway = 0x7, kWindowUpdate = 0x8,
                  kContinuation = 0x9;
constexpr uint8_t kFlagEndStream = 0x1, kFlagEndHeaders = 0x4, kFlagPadded = 0x8,
                  kFlagPriority = 0x20;
// Servers may allow a bigger dynamic table than the 4 KiB default through SETTINGS we do not
// see (they travel the other way), so the inflater accepts table size updates up to this.
constexpr size_t kMaxHpackTable = 64 << 10;
constexpr size_t kMaxResyncScan = 64 << 10;

uint32_t Read24(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }
uint32_t Read31(const uint8_t* p) {
  return ((uint32_t{p[0]} & 0x7F) << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Whether a frame header could have been written by an HTTP/2 client.
bool PlausibleClientFrame(const uint8_t* h, size_t max_frame) {
  uint32_t length = Read24(h);
  uint8_t type = h[3], flags = h[4];
  bool reserved = (h[5] & 0x80) != 0;
  uint32_t stream = Read31(h + 5);
  if (reserved || length > max_frame) return false;
  bool client_stream = stream != 0 && (stream & 1) == 1;
  switch (type) {
    case kData:
      return client_stream && (flags & ~(kFlagEndStream | kFlagPadded)) == 0;
    case kHeaders:
      return client_stream &&
             (flags & ~(kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority)) == 0;
    case kPriority:
      return client_stream && length == 5 && flags == 0;
    case kRstStream:
      return client_stream && length == 4 && flags == 0;
    case kSettings:
      return stream == 0 && length % 6 == 0 && (flags & ~1) == 0;
    case kPing:
      return stream == 0 && length == 8 && (flags & ~1) == 0;
    case kGoaway:
      return stream == 0 && length >= 8 && flags == 0;
    case kWindowUpdate:
      return length == 4 && flags == 0;
    case kContinuation:
      return client_stream && (flags & ~kFlagEndHeaders) == 0;
    default:
      return false;
  }
}

}  // namespace

size_t FindHttp2FrameBoundary(std::span<const uint8_t> bytes, size_t max_frame) {
  size_t scan = std::min(bytes.size(), kMaxResyncScan);
  for (size_t start = 0; start < scan; ++start) {
    size_t at = start;
    int frames = 0;
    while (at + kFrameHeaderSize <= bytes.size() && PlausibleClientFrame(&bytes[at], max_frame)) {
      at += kFrameHeaderSize + Read24(&bytes[at]);
      ++frames;
      if (at > bytes.size()) break;  // the last frame runs past what we have: fine
      if (frames >= 2 || at == bytes.size()) return start;
    }
    if (frames >= 1 && at > bytes.size()) return start;
  }
  return std::string_view::npos;
}

Http2Decoder::Http2Decoder(const DecoderLimits& limits, DecoderCounters& counters,
                           ConnectionFacts& facts, TransformBudget& budget, bool expect_preface)
    : limits_(limits),
      counters_(counters),
      facts_(facts),
      budget_(budget),
      preface_pending_(expect_preface) {
  ResetInflater();
}

Http2Decoder::~Http2Decoder() {
  if (inflater_) nghttp2_hd_inflate_del(inflater_);
}

void Http2Decoder::ResetInflater() {
  if (inflater_) nghttp2_hd_inflate_del(inflater_);
  inflater_ = nullptr;
  if (nghttp2_hd_inflate_new(&inflater_) == 0) {
    nghttp2_hd_inflate_change_table_size(inflater_, kMaxHpackTable);
  }
}

void Http2Decoder::Feed(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  while (!bytes.empty()) {
    if (have_header_ && frame_.type == kData && !skipping_ && data_pad_known_) {
      // Stream DATA straight from the caller's bytes.
      size_t take = std::min<size_t>(data_left_, bytes.size());
      if (take > 0) {
        Stream* stream = FindStream(frame_.stream_id);
        if (stream == nullptr) stream = &OpenStream(frame_.stream_id, sink);
        StreamData(*stream, bytes.first(take), sink);
        data_left_ -= static_cast<uint32_t>(take);
        bytes = bytes.subspan(take);
      }
      size_t pad = std::min<size_t>(pad_left_, bytes.size());
      pad_left_ -= static_cast<uint32_t>(pad);
      bytes = bytes.subspan(pad);
      if (data_left_ == 0 && pad_left_ == 0) {
        if (frame_.flags & kFlagEndStream) CloseStream(frame_.stream_id, sink);
        have_header_ = false;
        buf_.clear();
      }
      continue;
    }
    if (skipping_) {
      size_t take = std::min<size_t>(data_left_, bytes.size());
      data_left_ -= static_cast<uint32_t>(take);
      counters_.skipped_bytes += take;
      bytes = bytes.subspan(take);
      if (data_left_ == 0) {
        skipping_ = false;
        have_header_ = false;
        buf_.clear();
      }
      continue;
    }
    // Assemble the preface, a frame header, the DATA pad length, or a whole control frame.
    size_t need = preface_pending_       ? kHttp2Preface.size()
                  : !have_header_        ? kFrameHeaderSize
                  : frame_.type == kData ? kFrameHeaderSize + 1
                                         : kFrameHeaderSize + frame_.length;
    size_t take = std::min(need - buf_.size(), bytes.size());
    buf_.append(reinterpret_cast<const char*>(bytes.data()), take);
    bytes = bytes.subspan(take);
    if (buf_.size() < need) break;
    if (preface_pending_) {
      Preface();
    } else if (!have_header_) {
      NextFrameHeader();
      if (frame_.type == kData && !data_pad_known_ && frame_.length == 0) {
        // PADDED needs a pad-length byte; without one the next frame's byte would be taken.
        ++counters_.parse_errors;
        have_header_ = false;
        buf_.clear();
      } else if (frame_.type == kData && data_pad_known_ && frame_.length == 0) {
        // An empty DATA frame carries no bytes but may still end the stream.
        if (frame_.flags & kFlagEndStream) CloseStream(frame_.stream_id, sink);
        have_header_ = false;
        buf_.clear();
      } else if (frame_.type != kData && !skipping_ && frame_.length == 0) {
        WholeFrame(sink);
      }
    } else if (frame_.type == kData) {
      DataPayload(sink);
    } else {
      WholeFrame(sink);
    }
  }
}

bool Http2Decoder::Preface() {
  if (buf_ != kHttp2Preface) ++counters_.parse_errors;
  preface_pending_ = false;
  buf_.clear();
  return true;
}

bool Http2Decoder::NextFrameHeader() {
  auto* h = reinterpret_cast<const uint8_t*>(buf_.data());
  frame_ = FrameHeader{Read24(h), h[3], h[4], Read31(h + 5)};
  have_header_ = true;
  if (frame_.type == kData) {
    data_pad_known_ = (frame_.flags & kFlagPadded) == 0;
    data_left_ = frame_.length;
    pad_left_ = 0;
    return true;
  }
  if (frame_.length > limits_.max_buffered_bytes) {
    // Too big to assemble. Losing a header block desynchronises HPACK, so start it afresh.
    skipping_ = true;
    data_left_ = frame_.length;
    ++counters_.parse_errors;
    if (frame_.type == kHeaders || frame_.type == kContinuation) {
      ++counters_.h2_hpack_errors;
      ++counters_.truncated_units;
      continuation_stream_ = 0;
      ResetInflater();
    }
  }
  return true;
}

bool Http2Decoder::DataPayload(const ChunkSink& sink) {
  // Only reached for a PADDED DATA frame: the byte after the header is the pad length.
  uint8_t pad = static_cast<uint8_t>(buf_[kFrameHeaderSize]);
  if (frame_.length == 0 || pad > frame_.length - 1) {
    ++counters_.parse_errors;
    skipping_ = true;
    data_left_ = frame_.length == 0 ? 0 : frame_.length - 1;
    if (data_left_ == 0) {
      skipping_ = false;
      have_header_ = false;
      buf_.clear();
    }
    return true;
  }
  data_left_ = frame_.length - 1 - pad;
  pad_left_ = pad;
  data_pad_known_ = true;
  if (data_left_ == 0 && pad_left_ == 0) {
    if (frame_.flags & kFlagEndStream) CloseStream(frame_.stream_id, sink);
    have_header_ = false;
    buf_.clear();
  }
  return true;
}

bool Http2Decoder::WholeFrame(const ChunkSink& sink) {
  std::span<const uint8_t> payload(reinterpret_cast<const uint8_t*>(buf_.data()) + kFrameHeaderSize,
                                   frame_.length);
  FrameHeader frame = frame_;
  have_header_ = false;
  if (continuation_stream_ != 0 && frame.type != kContinuation) {
    // A header block must be followed by its CONTINUATION frames and nothing else.
    ++counters_.parse_errors;
    ++counters_.h2_hpack_errors;
    continuation_stream_ = 0;
    ResetInflater();
  }
  switch (frame.type) {
    case kHeaders: {
      size_t skip_front = 0, pad = 0;
      if (frame.flags & kFlagPadded) {
        if (payload.empty()) break;
        pad = payload[0];
        skip_front = 1;
      }
      if (frame.flags & kFlagPriority) skip_front += 5;
      if (skip_front + pad > payload.size()) {
        ++counters_.parse_errors;
        break;
      }
      auto fragment = payload.subspan(skip_front, payload.size() - skip_front - pad);
      Stream* stream = FindStream(frame.stream_id);
      if (stream == nullptr) {
        stream = &OpenStream(frame.stream_id, sink);
        ++counters_.requests;
      }
      stream->header_bytes = 0;
      stream->headers_truncated = false;
      stream->end_stream_after_headers = (frame.flags & kFlagEndStream) != 0;
      continuation_stream_ = frame.stream_id;
      HeaderBlock(fragment, (frame.flags & kFlagEndHeaders) != 0, sink);
      break;
    }
    case kContinuation:
      if (continuation_stream_ != frame.stream_id) {
        ++counters_.parse_errors;
        break;
      }
      HeaderBlock(payload, (frame.flags & kFlagEndHeaders) != 0, sink);
      break;
    case kRstStream:
      CloseStream(frame.stream_id, sink);
      break;
    case kPushPromise:  // servers only; from a client it is a protocol error
      ++counters_.parse_errors;
      break;
    default:  // SETTINGS, PING, PRIORITY, GOAWAY, WINDOW_UPDATE, unknown: nothing to decode
      break;
  }
  buf_.clear();
  return true;
}

void Http2Decoder::HeaderBlock(std::span<const uint8_t> fragment, bool end_headers,
                               const ChunkSink& sink) {
  uint32_t stream_id = continuation_stream_;
  if (end_headers) continuation_stream_ = 0;
  if (inflater_ == nullptr) return;
  const uint8_t* in = fragment.data();
  size_t left = fragment.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    ssize_t rv = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, end_headers ? 1 : 0);
    if (rv < 0) {
      // Typically an index into a dynamic table we never saw (capture began mid-connection).
      // The inflater is unusable after an error: later blocks decode against a fresh table,
      // so literal headers are still found.
      ++counters_.h2_hpack_errors;
      continuation_stream_ = 0;
      ResetInflater();
      break;
    }
    in += rv;
    left -= static_cast<size_t>(rv);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      if (Stream* stream = FindStream(stream_id)) {
        EmitHeader(*stream, {reinterpret_cast<const char*>(nv.name), nv.namelen},
                   {reinterpret_cast<const char*>(nv.value), nv.valuelen}, sink);
      }
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_);
      break;
    }
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  if (!end_headers) return;
  Stream* stream = FindStream(stream_id);
  if (stream != nullptr && stream->end_stream_after_headers) CloseStream(stream_id, sink);
}

void Http2Decoder::EmitHeader(Stream& stream, std::string_view name, std::string_view value,
                              const ChunkSink& sink) {
  stream.header_bytes += name.size() + value.size();
  if (stream.header_bytes > limits_.max_header_bytes) {
    if (!stream.headers_truncated) {
      stream.headers_truncated = true;
      ++counters_.truncated_units;
    }
    return;
  }
  std::string line;
  line.reserve(name.size() + 2 + value.size());
  line.append(name).append(": ").append(value);
  EmitUnit(kLayerH2Header, stream.id, line, hpack_decoding_, sink);
  DerivedContext ctx{limits_, counters_, sink};
  EmitDerived(value, name == ":path" ? TextKind::kQuery : TextKind::kHeaderValue, {}, stream.id,
              hpack_decoding_, ctx);
  if (name == ":authority") {
    facts_.h2_authority = std::string(value);
  } else if (IEquals(name, "host")) {
    facts_.http_host = std::string(value);
  } else if (name == ":method") {
    stream.connect = value == "CONNECT";
  } else if (name == ":protocol") {
    // Extended CONNECT has no Sec-WebSocket-Key: the :protocol alone asks for WebSocket.
    stream.websocket_offer.upgrade = stream.websocket_offer.key = IEquals(value, "websocket");
  } else if (IEquals(name, "content-encoding")) {
    stream.body_headers.content_encoding = std::string(value);
  } else if (IEquals(name, "content-type")) {
    stream.body_headers.content_type = std::string(value);
  } else {
    NoteWebSocketHeader(name, value, stream.websocket_offer);  // sec-websocket-extensions
  }
}

void Http2Decoder::StreamData(Stream& stream, std::span<const uint8_t> bytes,
                              const ChunkSink& sink) {
  std::string not_websocket;
  if (!stream.body && stream.connect && stream.websocket_offer.Requested()) {
    if (!stream.websocket) {
      ++counters_.websocket_upgrades;
      stream.websocket =
          std::make_unique<WebSocketDecoder>(stream.websocket_offer, decoding_, limits_,
                                             counters_, budget_, uint64_t{stream.id} << 32);
    }
    if (stream.websocket->Feed(bytes, sink)) return;
    // Not WebSocket after all: the stream's bytes from the bad frame on are decoded as a body.
    not_websocket = stream.websocket->TakeUndecoded();
    stream.websocket.reset();
    bytes = {reinterpret_cast<const uint8_t*>(not_websocket.data()), not_websocket.size()};
  }
  if (!stream.body) {
    stream.body = std::make_unique<BodyDecoder>(kLayerH2Data, stream.id, decoding_,
                                                stream.body_headers, limits_, counters_, budget_);
  }
  stream.body->Feed(bytes, sink);
}

Http2Decoder::Stream* Http2Decoder::FindStream(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return nullptr;
  lru_.splice(lru_.end(), lru_, it->second.lru);
  return &it->second;
}

Http2Decoder::Stream& Http2Decoder::OpenStream(uint32_t id, const ChunkSink& sink) {
  while (!streams_.empty() && streams_.size() >= limits_.max_h2_streams) {
    // Evict the stream idle longest; its body unit is closed so the matcher can finish it.
    ++counters_.h2_streams_dropped;
    CloseStream(lru_.front(), sink);
  }
  Stream& stream = streams_[id];
  stream.id = id;
  lru_.push_back(id);
  stream.lru = std::prev(lru_.end());
  return stream;
}

void Http2Decoder::Finish(const ChunkSink& sink) {
  while (!streams_.empty()) {
    if (streams_.begin()->second.body) ++counters_.bodies_cut_at_end;
    CloseStream(streams_.begin()->first, sink);
  }
}

void Http2Decoder::CloseStream(uint32_t id, const ChunkSink& sink) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (it->second.body) it->second.body->Finish(sink);
  if (it->second.websocket) it->second.websocket->Finish(sink);
  lru_.erase(it->second.lru);
  streams_.erase(it);
}

}  // namespace credsentry::stream::decoders
