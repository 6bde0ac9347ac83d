// Pure text decoders used on headers, bodies, query strings and DNS labels. Each returns the
// decoded bytes or nothing when the input is not in that encoding; none of them allocates more
// than its input's size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace credsentry::stream::decoders {

// %XX -> byte; with plus_is_space, '+' -> ' ' (form encoding). Malformed escapes stay as is.
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Replaces JSON string escapes (\" \\ \/ \b \f \n \r \t \uXXXX incl. surrogate pairs, as UTF-8)
// wherever they appear in `text`. nullopt when there is no escape to replace.
std::optional<std::string> JsonUnescape(std::string_view text);

struct TextRun {
  size_t offset = 0;
  size_t length = 0;
};
// Maximal runs of base64 / base64url characters at least min_length long.
std::vector<TextRun> FindBase64Runs(std::string_view text, size_t min_length = 16);
// Standard or URL-safe alphabet, padding optional. nullopt on a character outside the alphabet
// or a length no encoder produces.
std::optional<std::string> Base64Decode(std::string_view text);

std::optional<std::string> HexDecode(std::string_view text);     // even length, [0-9a-fA-F]
std::optional<std::string> Base32Decode(std::string_view text);  // RFC 4648, case-insensitive

// True when most bytes are printable ASCII: decoded candidates that are not text are dropped
// because a credential format can only match text.
bool LooksLikeText(std::string_view bytes);

}  // namespace credsentry::stream::decoders
