// ASCII character classes for text judged byte by byte: unlike std::isalpha and friends they do
// not depend on the locale, and a byte of a UTF-8 sequence is never a letter.
#pragma once

namespace credsentry::report::ascii {

constexpr bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAlnum(char c) { return IsLower(c) || IsUpper(c) || IsDigit(c); }
constexpr bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace credsentry::report::ascii
