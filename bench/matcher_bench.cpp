// Stream-matcher throughput on a synthetic mixed corpus (JSON API bodies with base64 blobs,
// source text, binary), one core, beside std::regex running the same bounded expressions over
// the same bytes. Prints MB/s for both, the ratio, stream state bytes and compile time.
// Usage: matcher_bench [RULES_DIR] [CORPUS_MIB]
#include <chrono>
#include <cstdio>
#include <regex>
#include <string>

#include "../tests/unit/match/synthetic_keys.h"
#include "catalogue/rules.h"
#include "catalogue/rules_charset.h"
#include "match/matcher.h"

using namespace credsentry;

namespace {

std::string MakeCorpus(size_t bytes, testing::KeyGenerator& gen, size_t* planted) {
  std::string c;
  auto kinds = testing::KeyGenerator::ShippedKinds();
  size_t i = 0;
  while (c.size() < bytes) {
    switch (i % 4) {
      case 0:  // JSON API body with a base64 blob
        c += R"({"model":"gpt-4o","messages":[{"role":"user","content":"summarise )" +
             gen.Alnum(200) + R"("}],"attachment":")" + gen.Base64(3000) + "\"}\n";
        break;
      case 1:  // source-like text
        for (int l = 0; l < 40; ++l) {
          c += "    if (result.ok() && value_" + std::to_string(l) +
               " != nullptr) { return Status::Ok(); }  // " + gen.Hex(40) + "\n";
        }
        break;
      case 2: {  // binary
        std::string b = gen.Chars(std::string_view("\x00\x01\x7f\x80\xfe\xff abcXYZ09", 16), 4096);
        c += b;
        break;
      }
      case 3:  // occasionally a credential in a header
        if (i % 40 == 3) {
          c += "Authorization: Bearer " + gen.Make(kinds[(i / 40) % kinds.size()]).text + "\r\n";
          ++*planted;
        }
        break;
    }
    ++i;
  }
  return c;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : CREDSENTRY_SOURCE_RULES_DIR;
  size_t mib = argc > 2 ? std::stoul(argv[2]) : 64;
  auto rules = catalogue::LoadRules({dir});
  if (!rules) {
    std::fprintf(stderr, "matcher_bench: %s\n", rules.message().c_str());
    return 2;
  }
  catalogue::RuleSet regex_rules = *rules;
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  if (!db) {
    std::fprintf(stderr, "matcher_bench: %s\n", db.message().c_str());
    return 2;
  }
  testing::KeyGenerator gen(42);
  size_t planted = 0;
  std::string corpus = MakeCorpus(mib << 20, gen, &planted);

  // Hyperscan streaming: 1 MiB "connections" fed in 16 KiB writes.
  constexpr size_t kConn = 1 << 20, kWrite = 16 << 10;
  size_t found = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t c = 0; c < corpus.size(); c += kConn) {
    match::MatchStream s(*db);
    size_t end = std::min(corpus.size(), c + kConn);
    for (size_t w = c; w < end; w += kWrite) {
      size_t n = std::min(kWrite, end - w);
      s.Feed({reinterpret_cast<const uint8_t*>(corpus.data() + w), n},
             [&](const match::SecretMatch&) { ++found; });
    }
    s.Close([&](const match::SecretMatch&) { ++found; });
  }
  double hs_s = Seconds(t0);
  double hs_mbs = corpus.size() / hs_s / 1e6;

  // std::regex, same bounded expressions (kinds it cannot parse are left out and counted),
  // over the first 2 MiB only: it is orders of magnitude slower.
  std::vector<std::regex> regexes;
  size_t unsupported = 0;
  for (const auto& k : regex_rules.kinds) {
    try {
      regexes.emplace_back(
          catalogue::BoundedExpression(k.pattern, *catalogue::ParseCharset(k.charset), k.left_boundary),
          std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error&) {
      ++unsupported;
    }
  }
  std::string sample = corpus.substr(0, std::min<size_t>(corpus.size(), 2 << 20));
  size_t regex_found = 0;
  t0 = std::chrono::steady_clock::now();
  for (const auto& re : regexes) {
    for (auto it = std::sregex_iterator(sample.begin(), sample.end(), re);
         it != std::sregex_iterator(); ++it) {
      ++regex_found;
    }
  }
  double re_s = Seconds(t0);
  double re_mbs = sample.size() / re_s / 1e6;

  std::printf("corpus: %zu MiB mixed, %zu credentials planted\n", mib, planted);
  std::printf("hyperscan streaming: %.0f MB/s (%zu matches, %zu kinds, 16 KiB writes)\n", hs_mbs,
              found, (*db)->rules().kinds.size());
  std::printf(
      "std::regex:          %.2f MB/s (%zu matches in %zu KiB, %zu kinds, %zu unsupported)\n",
      re_mbs, regex_found, sample.size() >> 10, regexes.size(), unsupported);
  std::printf("ratio hyperscan/std::regex: %.0fx\n", hs_mbs / re_mbs);
  std::printf("stream state: %zu bytes per stream (+ up to %zu bytes tail buffer)\n",
              (*db)->stream_state_bytes(), 2 * match::MatchStream::kTailBytes);
  std::printf("database: %zu bytes, compiled in %.1f ms\n", (*db)->database_bytes(),
              (*db)->compile_ms());
  return 0;
}
