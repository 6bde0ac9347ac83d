#include "stream/decoders/decompressor.h"

#include <brotli/decode.h>
#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cctype>
#include <string>

namespace credsentry::stream::decoders {
namespace {

constexpr size_t kOutBlock = 16 << 10;

// Shared accounting of consumed input and produced output for the bomb guard.
class Budget {
 public:
  explicit Budget(const DecompressLimits& limits) : limits_(limits) {}
  void Consumed(size_t n) { in_ += n; }
  // How many of `produced` bytes may be passed on; fewer than produced means a bomb.
  size_t Allow(size_t produced) {
    size_t room = limits_.max_output - out_;
    size_t allowed = produced < room ? produced : room;
    out_ += allowed;
    if (allowed < produced) bomb_ = true;
    if (out_ > limits_.ratio_floor && out_ / (in_ ? in_ : 1) > limits_.max_ratio) bomb_ = true;
    return allowed;
  }
  bool bomb() const { return bomb_; }

 private:
  DecompressLimits limits_;
  size_t in_ = 0;
  size_t out_ = 0;
  bool bomb_ = false;
};

class ZlibDecompressor final : public Decompressor {
 public:
  // window_bits 15+32: zlib or gzip header, detected. HTTP "deflate" is meant to be zlib-wrapped
  // but some servers and clients send raw deflate, so a bad header retries as raw (-15).
  ZlibDecompressor(const DecompressLimits& limits, bool allow_raw_retry)
      : budget_(limits), allow_raw_retry_(allow_raw_retry) {
    ok_ = inflateInit2(&zs_, 15 + 32) == Z_OK;
  }
  ~ZlibDecompressor() override {
    if (ok_) inflateEnd(&zs_);
  }
  ZlibDecompressor(const ZlibDecompressor&) = delete;
  ZlibDecompressor& operator=(const ZlibDecompressor&) = delete;

  DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) override {
    if (done_ != DecompressStatus::kOk || finished_) return done_;
    if (!ok_) return done_ = DecompressStatus::kCorrupt;
    zs_.next_in = const_cast<Bytef*>(in.data());
    zs_.avail_in = static_cast<uInt>(in.size());
    std::array<uint8_t, kOutBlock> block;
    while (zs_.avail_in > 0) {
      uInt before = zs_.avail_in;
      zs_.next_out = block.data();
      zs_.avail_out = block.size();
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_DATA_ERROR && allow_raw_retry_ && total_out_ == 0 && !retried_) {
        // Not a zlib/gzip header: start over as raw deflate on the same bytes.
        retried_ = true;
        inflateEnd(&zs_);
        zs_ = z_stream{};
        ok_ = inflateInit2(&zs_, -15) == Z_OK;
        if (!ok_) return done_ = DecompressStatus::kCorrupt;
        return Feed(in, out);
      }
      size_t produced = block.size() - zs_.avail_out;
      budget_.Consumed(before - zs_.avail_in);
      size_t allowed = budget_.Allow(produced);
      total_out_ += produced;
      if (allowed) out({block.data(), allowed});
      if (budget_.bomb()) return done_ = DecompressStatus::kBomb;
      if (rc == Z_STREAM_END) {
        finished_ = true;  // trailing bytes after the stream are ignored
        end_ = zs_.total_in;
        return DecompressStatus::kOk;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return done_ = DecompressStatus::kCorrupt;
      if (rc == Z_BUF_ERROR && produced == 0) break;
    }
    return DecompressStatus::kOk;
  }
  std::optional<size_t> EndOffset() const override { return end_; }

 private:
  z_stream zs_{};
  Budget budget_;
  bool ok_ = false;
  bool allow_raw_retry_;
  bool retried_ = false;
  bool finished_ = false;
  std::optional<size_t> end_;
  size_t total_out_ = 0;
  DecompressStatus done_ = DecompressStatus::kOk;
};

class BrotliDecompressor final : public Decompressor {
 public:
  explicit BrotliDecompressor(const DecompressLimits& limits)
      : budget_(limits), state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDecompressor() override {
    if (state_) BrotliDecoderDestroyInstance(state_);
  }
  BrotliDecompressor(const BrotliDecompressor&) = delete;
  BrotliDecompressor& operator=(const BrotliDecompressor&) = delete;

  DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) override {
    if (done_ != DecompressStatus::kOk) return done_;
    if (!state_) return done_ = DecompressStatus::kCorrupt;
    size_t avail_in = in.size();
    const uint8_t* next_in = in.data();
    std::array<uint8_t, kOutBlock> block;
    for (;;) {
      size_t avail_out = block.size();
      uint8_t* next_out = block.data();
      size_t before = avail_in;
      auto rc = BrotliDecoderDecompressStream(state_, &avail_in, &next_in, &avail_out, &next_out,
                                              nullptr);
      budget_.Consumed(before - avail_in);
      size_t produced = block.size() - avail_out;
      size_t allowed = budget_.Allow(produced);
      if (allowed) out({block.data(), allowed});
      if (budget_.bomb()) return done_ = DecompressStatus::kBomb;
      if (rc == BROTLI_DECODER_RESULT_ERROR) return done_ = DecompressStatus::kCorrupt;
      if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
      return DecompressStatus::kOk;  // needs more input, or finished
    }
  }

 private:
  Budget budget_;
  BrotliDecoderState* state_;
  DecompressStatus done_ = DecompressStatus::kOk;
};

class ZstdDecompressor final : public Decompressor {
 public:
  explicit ZstdDecompressor(const DecompressLimits& limits)
      : budget_(limits), ctx_(ZSTD_createDCtx()) {
    // Frames may ask for huge windows; cap the window so memory stays bounded (2^23 = 8 MiB).
    if (ctx_) ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, 23);
  }
  ~ZstdDecompressor() override { ZSTD_freeDCtx(ctx_); }
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;

  DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) override {
    if (done_ != DecompressStatus::kOk) return done_;
    if (!ctx_) return done_ = DecompressStatus::kCorrupt;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    std::array<uint8_t, kOutBlock> block;
    for (;;) {
      ZSTD_outBuffer output{block.data(), block.size(), 0};
      size_t before = input.pos;
      size_t rc = ZSTD_decompressStream(ctx_, &output, &input);
      budget_.Consumed(input.pos - before);
      if (ZSTD_isError(rc)) return done_ = DecompressStatus::kCorrupt;
      size_t allowed = budget_.Allow(output.pos);
      if (allowed) out({block.data(), allowed});
      if (budget_.bomb()) return done_ = DecompressStatus::kBomb;
      // Done with this input once it is consumed and the output block was not filled.
      if (input.pos == input.size && output.pos < output.size) return DecompressStatus::kOk;
    }
  }

 private:
  Budget budget_;
  ZSTD_DCtx* ctx_;
  DecompressStatus done_ = DecompressStatus::kOk;
};

// bzip2 (`BZh` + block size). libbz2's state is about 3.6 MiB for 900 KiB blocks (64 KiB for
// the smallest): bounded by the format, whatever the stream says.
class Bzip2Decompressor final : public Decompressor {
 public:
  explicit Bzip2Decompressor(const DecompressLimits& limits) : budget_(limits) {
    ok_ = BZ2_bzDecompressInit(&bz_, 0, 0) == BZ_OK;
  }
  ~Bzip2Decompressor() override {
    if (ok_) BZ2_bzDecompressEnd(&bz_);
  }
  Bzip2Decompressor(const Bzip2Decompressor&) = delete;
  Bzip2Decompressor& operator=(const Bzip2Decompressor&) = delete;

  DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) override {
    if (done_ != DecompressStatus::kOk || finished_) return done_;
    if (!ok_) return done_ = DecompressStatus::kCorrupt;
    bz_.next_in = const_cast<char*>(reinterpret_cast<const char*>(in.data()));
    bz_.avail_in = static_cast<unsigned>(in.size());
    std::array<char, kOutBlock> block;
    for (;;) {
      unsigned before = bz_.avail_in;
      bz_.next_out = block.data();
      bz_.avail_out = block.size();
      int rc = BZ2_bzDecompress(&bz_);
      budget_.Consumed(before - bz_.avail_in);
      size_t produced = block.size() - bz_.avail_out;
      size_t allowed = budget_.Allow(produced);
      if (allowed) out({reinterpret_cast<const uint8_t*>(block.data()), allowed});
      if (budget_.bomb()) return done_ = DecompressStatus::kBomb;
      if (rc == BZ_STREAM_END) {
        finished_ = true;  // a second concatenated stream is not read
        return DecompressStatus::kOk;
      }
      if (rc != BZ_OK) return done_ = DecompressStatus::kCorrupt;
      // Done with this input once it is taken and the block was not filled, or nothing moved.
      if (bz_.avail_out > 0 && (bz_.avail_in == 0 || before == bz_.avail_in)) {
        return DecompressStatus::kOk;
      }
    }
  }

 private:
  bz_stream bz_{};
  Budget budget_;
  bool ok_ = false;
  bool finished_ = false;
  DecompressStatus done_ = DecompressStatus::kOk;
};

// xz (.xz container, LZMA2). The dictionary a stream asks for is what the decoder allocates, so
// memory is capped: a stream that needs more than kXzMemoryLimit is refused as a bomb (xz -6,
// the default, needs 9 MiB; -9 needs 65 MiB).
class XzDecompressor final : public Decompressor {
 public:
  static constexpr uint64_t kXzMemoryLimit = 32ull << 20;

  explicit XzDecompressor(const DecompressLimits& limits) : budget_(limits) {
    ok_ = lzma_stream_decoder(&xz_, kXzMemoryLimit, 0) == LZMA_OK;
  }
  ~XzDecompressor() override { lzma_end(&xz_); }
  XzDecompressor(const XzDecompressor&) = delete;
  XzDecompressor& operator=(const XzDecompressor&) = delete;

  DecompressStatus Feed(std::span<const uint8_t> in, const Output& out) override {
    if (done_ != DecompressStatus::kOk || finished_) return done_;
    if (!ok_) return done_ = DecompressStatus::kCorrupt;
    xz_.next_in = in.data();
    xz_.avail_in = in.size();
    std::array<uint8_t, kOutBlock> block;
    for (;;) {
      size_t before = xz_.avail_in;
      xz_.next_out = block.data();
      xz_.avail_out = block.size();
      lzma_ret rc = lzma_code(&xz_, LZMA_RUN);
      budget_.Consumed(before - xz_.avail_in);
      size_t produced = block.size() - xz_.avail_out;
      size_t allowed = budget_.Allow(produced);
      if (allowed) out({block.data(), allowed});
      if (budget_.bomb() || rc == LZMA_MEMLIMIT_ERROR) return done_ = DecompressStatus::kBomb;
      if (rc == LZMA_STREAM_END) {
        finished_ = true;
        return DecompressStatus::kOk;
      }
      if (rc != LZMA_OK && rc != LZMA_BUF_ERROR) return done_ = DecompressStatus::kCorrupt;
      // LZMA_BUF_ERROR: no progress was possible (the input is all taken).
      if (rc == LZMA_BUF_ERROR || (xz_.avail_in == 0 && xz_.avail_out > 0)) {
        return DecompressStatus::kOk;
      }
    }
  }

 private:
  lzma_stream xz_ = LZMA_STREAM_INIT;
  Budget budget_;
  bool ok_ = false;
  bool finished_ = false;
  DecompressStatus done_ = DecompressStatus::kOk;
};

}  // namespace

struct MessageInflater::Stream {
  explicit Stream(const DecompressLimits& l) : limits(l), budget(l) {
    ok = inflateInit2(&zs, -15) == Z_OK;
  }
  ~Stream() {
    if (ok) inflateEnd(&zs);
  }
  DecompressLimits limits;
  Budget budget;
  z_stream zs{};
  bool ok = false;
  bool ended = false;  // a final block or an error: nothing more is read from this stream
  bool broken = false;
};

MessageInflater::MessageInflater(const DecompressLimits& limits)
    : stream_(std::make_unique<Stream>(limits)) {}

MessageInflater::~MessageInflater() = default;

void MessageInflater::StartMessage() {
  Stream& s = *stream_;
  s.budget = Budget(s.limits);
  if (s.ended && s.ok) {
    // A client that reset its compressor after a final block, or whose message we could not
    // read, starts again from an empty window; one that did not is then reported corrupt.
    s.ok = inflateReset(&s.zs) == Z_OK;
  }
  s.ended = false;
  s.broken = false;
}

DecompressStatus MessageInflater::Feed(std::span<const uint8_t> in,
                                       const Decompressor::Output& out) {
  Stream& s = *stream_;
  if (!s.ok || s.broken) {
    s.ended = true;
    return DecompressStatus::kCorrupt;
  }
  if (s.ended) return DecompressStatus::kOk;  // bytes after a final block are not deflate
  s.zs.next_in = const_cast<Bytef*>(in.data());
  s.zs.avail_in = static_cast<uInt>(in.size());
  std::array<uint8_t, kOutBlock> block;
  // A full output block may leave output inside zlib with no input left: go round once more.
  for (;;) {
    uInt before = s.zs.avail_in;
    s.zs.next_out = block.data();
    s.zs.avail_out = block.size();
    int rc = inflate(&s.zs, Z_SYNC_FLUSH);
    size_t produced = block.size() - s.zs.avail_out;
    s.budget.Consumed(before - s.zs.avail_in);
    size_t allowed = s.budget.Allow(produced);
    if (allowed) out({block.data(), allowed});
    if (s.budget.bomb()) {
      s.ended = s.broken = true;
      return DecompressStatus::kBomb;
    }
    if (rc == Z_STREAM_END) {
      s.ended = true;
      return DecompressStatus::kOk;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      s.ended = s.broken = true;
      return DecompressStatus::kCorrupt;
    }
    if (produced == 0 || (s.zs.avail_in == 0 && s.zs.avail_out > 0)) break;
  }
  return DecompressStatus::kOk;
}

std::unique_ptr<Decompressor> MakeDecompressor(std::string_view content_coding,
                                               const DecompressLimits& limits) {
  std::string coding;
  for (char c : content_coding) coding.push_back(static_cast<char>(std::tolower(c)));
  if (coding == "gzip" || coding == "x-gzip")
    return std::make_unique<ZlibDecompressor>(limits, false);
  if (coding == "deflate") return std::make_unique<ZlibDecompressor>(limits, true);
  if (coding == "br") return std::make_unique<BrotliDecompressor>(limits);
  if (coding == "zstd") return std::make_unique<ZstdDecompressor>(limits);
  if (coding == "bzip2" || coding == "x-bzip2") return std::make_unique<Bzip2Decompressor>(limits);
  if (coding == "xz" || coding == "x-xz") return std::make_unique<XzDecompressor>(limits);
  return nullptr;
}

}  // namespace credsentry::stream::decoders
