// Keyed fingerprints of secrets: HMAC-SHA256(key, secret), truncated to 128 bits. The same key
// across a fleet lets the collector see that one credential left two hosts without ever holding
// it; without the key a fingerprint cannot be brute-forced back into a low-entropy secret.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::report {

class Fingerprinter {
 public:
  static constexpr size_t kMinKeyBytes = 16;

  explicit Fingerprinter(std::string key);
  // Reads the key (surrounding whitespace ignored). With create_if_missing, a missing file is
  // created with 32 random bytes, hex-encoded, mode 0600. A key shorter than kMinKeyBytes, or
  // a file others can read, is an error naming the file.
  static Result<Fingerprinter> FromKeyFile(const std::string& path, bool create_if_missing);

  // "hmac-sha256:<32 hex>"
  std::string Of(std::string_view secret) const;

 private:
  std::string key_;
};

}  // namespace credsentry::report
