#include "stream/decoders/websocket_decoder.h"

#include <algorithm>
#include <cctype>

#include "stream/decoders/derived_text.h"

namespace credsentry::stream::decoders {
namespace {

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xa,
};

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv1 = 0x40;  // permessage-deflate: this message is compressed
constexpr uint8_t kRsv23 = 0x30;
constexpr uint8_t kMasked = 0x80;
constexpr size_t kMaxControlPayload = 125;
// Payload is unmasked this much at a time, so a large write needs no copy of its own size.
constexpr size_t kUnmaskBlock = 16 << 10;
// RFC 7692 7.2.2: the sender strips this empty stored block's tail from each message.
constexpr uint8_t kDeflateTail[] = {0x00, 0x00, 0xff, 0xff};

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool SameToken(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// True when one item of a comma-separated header value, up to its first ';', is `token`.
bool ListHas(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    if (SameToken(TrimSpace(item.substr(0, item.find(';'))), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::vector<std::string> With(std::vector<std::string> decoding, std::string step) {
  decoding.push_back(std::move(step));
  return decoding;
}

}  // namespace

void NoteWebSocketHeader(std::string_view name, std::string_view value, WebSocketOffer& offer) {
  if (SameToken(name, "upgrade")) {
    offer.upgrade = offer.upgrade || ListHas(value, "websocket");
  } else if (SameToken(name, "sec-websocket-key")) {
    offer.key = offer.key || !TrimSpace(value).empty();
  } else if (SameToken(name, "sec-websocket-extensions")) {
    offer.permessage_deflate = offer.permessage_deflate || ListHas(value, "permessage-deflate");
  }
}

WebSocketDecoder::WebSocketDecoder(const WebSocketOffer& offer, std::vector<std::string> decoding,
                                   const DecoderLimits& limits, DecoderCounters& counters,
                                   TransformBudget& budget, uint64_t unit_base)
    : limits_(limits),
      counters_(counters),
      budget_(budget),
      deflate_offered_(offer.permessage_deflate),
      unit_base_(unit_base),
      decoding_(With(std::move(decoding), "websocket")),
      inflated_decoding_(With(decoding_, "permessage-deflate")),
      control_decoding_(decoding_) {}

WebSocketDecoder::~WebSocketDecoder() = default;

bool WebSocketDecoder::Feed(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  if (failed_) return false;
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      if (!Header(bytes, sink)) break;
    } else {
      Payload(bytes, sink);
    }
  }
  if (failed_) {
    undecoded_.assign(reinterpret_cast<const char*>(header_.data()), header_len_);
    undecoded_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    header_len_ = 0;
    return false;
  }
  return true;
}

void WebSocketDecoder::Finish(const ChunkSink& sink) {
  if (in_message_) {
    TruncateMessage();
    if (body_) body_->Finish(sink);
    body_.reset();
    in_message_ = false;
  } else if (remaining_ > 0 || header_len_ > 0) {
    ++counters_.websocket_truncated;  // a control frame cut short
  }
}

bool WebSocketDecoder::Header(std::span<const uint8_t>& in, const ChunkSink& sink) {
  auto take = [&](size_t want) {
    size_t n = std::min(want - header_len_, in.size());
    std::copy_n(in.begin(), n, header_.begin() + header_len_);
    header_len_ += n;
    in = in.subspan(n);
    return header_len_ == want;
  };
  if (header_len_ < 2 && !take(2)) return false;
  const uint8_t len7 = header_[1] & 0x7f;
  const size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const size_t need = 2 + extended + ((header_[1] & kMasked) ? 4 : 0);
  if (!take(need)) return false;
  if (!StartFrame(sink)) {
    failed_ = true;
    return false;
  }
  header_len_ = 0;
  if (remaining_ == 0) FrameDone(sink);
  return true;
}

bool WebSocketDecoder::StartFrame(const ChunkSink& sink) {
  const uint8_t b0 = header_[0];
  const uint8_t len7 = header_[1] & 0x7f;
  uint64_t length = len7;
  size_t at = 2;
  if (len7 >= 126) {
    length = 0;
    const size_t n = len7 == 126 ? 2 : 8;
    for (size_t i = 0; i < n; ++i) length = (length << 8) | header_[at + i];
    at += n;
  }
  fin_ = (b0 & kFin) != 0;
  opcode_ = b0 & 0x0f;
  const bool control = opcode_ >= kClose;
  const bool rsv1 = (b0 & kRsv1) != 0;
  bool valid = (b0 & kRsv23) == 0 && (len7 != 127 || (length >> 63) == 0);
  switch (opcode_) {
    case kContinuation:
      valid = valid && in_message_ && !rsv1;
      break;
    case kText:
    case kBinary:
      valid = valid && !in_message_ && (!rsv1 || deflate_offered_);
      break;
    case kClose:
    case kPing:
    case kPong:
      valid = valid && fin_ && !rsv1 && length <= kMaxControlPayload;
      break;
    default:
      valid = false;
  }
  if (!valid) {
    // Not this protocol after all (a refused upgrade followed by more HTTP, or garbage): what
    // was read of a message is still decoded, and the rest goes back to the caller.
    ++counters_.websocket_bad_frames;
    if (in_message_) {
      TruncateMessage();
      EndMessage(sink);
    }
    return false;
  }
  if (header_[1] & kMasked) {
    std::copy_n(header_.begin() + at, 4, mask_.begin());
  } else {
    mask_ = {};  // clients must mask, but an unmasked frame still says what it says
  }
  remaining_ = length;
  mask_at_ = 0;
  if (control) {
    control_.clear();
    return true;
  }
  if (opcode_ != kContinuation) {
    in_message_ = true;
    compressed_ = rsv1;
    message_skipped_ = false;
    message_bytes_ = 0;
    message_frames_ = 0;
    ++counters_.websocket_messages;
    body_ = std::make_unique<BodyDecoder>(kLayerWebSocketMessage, unit_base_ + ++messages_,
                                          compressed_ ? inflated_decoding_ : decoding_,
                                          BodyHeaders{}, limits_, counters_, budget_);
    if (compressed_) {
      if (!inflater_) {
        inflater_ = std::make_unique<MessageInflater>(DecompressLimits{
            .max_output = limits_.max_inflated_bytes, .max_ratio = limits_.max_inflate_ratio});
      }
      inflater_->StartMessage();
    }
  }
  if (++message_frames_ > kMaxWebSocketFramesPerMessage) TruncateMessage();
  return true;
}

void WebSocketDecoder::Payload(std::span<const uint8_t>& in, const ChunkSink& sink) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, in.size(), kUnmaskBlock}));
  const bool control = opcode_ >= kClose;
  if (!control && message_skipped_) {
    counters_.skipped_bytes += n;
  } else {
    scratch_.resize(n);
    for (size_t i = 0; i < n; ++i) scratch_[i] = in[i] ^ mask_[(mask_at_ + i) & 3];
    if (control) {
      control_.append(reinterpret_cast<const char*>(scratch_.data()), n);
    } else {
      MessageBytes(scratch_, sink);
    }
  }
  mask_at_ += n;
  remaining_ -= n;
  in = in.subspan(n);
  if (remaining_ == 0) FrameDone(sink);
}

void WebSocketDecoder::FrameDone(const ChunkSink& sink) {
  if (opcode_ >= kClose) {
    // A close frame's reason and a ping's data leave like any payload.
    ++counters_.websocket_control_frames;
    if (!control_.empty()) {
      EmitUnit(kLayerWebSocketControl, unit_base_ + ++controls_, control_, control_decoding_, sink);
    }
    control_.clear();
    return;
  }
  if (fin_) EndMessage(sink);
}

void WebSocketDecoder::MessageBytes(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  const uint64_t cap = limits_.max_body_bytes;
  const uint64_t room = cap - std::min(message_bytes_, cap);
  if (bytes.size() > room) {
    counters_.skipped_bytes += bytes.size() - room;
    bytes = bytes.first(static_cast<size_t>(room));
    TruncateMessage();
  }
  message_bytes_ += bytes.size();
  if (bytes.empty()) return;
  if (compressed_) {
    Inflate(bytes, sink);
  } else {
    body_->Feed(bytes, sink);
  }
}

void WebSocketDecoder::Inflate(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  auto status =
      inflater_->Feed(bytes, [&](std::span<const uint8_t> out) { body_->Feed(out, sink); });
  if (status == DecompressStatus::kOk) return;
  if (status == DecompressStatus::kBomb) {
    ++counters_.bombs_stopped;
  } else {
    ++counters_.websocket_inflate_failed;
  }
  TruncateMessage();
}

void WebSocketDecoder::EndMessage(const ChunkSink& sink) {
  if (compressed_ && !message_skipped_) Inflate(kDeflateTail, sink);
  if (body_) body_->Finish(sink);
  body_.reset();
  in_message_ = false;
}

void WebSocketDecoder::TruncateMessage() {
  if (message_skipped_) return;
  message_skipped_ = true;
  ++counters_.websocket_truncated;
}

}  // namespace credsentry::stream::decoders
