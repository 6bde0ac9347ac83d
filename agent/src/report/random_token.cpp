#include "report/random_token.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <vector>

#include "report/ascii.h"

namespace credsentry::report {
namespace {

using ascii::IsAlnum;
using ascii::IsDigit;
using ascii::IsHex;
using ascii::IsLower;
using ascii::IsUpper;

// Letter pairs that occur in identifiers and English words: bit b of kWordPairs[a] is set when the
// pair ('a' + a, 'a' + b) made up at least 1 in 10,000 pairs of the letter words in a corpus of
// file names, command lines and identifiers from a Debian host (358 of the 676 pairs). Random
// letters fall outside it about every other pair; written words rarely do.
constexpr std::array<uint32_t, 26> kWordPairs = {
    0x3bebd6f, 0x096fb15, 0x11eddf5, 0x05efd7f, 0x1fff97f, 0x01ec935, 0x01e79dd,
    0x01ed911, 0x2aef87f, 0x0244019, 0x0141151, 0x13cc979, 0x054d91f, 0x03cff7d,
    0x17effef, 0x11efddd, 0x0100800, 0x17efd7d, 0x13ffdfd, 0x3deddfd, 0x08eb97f,
    0x080d151, 0x0064111, 0x0089015, 0x00eb045, 0x0004110};

// A run of 20 hex digits mixing digits and letters: a hash or a hex-encoded key.
bool HasHexRun(std::string_view t) {
  size_t run = 0;
  bool digit = false, letter = false;
  for (char c : t) {
    if (!IsHex(c)) {
      run = 0;
      digit = letter = false;
      continue;
    }
    ++run;
    (IsDigit(c) ? digit : letter) = true;
    if (run >= kMinRandomTokenChars && digit && letter) return true;
  }
  return false;
}

// Splits one alphanumeric run the way identifiers are written: digits, lower-case words,
// Capitalised words and upper-case acronyms ("HTTPServer2x" -> HTTP, Server, 2, x).
std::vector<std::string_view> Pieces(std::string_view run) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < run.size()) {
    size_t j = i;
    if (IsDigit(run[i])) {
      while (j < run.size() && IsDigit(run[j])) ++j;
    } else if (IsLower(run[i])) {
      while (j < run.size() && IsLower(run[j])) ++j;
    } else {
      while (j < run.size() && IsUpper(run[j])) ++j;
      if (j < run.size() && IsLower(run[j])) {
        if (j - i > 1) {
          --j;  // the last capital starts the next word
        } else {
          while (j < run.size() && IsLower(run[j])) ++j;
        }
      }
    }
    out.push_back(run.substr(i, j - i));
    i = j;
  }
  return out;
}

// Letter pairs outside kWordPairs; acronyms of up to four capitals are not judged (EVP, LLVM), nor
// two-letter pieces ("kt", "gz"), which the short-piece count already weighs.
size_t OddPairs(std::string_view piece) {
  if (piece.size() < 3 || IsDigit(piece[0])) return 0;
  if (IsUpper(piece.back()) && piece.size() <= 4) return 0;
  size_t odd = 0;
  for (size_t k = 0; k + 1 < piece.size(); ++k) {
    int a = std::tolower(static_cast<unsigned char>(piece[k])) - 'a';
    int b = std::tolower(static_cast<unsigned char>(piece[k + 1])) - 'a';
    if (!((kWordPairs[a] >> b) & 1u)) ++odd;
  }
  return odd;
}

}  // namespace

bool LooksRandom(std::string_view token) {
  while (!token.empty() && token.back() == '=') token.remove_suffix(1);
  if (token.size() < kMinRandomTokenChars) return false;
  bool lower = false, upper = false, digit = false;
  for (char c : token) {
    lower |= IsLower(c);
    upper |= IsUpper(c);
    digit |= IsDigit(c);
  }
  if (int{lower} + int{upper} + int{digit} < 2) return false;  // one_long_snake_case_name
  if (HasHexRun(token)) return true;
  // Score each alphanumeric run (the parts between '-', '_', '.', ...).
  struct Part {
    size_t begin, end, score;
  };
  std::vector<Part> parts;
  for (size_t i = 0; i < token.size();) {
    if (!IsAlnum(token[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < token.size() && IsAlnum(token[j])) ++j;
    std::string_view run = token.substr(i, j - i);
    auto pieces = Pieces(run);
    size_t score = 0;
    // Short pieces between case and digit changes: "x9Qb" is choppy, "libLLVMCodeGen" is not. Runs
    // under 4 characters are version numbers and suffixes ("v1", "2i4").
    if (pieces.size() > 1 && run.size() >= 4) {
      for (auto p : pieces) score += p.size() <= 2;
    }
    for (auto p : pieces) score += OddPairs(p);
    parts.push_back({i, j, score});
    i = j;
  }
  // Written parts at either end do not make the rest long enough: "credsentry-kt-xuovx3g2" (a
  // mkdtemp name) has a random core of 11 characters, "nvapi-<64 random>" one of 64.
  constexpr size_t kMinRandomCoreChars = 12;
  // A word here is five letters or more: shorter parts at an end are as likely random.
  auto written = [&](const Part& p) {
    if (p.score != 0 || p.end - p.begin < 5) return false;
    for (size_t k = p.begin; k < p.end; ++k) {
      if (IsDigit(token[k])) return false;
    }
    return true;
  };
  size_t first = 0, last = parts.size();
  while (first < last && written(parts[first])) ++first;
  while (last > first && written(parts[last - 1])) --last;
  if (first == last || parts[last - 1].end - parts[first].begin < kMinRandomCoreChars) {
    return false;
  }
  size_t alnum = 0, score = 0;
  for (size_t k = first; k < last; ++k) {
    alnum += parts[k].end - parts[k].begin;
    score += parts[k].score;
  }
  // Calibrated on random keys against the same corpus as kWordPairs: misses about 1 in 3,000 random
  // base62/base64 keys of 20 to 23 characters and 1 in 25,000 of 24 or more (the catalogue, learned
  // values and option names still catch most of those; base32 does worse), and hides about 4 in
  // 1,000 long file names, mostly ones like "avx512vlbf16intrin.h" or "Client-TLSv12-ALPN-NoMatch".
  return score >= std::max<size_t>(4, alnum / 5);
}

}  // namespace credsentry::report
