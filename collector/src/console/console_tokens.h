// Who may use the console: a token file of `name:token` lines. The name is what the audit log
// records; the token is what a person pastes into the login form. Only SHA-256 digests of the
// tokens stay in memory, and a presented token is compared with every one of them in constant
// time, so neither the timing nor a memory dump gives a token away.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace credsentry::collector::console {

using TokenDigest = std::array<uint8_t, 32>;

TokenDigest DigestOf(std::string_view text);
// Constant-time equality of two strings of any length (compares their digests).
bool SameSecret(std::string_view a, std::string_view b);

class ConsoleTokens {
 public:
  static constexpr size_t kMaxTokens = 1000;
  static constexpr size_t kMaxFileBytes = 1 << 20;
  static constexpr size_t kMinTokenChars = 16;
  static constexpr size_t kMaxTokenChars = 512;
  static constexpr size_t kMaxNameChars = 64;

  // Refuses a file others can read or write, and names the line of any bad entry (never
  // quoting a token). Empty lines and lines starting with '#' are skipped.
  static Result<ConsoleTokens> Load(const std::string& path);
  static Result<ConsoleTokens> Parse(std::string_view text, const std::string& where);

  // The name of the token `presented` equals, if any. Every entry is compared, match or not.
  std::optional<std::string> Match(std::string_view presented) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    TokenDigest digest;
  };
  std::vector<Entry> entries_;
};

}  // namespace credsentry::collector::console
