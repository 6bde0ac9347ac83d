#include "stream/decoders/egress_decoder.h"

#include <algorithm>

#include "stream/decoders/derived_text.h"
#include "stream/decoders/dns.h"
#include "stream/decoders/http1_decoder.h"
#include "stream/decoders/http2_decoder.h"
#include "stream/decoders/tls_client_hello.h"

namespace credsentry::stream::decoders {
namespace {

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A capture that starts mid-connection is judged once at least two frame headers' worth of
// bytes are there.
constexpr size_t kMinSniff = 18;

}  // namespace

EgressDecoder::EgressDecoder(DecoderLimits limits, ProtocolHint hint)
    : limits_(limits),
      budget_(limits.max_transform_bytes),
      mode_(hint == ProtocolHint::kDnsTcp ? Mode::kDnsTcp : Mode::kSniff) {
  if (hint == ProtocolHint::kDnsTcp) facts_.protocol = "dns";
}

EgressDecoder::~EgressDecoder() = default;

void EgressDecoder::Feed(std::span<const uint8_t> bytes,
                         const std::function<void(const DecodedChunk&)>& on_chunk) {
  if (bytes.empty()) return;
  switch (mode_) {
    case Mode::kHttp1:
      http1_->Feed(bytes, on_chunk);
      if (facts_.mid_stream && counters_.requests > 0) facts_.protocol = "http1";
      return;
    case Mode::kHttp2:
      http2_->Feed(bytes, on_chunk);
      return;
    case Mode::kOpaque:
      counters_.opaque_bytes += bytes.size();
      return;
    case Mode::kSniff:
    case Mode::kTlsHello:
    case Mode::kDnsTcp:
      break;
  }
  pending_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (mode_ == Mode::kSniff) Sniff(on_chunk);
  if (mode_ == Mode::kTlsHello) TlsHello(on_chunk);
  if (mode_ == Mode::kDnsTcp) DnsTcp(on_chunk);
}

void EgressDecoder::Sniff(const ChunkSink& sink) {
  auto bytes = AsBytes(pending_);
  size_t n = std::min(bytes.size(), kHttp2Preface.size());
  if (std::string_view(pending_).substr(0, n) == kHttp2Preface.substr(0, n)) {
    if (n < kHttp2Preface.size()) return;  // could still be the preface
    StartHttp2(true, bytes, sink);
    return;
  }
  if (LooksLikeTlsHandshake(bytes)) {
    mode_ = Mode::kTlsHello;
    facts_.protocol = "tls";
    return;  // TlsHello() runs next on the same bytes
  }
  if (LooksLikeHttp1Request(bytes)) {
    if (bytes.size() < 4) return;  // "GET" alone does not tell yet
    StartHttp1(false, bytes, sink);
    return;
  }
  // Not a protocol start: the capture began mid-connection (or it is a protocol we do not
  // decode). HTTP/2 can resync on frame boundaries; otherwise HTTP/1 looks for the next
  // request line and passes everything before it on as raw bytes.
  facts_.mid_stream = true;
  size_t boundary = FindHttp2FrameBoundary(bytes, limits_.max_buffered_bytes);
  if (boundary == std::string_view::npos && bytes.size() < kMinSniff) {
    facts_.mid_stream = false;
    return;  // too little to judge HTTP/2 framing yet
  }
  if (boundary != std::string_view::npos) {
    if (boundary > 0) {
      counters_.skipped_bytes += boundary;
      static const std::vector<std::string> kRawDecoding{"raw"};
      EmitUndecoded(pending_.substr(0, boundary), kRawDecoding, sink);
    }
    StartHttp2(false, bytes.subspan(boundary), sink);
    return;
  }
  StartHttp1(true, bytes, sink);
}

void EgressDecoder::StartHttp1(bool resync, std::span<const uint8_t> bytes, const ChunkSink& sink) {
  mode_ = Mode::kHttp1;
  if (!resync) facts_.protocol = "http1";
  http1_ = std::make_unique<Http1Decoder>(limits_, counters_, facts_, budget_, resync);
  std::string held = std::move(pending_);
  pending_.clear();
  http1_->Feed(AsBytes(held).subspan(held.size() - bytes.size()), sink);
  if (resync && counters_.requests > 0) facts_.protocol = "http1";
}

void EgressDecoder::StartHttp2(bool preface, std::span<const uint8_t> bytes,
                               const ChunkSink& sink) {
  mode_ = Mode::kHttp2;
  facts_.protocol = "h2";
  http2_ = std::make_unique<Http2Decoder>(limits_, counters_, facts_, budget_, preface);
  std::string held = std::move(pending_);
  pending_.clear();
  http2_->Feed(AsBytes(held).subspan(held.size() - bytes.size()), sink);
}

void EgressDecoder::TlsHello(const ChunkSink& sink) {
  ClientHello hello;
  auto status = ParseClientHelloPrefix(AsBytes(pending_), hello);
  if (status == ClientHelloStatus::kNeedMore && pending_.size() <= limits_.max_buffered_bytes) {
    return;
  }
  if (status == ClientHelloStatus::kComplete) {
    facts_.sni = hello.sni;
    for (const auto& proto : hello.alpn) {
      if (!facts_.alpn.empty()) facts_.alpn.push_back(',');
      facts_.alpn += proto;
    }
  } else {
    ++counters_.parse_errors;
  }
  // Whatever follows a ClientHello on a plain socket is encrypted.
  counters_.opaque_bytes += pending_.size();
  std::string().swap(pending_);
  mode_ = Mode::kOpaque;
}

void EgressDecoder::DnsTcp(const ChunkSink& sink) {
  size_t at = 0;
  while (pending_.size() - at >= 2) {
    size_t len =
        (size_t{static_cast<uint8_t>(pending_[at])} << 8) | static_cast<uint8_t>(pending_[at + 1]);
    if (pending_.size() - at - 2 < len) break;
    EmitDnsMessage(AsBytes(pending_).subspan(at, 2 + len), DnsTransport::kTcp, ++dns_messages_,
                   counters_, sink);
    at += 2 + len;
  }
  pending_.erase(0, at);
}

}  // namespace credsentry::stream::decoders
