// One connection's egress bytes in, decoded units out. Recognises the protocol from the first
// bytes (HTTP/2 preface, TLS ClientHello, HTTP/1 request line; DNS over TCP by hint) and hands
// the stream to that protocol's decoder. A connection that opens by asking a proxy for a tunnel
// (HTTP CONNECT, SOCKS5) has the handshake read first, its target kept in facts().tunnel, and
// what follows recognised again as the tunnel's own protocol. An HTTP/1.1 request asking for
// WebSocket switches the stream to WebSocket frames after it. A capture that began
// mid-connection is marked and decoded from the next recognisable boundary; bytes before it are
// passed on as "raw".
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "stream/decoders/body_decoder.h"
#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders {

class Http1Decoder;
class Http2Decoder;
class WebSocketDecoder;

enum class ProtocolHint { kAuto, kDnsTcp };

class EgressDecoder {
 public:
  explicit EgressDecoder(DecoderLimits limits = {}, ProtocolHint hint = ProtocolHint::kAuto);
  ~EgressDecoder();
  EgressDecoder(const EgressDecoder&) = delete;
  EgressDecoder& operator=(const EgressDecoder&) = delete;

  // Plaintext bytes in order (from TLS capture or a plain socket). Calls on_chunk for each
  // decoded piece as soon as it is known (headers per header, bodies incrementally).
  void Feed(std::span<const uint8_t> bytes,
            const std::function<void(const DecodedChunk&)>& on_chunk);

  // The stream has ended: a proxy handshake still incomplete is counted as truncated, and a
  // body or WebSocket message still open is decoded with what arrived of it.
  void Finish(const std::function<void(const DecodedChunk&)>& on_chunk);

  const ConnectionFacts& facts() const { return facts_; }
  const DecoderCounters& counters() const { return counters_; }

 private:
  enum class Mode { kSniff, kHttp1, kHttp2, kTlsHello, kOpaque, kDnsTcp, kHttpConnect, kSocks5,
                    kWebSocket };

  void Sniff(const ChunkSink& sink);
  bool SniffProxyHandshake();
  void HttpConnect(const ChunkSink& sink);
  void Socks5(const ChunkSink& sink);
  void EnterTunnel(const TunnelTarget& target, bool early_data);
  void TlsHello(const ChunkSink& sink);
  void DnsTcp(const ChunkSink& sink);
  void StartHttp1(bool resync, std::span<const uint8_t> bytes, const ChunkSink& sink);
  void Http1OrWebSocket(std::span<const uint8_t> bytes, const ChunkSink& sink);
  void StartHttp2(bool preface, std::span<const uint8_t> bytes, const ChunkSink& sink);

  DecoderLimits limits_;
  DecoderCounters counters_;
  ConnectionFacts facts_;
  TransformBudget budget_;
  Mode mode_;
  std::string pending_;  // bytes held while sniffing, assembling a ClientHello or DNS message
  uint64_t dns_messages_ = 0;
  bool handshake_judged_ = false;  // only a connection's first bytes can ask a proxy for a tunnel
  bool in_tunnel_ = false;         // the bytes now are the tunnel's: TLS records are opaque
  bool finished_ = false;
  std::unique_ptr<Http1Decoder> http1_;
  std::unique_ptr<Http2Decoder> http2_;
  std::unique_ptr<WebSocketDecoder> websocket_;
};

}  // namespace credsentry::stream::decoders
