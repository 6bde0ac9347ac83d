#include "match/encoded_prefixes.h"

#include <cctype>
#include <set>

#include "match/known_values.h"

namespace credsentry::match {
namespace {

bool IsPlainLiteral(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '~' || c == ' ' || c == '/' || c == ':' || c == '"' || c == '\'' ||
         c == '=' || c == '!' || c == '@' || c == '#' || c == '%' || c == '&' || c == ',' ||
         c == ';' || c == '<' || c == '>';
}

bool IsQuantifier(char c) { return c == '?' || c == '*' || c == '+' || c == '{'; }

// Literal characters from `pos`: plain ones and escaped punctuation (\. \- \/). A character
// followed by a quantifier is optional or repeated, so it and everything after are dropped.
std::string LeadingLiteral(std::string_view p, size_t pos) {
  std::string out;
  while (pos < p.size()) {
    char c = p[pos];
    size_t next = pos + 1;
    if (c == '\\' && pos + 1 < p.size() &&
        !std::isalnum(static_cast<unsigned char>(p[pos + 1]))) {
      c = p[pos + 1];
      next = pos + 2;
    } else if (!IsPlainLiteral(c)) {
      break;
    }
    if (next < p.size() && IsQuantifier(p[next])) break;
    out.push_back(c);
    pos = next;
  }
  return out;
}

}  // namespace

std::vector<std::string> LiteralPrefixes(std::string_view p) {
  if (p.rfind("(?:", 0) != 0) {
    std::string lit = LeadingLiteral(p, 0);
    if (lit.empty()) return {};
    return {lit};
  }
  // (?:alt1|alt2)rest: every alternative must be a plain literal.
  size_t close = p.find(')');
  if (close == std::string_view::npos || (close + 1 < p.size() && IsQuantifier(p[close + 1]))) {
    return {};
  }
  std::string_view group = p.substr(3, close - 3);
  std::string rest = LeadingLiteral(p, close + 1);
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= group.size()) {
    size_t bar = group.find('|', start);
    std::string_view alt = group.substr(start, bar == std::string_view::npos ? bar : bar - start);
    std::string lit = LeadingLiteral(alt, 0);
    if (lit.size() != alt.size()) return {};  // not a pure literal
    out.push_back(lit + rest);
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return out;
}

std::vector<EncodedPrefix> EncodedPrefixes(const std::vector<std::string>& patterns,
                                           size_t min_prefix, size_t min_literal) {
  std::vector<EncodedPrefix> out;
  std::set<std::string> seen;
  for (uint32_t kind = 0; kind < patterns.size(); ++kind) {
    for (const auto& prefix : LiteralPrefixes(patterns[kind])) {
      if (prefix.size() < min_prefix) continue;
      for (int alignment = 0; alignment < 3; ++alignment) {
        for (bool url : {false, true}) {
          size_t lead = 0;
          std::string lit = Base64Core(prefix, alignment, url, &lead);
          if (lit.size() < min_literal) continue;
          // Base64 of base64 (an encoded blob inside an encoded envelope): the once-encoded
          // literal encoded again, so the outer run is decoded and its inner run found in turn.
          for (int outer = 0; outer < 3 && lit.size() >= 4; ++outer) {
            for (bool outer_url : {false, true}) {
              size_t outer_lead = 0;
              std::string twice = Base64Core(lit, outer, outer_url, &outer_lead);
              if (twice.size() < 2 * min_literal || !seen.insert(twice).second) continue;
              out.push_back({kind, std::move(twice), static_cast<uint32_t>(outer_lead)});
            }
          }
          if (!seen.insert(lit).second) continue;
          out.push_back({kind, std::move(lit), static_cast<uint32_t>(lead)});
        }
      }
    }
  }
  return out;
}

std::string LiteralExpression(std::string_view literal) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : literal) {
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace credsentry::match
