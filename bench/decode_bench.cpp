// Decode throughput of the protocol decoders, one core: generated HTTP/1.1 (plain, chunked,
// gzip), HTTP/2 (HPACK, DATA) and WebSocket (masked, fragmented, permessage-deflate) client
// traffic. Prints MB/s of wire bytes, µs per request, and
// beside them a raw Hyperscan block scan of the same wire bytes and of the decoded output, so
// the decoder's cost reads as a ratio to matching.
//
//   decode_bench [requests=2000] [body_bytes=2048] [rounds=5]
#include <hs/hs.h>
#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "stream/decoders/egress_decoder.h"

namespace {

using credsentry::stream::decoders::DecodedChunk;
using credsentry::stream::decoders::EgressDecoder;
using Clock = std::chrono::steady_clock;

std::string RandomText(std::mt19937_64& rng, size_t n) {
  static const char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,:";
  std::string s(n, ' ');
  for (auto& c : s) c = k[rng() % (sizeof(k) - 1)];
  return s;
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Body(std::mt19937_64& rng, size_t bytes) {
  return "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" +
         RandomText(rng, bytes) + "\"}],\"key\":\"tok-" + RandomText(rng, 32) + "\"}";
}

std::string Http1Traffic(size_t requests, size_t body_bytes) {
  std::mt19937_64 rng(1);
  std::string wire;
  for (size_t i = 0; i < requests; ++i) {
    std::string body = Body(rng, body_bytes);
    std::string head = "POST /v1/chat/completions?user=u" + std::to_string(i) +
                       " HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\n"
                       "Authorization: Bearer tok-" +
                       RandomText(rng, 40) + "\r\nContent-Type: application/json\r\n";
    switch (i % 3) {
      case 0:
        wire += head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        break;
      case 1: {
        wire += head + "Transfer-Encoding: chunked\r\n\r\n";
        for (size_t at = 0; at < body.size(); at += 700) {
          std::string piece = body.substr(at, 700);
          char size[16];
          snprintf(size, sizeof(size), "%zx\r\n", piece.size());
          wire += size + piece + "\r\n";
        }
        wire += "0\r\n\r\n";
        break;
      }
      default: {
        std::string gz = Gzip(body);
        wire += head + "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
                "\r\n\r\n" + gz;
      }
    }
  }
  return wire;
}

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f = {static_cast<char>(payload.size() >> 16),
                   static_cast<char>(payload.size() >> 8),
                   static_cast<char>(payload.size()),
                   static_cast<char>(type),
                   static_cast<char>(flags),
                   static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16),
                   static_cast<char>(stream >> 8),
                   static_cast<char>(stream)};
  return f + payload;
}

std::string Http2Traffic(size_t requests, size_t body_bytes) {
  std::mt19937_64 rng(2);
  nghttp2_hd_deflater* deflater = nullptr;
  nghttp2_hd_deflate_new(&deflater, 4096);
  std::string wire = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(4, 0, 0, "");
  std::string auth = "Bearer tok-" + RandomText(rng, 40);
  for (size_t i = 0; i < requests; ++i) {
    uint32_t id = static_cast<uint32_t>(2 * i + 1);
    std::string path = "/v1/chat/completions?user=u" + std::to_string(i);
    std::vector<std::pair<std::string, std::string>> headers = {
        {":method", "POST"}, {":scheme", "https"},    {":authority", "api.example.com"},
        {":path", path},     {"authorization", auth}, {"content-type", "application/json"}};
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : headers) {
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string block(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()), '\0');
    auto n = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<uint8_t*>(block.data()), block.size(),
                                   nva.data(), nva.size());
    block.resize(n < 0 ? 0 : static_cast<size_t>(n));
    wire += Frame(1, 0x4, id, block);
    std::string body = Body(rng, body_bytes);
    for (size_t at = 0; at < body.size(); at += 16384) {
      bool last = at + 16384 >= body.size();
      wire += Frame(0, last ? 0x1 : 0, id, body.substr(at, 16384));
    }
  }
  nghttp2_hd_deflate_del(deflater);
  return wire;
}

// A browser's masked client frame (RFC 6455 5.2), with the 7-, 16- or 64-bit length it needs.
std::string WsFrame(uint8_t first_byte, const std::string& payload, uint32_t mask) {
  std::string f(1, static_cast<char>(first_byte));
  const uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    f += {static_cast<char>(0x80 | 126), static_cast<char>(n >> 8), static_cast<char>(n)};
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  const uint8_t key[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8),
                          uint8_t(mask)};
  f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
  }
  return f;
}

// One upgraded connection: a third of the messages sent whole, a third in 700-byte fragments,
// a third permessage-deflate with context takeover (one raw deflate stream, sync-flushed).
std::string WebSocketTraffic(size_t messages, size_t body_bytes) {
  std::mt19937_64 rng(3);
  std::string wire =
      "GET /v1/realtime HTTP/1.1\r\nHost: api.example.com\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  for (size_t i = 0; i < messages; ++i) {
    std::string body = Body(rng, body_bytes);
    const uint32_t mask = static_cast<uint32_t>(rng());
    switch (i % 3) {
      case 0:
        wire += WsFrame(0x81, body, mask);
        break;
      case 1:
        for (size_t at = 0; at < body.size(); at += 700) {
          const bool last = at + 700 >= body.size();
          wire += WsFrame((last ? 0x80 : 0) | (at == 0 ? 0x1 : 0x0), body.substr(at, 700), mask);
        }
        break;
      default: {
        std::string out(deflateBound(&zs, body.size()) + 16, '\0');
        zs.next_in = reinterpret_cast<Bytef*>(body.data());
        zs.avail_in = static_cast<uInt>(body.size());
        zs.next_out = reinterpret_cast<Bytef*>(out.data());
        zs.avail_out = static_cast<uInt>(out.size());
        deflate(&zs, Z_SYNC_FLUSH);
        out.resize(out.size() - zs.avail_out - 4);  // RFC 7692: the 00 00 ff ff tail is dropped
        wire += WsFrame(0xc1, out, mask);
      }
    }
  }
  deflateEnd(&zs);
  return wire;
}

struct Scanner {
  hs_database_t* db = nullptr;
  hs_scratch_t* scratch = nullptr;
  Scanner() {
    const char* patterns[] = {"tok-[A-Za-z0-9]{32}", "AKIA[0-9A-Z]{16}", "ghp_[A-Za-z0-9]{36}",
                              "sk-ant-api03-[A-Za-z0-9_\\-]{80,}"};
    unsigned flags[] = {HS_FLAG_SINGLEMATCH, HS_FLAG_SINGLEMATCH, HS_FLAG_SINGLEMATCH,
                        HS_FLAG_SINGLEMATCH};
    unsigned ids[] = {1, 2, 3, 4};
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(patterns, flags, ids, 4, HS_MODE_BLOCK, nullptr, &db, &err) !=
        HS_SUCCESS) {
      std::fprintf(stderr, "hyperscan: %s\n", err->message);
      std::exit(1);
    }
    hs_alloc_scratch(db, &scratch);
  }
  ~Scanner() {
    hs_free_scratch(scratch);
    hs_free_database(db);
  }
  size_t Scan(const uint8_t* data, size_t n) {
    size_t hits = 0;
    hs_scan(
        db, reinterpret_cast<const char*>(data), static_cast<unsigned>(n), 0, scratch,
        [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
          ++*static_cast<size_t*>(ctx);
          return 0;
        },
        &hits);
    return hits;
  }
};

template <class F>
double MedianSeconds(int rounds, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < rounds; ++r) {
    auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void Run(const char* name, const std::string& wire, size_t requests, int rounds, Scanner& scanner) {
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  size_t decoded_bytes = 0, chunks = 0, hits = 0;
  double decode = MedianSeconds(rounds, [&] {
    EgressDecoder decoder;
    decoded_bytes = chunks = 0;
    for (size_t at = 0; at < bytes.size(); at += 4096) {  // 4 KiB captured writes
      decoder.Feed(bytes.subspan(at, std::min<size_t>(4096, bytes.size() - at)),
                   [&](const DecodedChunk& c) {
                     decoded_bytes += c.bytes.size();
                     ++chunks;
                   });
    }
  });
  double decode_match = MedianSeconds(rounds, [&] {
    EgressDecoder decoder;
    hits = 0;
    for (size_t at = 0; at < bytes.size(); at += 4096) {
      decoder.Feed(
          bytes.subspan(at, std::min<size_t>(4096, bytes.size() - at)),
          [&](const DecodedChunk& c) { hits += scanner.Scan(c.bytes.data(), c.bytes.size()); });
    }
  });
  size_t raw_hits = 0;
  double raw = MedianSeconds(rounds, [&] { raw_hits = scanner.Scan(bytes.data(), bytes.size()); });
  double mb = wire.size() / 1e6;
  std::printf("%-6s wire %.1f MB, %zu requests, %zu chunks, %.1f MB decoded\n", name, mb, requests,
              chunks, decoded_bytes / 1e6);
  std::printf("  decode          %8.1f MB/s  %7.2f us/request\n", mb / decode,
              decode * 1e6 / requests);
  std::printf("  decode+match    %8.1f MB/s  %7.2f us/request  (%zu matches)\n", mb / decode_match,
              decode_match * 1e6 / requests, hits);
  std::printf("  raw match only  %8.1f MB/s  %7.2f us/request  (%zu matches)\n", mb / raw,
              raw * 1e6 / requests, raw_hits);
  std::printf("  ratio decode+match / raw match: %.1fx\n", decode_match / raw);
}

}  // namespace

int main(int argc, char** argv) {
  size_t requests = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2000;
  size_t body = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2048;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  if (requests == 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: decode_bench [requests>0] [body_bytes] [rounds>0]\n");
    return 2;
  }
  Scanner scanner;
  Run("http1", Http1Traffic(requests, body), requests, rounds, scanner);
  Run("h2", Http2Traffic(requests, body), requests, rounds, scanner);
  Run("ws", WebSocketTraffic(requests, body), requests, rounds, scanner);
  return 0;
}
