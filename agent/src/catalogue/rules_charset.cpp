#include "catalogue/rules_charset.h"

#include <hs/hs.h>

#include <cstdio>

namespace credsentry::catalogue {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one (possibly escaped) byte at body[i]; advances i.
Result<unsigned char> ReadByte(std::string_view body, size_t& i) {
  char c = body[i++];
  if (c != '\\') return static_cast<unsigned char>(c);
  if (i >= body.size()) return Error{"charset ends with a lone backslash"};
  char e = body[i++];
  if (e == 'x') {
    if (i + 2 > body.size() || HexDigit(body[i]) < 0 || HexDigit(body[i + 1]) < 0) {
      return Error{"charset has a \\x escape without two hex digits"};
    }
    unsigned char v = static_cast<unsigned char>(HexDigit(body[i]) * 16 + HexDigit(body[i + 1]));
    i += 2;
    return v;
  }
  if (e == 'n') return static_cast<unsigned char>('\n');
  if (e == 'r') return static_cast<unsigned char>('\r');
  if (e == 't') return static_cast<unsigned char>('\t');
  if (e == '\\' || e == '-' || e == ']' || e == '[' || e == '/' || e == '^' || e == '.') {
    return static_cast<unsigned char>(e);
  }
  return Error{std::string("charset has an unsupported escape \\") + e};
}

}  // namespace

Result<ByteSet> ParseCharset(std::string_view body) {
  if (body.empty()) return Error{"charset is empty"};
  if (body.front() == '^') return Error{"charset must list the token alphabet, not negate it"};
  ByteSet set;
  size_t i = 0;
  while (i < body.size()) {
    if (body[i] == ']' || body[i] == '[') {
      return Error{"charset must be the inside of a bracket expression (escape [ and ])"};
    }
    auto lo = ReadByte(body, i);
    if (!lo) return lo.error();
    // A '-' between two bytes is a range; first or last it is literal.
    if (i + 1 < body.size() && body[i] == '-') {
      ++i;
      auto hi = ReadByte(body, i);
      if (!hi) return hi.error();
      if (*hi < *lo) {
        return Error{"charset range " + std::string(1, static_cast<char>(*lo)) + "-" +
                     std::string(1, static_cast<char>(*hi)) + " is reversed"};
      }
      for (unsigned b = *lo; b <= *hi; ++b) set.set(b);
    } else {
      set.set(*lo);
    }
  }
  if (set.all()) return Error{"charset covers every byte, so no boundary can exist"};
  return set;
}

std::string ByteSetToClass(const ByteSet& set, bool negate) {
  std::string out = negate ? "[^" : "[";
  char buf[16];
  for (unsigned b = 0; b < 256;) {
    if (!set.test(b)) {
      ++b;
      continue;
    }
    unsigned e = b;
    while (e + 1 < 256 && set.test(e + 1)) ++e;
    if (e == b) {
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02x-\\x%02x", b, e);
    }
    out += buf;
    b = e + 1;
  }
  out += "]";
  return out;
}

std::string BoundedExpression(std::string_view pattern, const ByteSet& charset,
                              bool left_boundary) {
  std::string outside = ByteSetToClass(charset, /*negate=*/true);
  std::string expr = left_boundary ? "(?:^|" + outside + ")(?:" : "(?:";
  expr += pattern;
  expr += ")(?:" + outside + "|$)";
  return expr;
}

unsigned PatternFlags() {
  // No SOM: start-of-match tracking in streaming mode multiplies stream state; the value's start
  // is recovered in user space from the charset run instead (match/matcher.cpp).
  return HS_FLAG_DOTALL;
}

}  // namespace credsentry::catalogue
