// A credential's token alphabet ("charset") is what makes its boundaries: a token must not be
// preceded or followed by a byte of its own alphabet, or `xghp_…` inside a longer word and a
// 41-char run containing a 40-char AWS secret would match. Both the Hyperscan expression and
// the user-space value extraction are built from the same parsed set, so they cannot disagree.
#pragma once

#include <bitset>
#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::catalogue {

using ByteSet = std::bitset<256>;

// Parses a bracket-expression body such as "A-Za-z0-9_-" (ranges, single bytes, \-escapes
// \\ \- \] \/ \n \r \t \xHH; a '-' first or last is literal). Errors say what is wrong.
Result<ByteSet> ParseCharset(std::string_view body);

// "[\x30-\x39\x41-\x5a]" (or "[^…]" when negate): every byte spelled as \xHH.
std::string ByteSetToClass(const ByteSet& set, bool negate);

// The expression the matcher compiles for one kind: the pattern between boundaries
// `(?:^|[^cs])(?:pattern)(?:[^cs]|$)` (the left one only when `left_boundary`).
std::string BoundedExpression(std::string_view pattern, const ByteSet& charset,
                              bool left_boundary = true);

// Hyperscan flags every kind is compiled with (the loader checks each pattern alone with them).
unsigned PatternFlags();

}  // namespace credsentry::catalogue
