#include "report/fingerprint.h"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace credsentry::report {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr size_t kMaxKeyFileBytes = 4096;

std::string Hex(const unsigned char* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

Status CreateKeyFile(const std::string& path) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Error{"cannot generate a fingerprint key"};
  std::string text = Hex(raw, sizeof raw) + "\n";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return Error{"cannot create fingerprint key file " + path + ": " + std::strerror(errno)};
  }
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Error{"cannot write fingerprint key file " + path + ": " + std::strerror(errno)};
  }
  return Status::Ok();
}

}  // namespace

Fingerprinter::Fingerprinter(std::string key) : key_(std::move(key)) {}

Result<Fingerprinter> Fingerprinter::FromKeyFile(const std::string& path, bool create_if_missing) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT && create_if_missing) {
    if (auto s = CreateKeyFile(path); !s) return Error{s.message()};
    return FromKeyFile(path, false);
  }
  if (fd.get() < 0) {
    return Error{"cannot open fingerprint key file " + path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Error{"fingerprint key file " + path + " is not a regular file"};
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return Error{"fingerprint key file " + path + " is accessible by group or others (chmod 600)"};
  }
  char buf[kMaxKeyFileBytes];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) return Error{"cannot read fingerprint key file " + path + ": " + std::strerror(errno)};
  std::string key(buf, static_cast<size_t>(n));
  size_t b = key.find_first_not_of(" \t\r\n");
  size_t e = key.find_last_not_of(" \t\r\n");
  key = b == std::string::npos ? "" : key.substr(b, e - b + 1);
  if (key.size() < kMinKeyBytes) {
    return Error{"fingerprint key file " + path + " holds fewer than " +
                 std::to_string(kMinKeyBytes) + " bytes of key"};
  }
  return Fingerprinter(std::move(key));
}

std::string Fingerprinter::Of(std::string_view secret) const {
  unsigned char mac[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), mac, &len);
  return "hmac-sha256:" + Hex(mac, 16);
}

}  // namespace credsentry::report
