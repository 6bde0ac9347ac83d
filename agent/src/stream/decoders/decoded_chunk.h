// Types shared by every protocol decoder: limits, the decoded-chunk contract handed to the
// matcher, the facts learned about a connection, and the counters of everything dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alert/destination.h"
#include "common/counters.h"

namespace credsentry::stream::decoders {

struct DecoderLimits {
  size_t max_header_bytes = 64 << 10;  // per request/stream header block
  size_t max_body_bytes = 8 << 20;     // decoded body bytes examined per unit
  size_t max_inflate_ratio = 100;      // gzip/deflate bomb guard
  size_t max_inflated_bytes = 16 << 20;
  size_t max_h2_streams = 256;            // concurrently tracked HTTP/2 streams
  size_t max_buffered_bytes = 256 << 10;  // reassembly buffer per connection direction
  // Bodies are also kept whole (up to this many bytes per connection, all units together) so
  // that form, JSON, multipart and base64 transforms see values that straddle chunk edges.
  size_t max_transform_bytes = 1 << 20;
  // Encodings inside encodings (base64, hex, percent, JSON escapes in any order) are decoded
  // this many levels deep; deeper is counted, not decoded.
  size_t max_encoding_depth = 6;
};

// One piece of decoded data. A unit is identified by (layer, unit_id): its chunks, in the order
// they are emitted, are the unit's contiguous bytes, and the chunk with unit_end closes it.
// The next chunk with the same (layer, unit_id) starts a new unit (each header is its own unit).
// Headers are emitted as "name: value". `bytes` and `decoding` are valid only during the call.
struct DecodedChunk {
  std::string_view layer;  // "http1.request-line", "http1.header", "http1.body", "h2.header",
                           // "h2.data", "dns.qname", "<layer>.base64", ...
  uint64_t unit_id;        // request number / h2 stream id / dns message number
  std::span<const uint8_t> bytes;
  bool unit_end;                             // no more bytes for this unit
  const std::vector<std::string>* decoding;  // e.g. {"http1", "chunked", "gzip"}
  // Bytes no decoder understood (skipped while resyncing), passed on under the layer "raw": the
  // stream's own matcher has already seen them as they are.
  bool undecoded = false;
};

using ChunkSink = std::function<void(const DecodedChunk&)>;

// Where a client asked a proxy to take its connection (HTTP CONNECT authority, SOCKS5 host).
struct TunnelTarget {
  alert::ProxyKind kind = alert::ProxyKind::kHttpConnect;
  std::string host;  // a name, or an address in canonical text (IPv6 without brackets)
  uint16_t port = 0;
  bool host_is_address = false;
};

struct ConnectionFacts {
  std::string protocol = "unknown";     // "http1", "h2", "tls", "dns", "unknown"
  std::string sni, alpn;                // from a ClientHello seen in plain socket writes
  std::string http_host, h2_authority;  // last Host / :authority seen (claims, not truth)
  bool mid_stream = false;              // first bytes were not a protocol start
  // Set when the connection opened with a complete CONNECT or SOCKS5 handshake and the client
  // waited for the proxy before sending more: what follows goes to this target.
  std::optional<TunnelTarget> tunnel;
};

#define CREDSENTRY_DECODER_COUNTERS(X)                                             \
  X(truncated_units, "a header block or body cut at a limit")                      \
  X(bodies_cut_at_end, "request bodies still open when the stream ended (decoded as they were)") \
  X(skipped_bytes, "bytes not decoded (resync, over-limit frames, bad input)")     \
  X(bombs_stopped, "decompression stopped by the size or ratio cap")               \
  X(parse_errors, "malformed protocol input")                                      \
  X(h2_hpack_errors, "HPACK block failed; dynamic table reset")                    \
  X(h2_streams_dropped, "streams evicted at max_h2_streams")                       \
  X(decompress_errors, "corrupt gzip/deflate/zstd/br/bzip2/xz data")              \
  X(transform_truncated, "bodies too big to keep for form/JSON/base64 transforms") \
  X(transform_budget_exhausted, "texts whose nested decoding hit 8 decoded bytes per input byte") \
  X(transform_depth_exceeded, "texts with encodings nested deeper than max_encoding_depth")  \
  X(opaque_bytes, "bytes after a TLS ClientHello (encrypted, not decodable)")      \
  X(requests, "HTTP/1 requests + HTTP/2 streams seen")                             \
  X(tunnels_http_connect, "HTTP CONNECT tunnels followed to their target")         \
  X(tunnels_socks5, "SOCKS5 CONNECT tunnels followed to their target")             \
  X(http_connect_malformed, "CONNECT heads that broke HTTP or named no host:port") \
  X(http_connect_truncated, "CONNECT heads cut by a limit or the stream's end")    \
  X(socks5_malformed, "SOCKS5 handshakes that broke the protocol")                 \
  X(socks5_truncated, "SOCKS5 handshakes cut by the stream's end")                 \
  X(socks5_other_commands, "SOCKS5 BIND / UDP ASSOCIATE requests (not followed)")  \
  X(tunnel_early_data, "tunnel bytes sent before the proxy could answer (target not trusted)") \
  X(undeclared_compressed, "gzip/zlib/zstd/bzip2/xz streams found by magic, not by a header") \
  X(archive_entries, "files unpacked from tar and zip archives found in bodies")            \
  X(undeclared_unsupported, "zip entries of methods other than stored/deflate (not decoded)") \
  X(websocket_upgrades, "HTTP/1.1 upgrades and HTTP/2 extended CONNECTs to WebSocket")     \
  X(websocket_messages, "WebSocket text and binary messages decoded")                       \
  X(websocket_control_frames, "WebSocket close/ping/pong frames (their payloads matched)")  \
  X(websocket_truncated, "WebSocket messages cut by the size/frame/inflate caps or the end") \
  X(websocket_bad_frames, "WebSocket frames that broke RFC 6455 (the rest decoded as before)") \
  X(websocket_inflate_failed, "permessage-deflate messages that were not valid deflate")

struct DecoderCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_DECODER_COUNTERS, DecoderCounters)
};

}  // namespace credsentry::stream::decoders
