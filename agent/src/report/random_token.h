// Whether a token looks machine-generated: the last of the redactor's rules, for keys whose format
// nobody catalogued and whose context names nothing secret.
#pragma once

#include <cstddef>
#include <string_view>

namespace credsentry::report {

// Tokens shorter than this are never judged random: short words and numbers stay.
inline constexpr size_t kMinRandomTokenChars = 20;

// True when `token` (no whitespace) looks machine-generated rather than written: at least
// kMinRandomTokenChars long, mixing two of lower case, upper case and digits, and either holding a
// run of 20 hex digits that mixes digits and letters (hashes, hex keys: a git commit id is hidden
// too, which costs little) or scoring high on "choppiness": pieces of one or two characters between
// case and digit changes, and letter pairs that identifiers and English words do not contain.
// Written names (CMakeFiles, libpython3.11.so, x86_64-linux-gnu, MyVeryLongDirectoryName) score
// low; base62, base64 and hex keys score high.
bool LooksRandom(std::string_view token);

}  // namespace credsentry::report
