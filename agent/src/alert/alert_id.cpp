#include "alert/alert_id.h"

#include <openssl/rand.h>

#include <ctime>

namespace credsentry::alert {

std::string NewAlertId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // The CSPRNG failing is not an input error; fall back to time + address entropy.
    uint64_t t = static_cast<uint64_t>(clock());
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(t >> (i % 8));
  }
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 15]);
  }
  return id;
}

}  // namespace credsentry::alert
