// Base64 of credential prefixes, so a key inside a base64 blob that no decoder recognised as
// base64 (a JSON field, a form value, a made-up envelope) still triggers a look: each kind's
// literal prefix (`sk-proj-`, `ghp_`, `AKIA`…) is encoded at the three byte alignments (standard
// and url alphabets), keeping only the characters the prefix alone determines. A hit marks where
// the base64 group starts; the matcher decodes the run from there and rescans it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace credsentry::match {

struct EncodedPrefix {
  uint32_t kind;        // index into RuleSet::kinds
  std::string literal;  // base64 characters determined by the prefix alone
  uint32_t lead_chars;  // characters of the base64 group before `literal`
};

// The literal text every match of `pattern` starts with: leading literal characters, or each
// alternative of a leading (?:a|b) group of literals followed by them. Empty when the pattern
// opens with a class, a case-insensitive group or anything else.
std::vector<std::string> LiteralPrefixes(std::string_view pattern);

// Encoded forms of the prefixes of every kind whose prefixes are at least `min_prefix` bytes,
// once and twice encoded; forms shorter than `min_literal` characters (twice encoded: 2x) are
// left out (they would fire on random base64).
std::vector<EncodedPrefix> EncodedPrefixes(const std::vector<std::string>& patterns,
                                           size_t min_prefix = 3, size_t min_literal = 3);

// Hyperscan expression matching `literal` exactly (every byte as \xHH).
std::string LiteralExpression(std::string_view literal);

}  // namespace credsentry::match
