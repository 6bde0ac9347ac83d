// The only forms in which a secret may leave the agent's memory: a short preview that lets a
// human recognise which key it was, and a keyed fingerprint (report/fingerprint.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace credsentry::report {

// At least this many characters of every secret stay hidden.
inline constexpr size_t kMinHiddenChars = 12;
inline constexpr size_t kPreviewSuffix = 4;

// "sk-ant-…Xa9f": `prefix` leading characters, an ellipsis, the last 4. A short secret shows less
// (prefix first, then suffix) so that kMinHiddenChars always stay hidden. Bytes that are not
// printable ASCII are shown as '?'.
std::string Redact(std::string_view secret, size_t prefix);

}  // namespace credsentry::report
