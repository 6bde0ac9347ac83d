#include "stream/decoders/egress_decoder.h"

#include <algorithm>

#include "stream/decoders/derived_text.h"
#include "stream/decoders/dns.h"
#include "stream/decoders/http1_decoder.h"
#include "stream/decoders/http2_decoder.h"
#include "stream/decoders/proxy_handshake.h"
#include "stream/decoders/tls_client_hello.h"
#include "stream/decoders/websocket_decoder.h"

namespace credsentry::stream::decoders {
namespace {

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A capture that starts mid-connection is judged once at least two frame headers' worth of
// bytes are there.
constexpr size_t kMinSniff = 18;

// Any TLS record (change_cipher_spec, alert, handshake, application_data) of TLS 1.0 to 1.3.
bool LooksLikeTlsRecord(std::span<const uint8_t> bytes) {
  return bytes.size() >= 3 && bytes[0] >= 0x14 && bytes[0] <= 0x17 && bytes[1] == 0x03 &&
         bytes[2] <= 0x04;
}

const std::vector<std::string> kSocks5Decoding{"socks5"};
const std::vector<std::string> kHttp1Decoding{"http1"};

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
    case Mode::kWebSocket:
      Http1OrWebSocket(bytes, on_chunk);
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
    case Mode::kHttpConnect:
    case Mode::kSocks5:
      break;
  }
  pending_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // A step that changes the mode hands the held bytes to the next one (a finished proxy
  // handshake to sniffing what the tunnel carries, sniffing to the ClientHello parser).
  for (;;) {
    const Mode before = mode_;
    switch (mode_) {
      case Mode::kSniff:
        Sniff(on_chunk);
        break;
      case Mode::kHttpConnect:
        HttpConnect(on_chunk);
        break;
      case Mode::kSocks5:
        Socks5(on_chunk);
        break;
      case Mode::kTlsHello:
        TlsHello(on_chunk);
        break;
      case Mode::kDnsTcp:
        DnsTcp(on_chunk);
        return;
      case Mode::kHttp1:
      case Mode::kHttp2:
      case Mode::kOpaque:
      case Mode::kWebSocket:
        return;
    }
    if (mode_ == before) return;  // waiting for more bytes
  }
}

void EgressDecoder::Finish(const std::function<void(const DecodedChunk&)>& on_chunk) {
  if (finished_) return;
  finished_ = true;
  if (mode_ == Mode::kHttpConnect) ++counters_.http_connect_truncated;
  if (mode_ == Mode::kSocks5) ++counters_.socks5_truncated;
  if (mode_ == Mode::kWebSocket && websocket_) websocket_->Finish(on_chunk);
  if (mode_ == Mode::kHttp1 && http1_) http1_->Finish(on_chunk);
  if (mode_ == Mode::kHttp2 && http2_) http2_->Finish(on_chunk);
}

// Only at a connection's start: "CONNECT " or a SOCKS5 greeting. False when neither can be.
bool EgressDecoder::SniffProxyHandshake() {
  if (handshake_judged_) return false;
  if (LooksLikeHttpConnect(pending_)) {
    mode_ = Mode::kHttpConnect;
    return true;
  }
  if (LooksLikeSocks5Greeting(AsBytes(pending_))) {
    mode_ = Mode::kSocks5;
    return true;
  }
  handshake_judged_ = true;
  return false;
}

void EgressDecoder::HttpConnect(const ChunkSink& sink) {
  if (!LooksLikeHttpConnect(pending_)) {  // "CO" then "PY ...": some other method
    handshake_judged_ = true;
    mode_ = Mode::kSniff;
    return;
  }
  ConnectHead head;
  switch (ParseConnectHead(pending_, limits_.max_header_bytes, head)) {
    case HandshakeStatus::kNeedMore:
      return;
    case HandshakeStatus::kInvalid:
      // Decoded as any request would be; the target it names is not followed.
      if (pending_.size() > limits_.max_header_bytes) {
        ++counters_.http_connect_truncated;
      } else {
        ++counters_.http_connect_malformed;
      }
      handshake_judged_ = true;
      StartHttp1(false, AsBytes(pending_), sink);
      return;
    case HandshakeStatus::kComplete:
      break;
  }
  // The head's lines are matched like any request's: Proxy-Authorization carries credentials.
  {
    Http1Decoder head_decoder(limits_, counters_, facts_, budget_, false);
    head_decoder.Feed(AsBytes(pending_).first(head.head_bytes), sink);
  }
  pending_.erase(0, head.head_bytes);
  ++counters_.tunnels_http_connect;
  EnterTunnel(head.target, !pending_.empty());
}

void EgressDecoder::Socks5(const ChunkSink& sink) {
  Socks5Handshake hs;
  HandshakeStatus status = ParseSocks5Handshake(AsBytes(pending_), hs);
  if (status == HandshakeStatus::kNeedMore) {
    if (pending_.size() <= kMaxSocks5Handshake) return;
    status = HandshakeStatus::kInvalid;
  }
  handshake_judged_ = true;
  if (status == HandshakeStatus::kInvalid) {
    // Not SOCKS5 after all: decoded from here as a connection of unknown start.
    ++counters_.socks5_malformed;
    mode_ = Mode::kSniff;
    return;
  }
  if (!hs.username.empty()) EmitUnit("socks5.username", 1, hs.username, kSocks5Decoding, sink);
  if (!hs.password.empty()) EmitUnit("socks5.password", 1, hs.password, kSocks5Decoding, sink);
  pending_.erase(0, hs.handshake_bytes);
  if (hs.command != 1) {
    // BIND and UDP ASSOCIATE carry nothing of the client's on this connection to a target.
    ++counters_.socks5_other_commands;
    mode_ = Mode::kSniff;
    return;
  }
  ++counters_.tunnels_socks5;
  EnterTunnel(hs.target, !pending_.empty());
}

// The client sends tunnel bytes only after the proxy's success reply, which we cannot see.
// Bytes in the same write as the handshake's end did not wait for it: the target is then a
// claim nobody answered, and the connection keeps being judged by its own peer.
void EgressDecoder::EnterTunnel(const TunnelTarget& target, bool early_data) {
  handshake_judged_ = true;
  in_tunnel_ = true;
  if (early_data) {
    ++counters_.tunnel_early_data;
  } else {
    facts_.tunnel = target;
  }
  mode_ = Mode::kSniff;
}

void EgressDecoder::Sniff(const ChunkSink& sink) {
  auto bytes = AsBytes(pending_);
  if (bytes.empty() || SniffProxyHandshake()) return;
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
  if (in_tunnel_ && LooksLikeTlsRecord(bytes)) {
    // TLS through the tunnel whose ClientHello went by on its own (the pipeline reads it for
    // the SNI): the rest is ciphertext.
    facts_.protocol = "tls";
    counters_.opaque_bytes += pending_.size();
    std::string().swap(pending_);
    mode_ = Mode::kOpaque;
    return;
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
  Http1OrWebSocket(AsBytes(held).subspan(held.size() - bytes.size()), sink);
  if (resync && counters_.requests > 0) facts_.protocol = "http1";
}

// A loop, not calls back and forth, so a write of many upgrades and bad frames stays flat.
void EgressDecoder::Http1OrWebSocket(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  std::string handed_over;
  for (;;) {
    if (mode_ == Mode::kHttp1) {
      http1_->Feed(bytes, sink);
      if (!http1_->upgraded()) return;
      ++counters_.websocket_upgrades;
      websocket_ = std::make_unique<WebSocketDecoder>(http1_->websocket_offer(), kHttp1Decoding,
                                                      limits_, counters_, budget_);
      handed_over = http1_->TakeRest();
      http1_.reset();
      mode_ = Mode::kWebSocket;
    } else {
      if (websocket_->Feed(bytes, sink)) return;
      // The server refused the upgrade (or it never was one): these bytes are HTTP/1 again.
      handed_over = websocket_->TakeUndecoded();
      websocket_.reset();
      const bool request = LooksLikeHttp1Request(AsBytes(handed_over));
      http1_ = std::make_unique<Http1Decoder>(limits_, counters_, facts_, budget_, !request);
      mode_ = Mode::kHttp1;
    }
    bytes = AsBytes(handed_over);
  }
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
