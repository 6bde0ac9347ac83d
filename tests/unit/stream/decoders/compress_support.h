// Test helper: compresses and encodes bodies the way clients do, so decoders are tested on real
// streams.
#pragma once

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <string>

namespace credsentry::stream::decoders::testing {

// window_bits 31: gzip wrapper; 15: zlib wrapper; -15: raw deflate.
inline std::string Deflate(const std::string& in, int window_bits = 31) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
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

inline std::string Gzip(const std::string& in) { return Deflate(in, 31); }

// Standard base64 with padding, as `base64 -w0` writes it.
inline std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= uint8_t(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? k[v & 63] : '=';
  }
  return out;
}

inline std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

// What `bzip2 -9` writes.
inline std::string Bzip2(const std::string& in) {
  std::string out(in.size() + in.size() / 100 + 600, '\0');
  unsigned size = static_cast<unsigned>(out.size());
  BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(in.data()),
                           static_cast<unsigned>(in.size()), 9, 0, 0);
  out.resize(size);
  return out;
}

// What `xz` writes (preset 6, CRC64).
inline std::string Xz(const std::string& in) {
  std::string out(lzma_stream_buffer_bound(in.size()), '\0');
  size_t size = 0;
  lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(in.data()),
                          in.size(), reinterpret_cast<uint8_t*>(out.data()), &size, out.size());
  out.resize(size);
  return out;
}

// An xz stream whose block header asks for a 4 GiB dictionary: the LZMA2 property byte is
// rewritten and the header's CRC32 made right again, so only a memory limit stops a decoder.
inline std::string XzAskingForHugeDictionary(const std::string& in) {
  std::string xz = Xz(in);
  const size_t header = 12, header_size = (static_cast<uint8_t>(xz[header]) + 1) * 4;
  const uint8_t flags = static_cast<uint8_t>(xz[header + 1]);
  size_t at = header + 2;
  auto skip_varint = [&] {
    while (static_cast<uint8_t>(xz[at++]) & 0x80) {}
  };
  if (flags & 0x40) skip_varint();  // compressed size
  if (flags & 0x80) skip_varint();  // uncompressed size
  at += 2;                          // filter id 0x21 (LZMA2), properties size 1
  xz[at] = 40;                      // dictionary 4 GiB - 1
  uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(xz.data() + header), header_size - 4);
  for (int i = 0; i < 4; ++i) xz[header + header_size - 4 + i] = static_cast<char>(crc >> (8 * i));
  return xz;
}

}  // namespace credsentry::stream::decoders::testing
