#include "console/console_tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/unique_fd.h"

namespace credsentry::collector::console {
namespace {

bool NameCharOk(char c) {
  return isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@';
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

TokenDigest DigestOf(std::string_view text) {
  TokenDigest d{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

bool SameSecret(std::string_view a, std::string_view b) {
  TokenDigest da = DigestOf(a), db = DigestOf(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

Result<ConsoleTokens> ConsoleTokens::Load(const std::string& path) {
  const std::string where = "console token file '" + path + "'";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return Error{"cannot open " + where + ": " + strerror(errno)};
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error{"cannot stat " + where + ": " + strerror(errno)};
  if (!S_ISREG(st.st_mode)) return Error{where + " is not a regular file"};
  if (st.st_mode & S_IRWXO) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error{where + " is accessible to others (mode " + mode +
                 "): its tokens log in to the console; chmod o-rwx it (e.g. 0640 root:credsentry)"};
  }
  if (static_cast<size_t>(st.st_size) > kMaxFileBytes) {
    return Error{where + " is larger than 1 MiB"};
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{"cannot read " + where};
    got += static_cast<size_t>(n);
  }
  return Parse(text, where);
}

Result<ConsoleTokens> ConsoleTokens::Parse(std::string_view text, const std::string& where) {
  ConsoleTokens out;
  std::set<std::string> names;
  size_t line_no = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const std::string at = where + " line " + std::to_string(line_no) + ": ";
    size_t colon = line.find(':');
    if (colon == std::string::npos) return Error{at + "want NAME:TOKEN"};
    std::string name = Trim(std::string_view(line).substr(0, colon));
    std::string token = Trim(std::string_view(line).substr(colon + 1));
    if (name.empty() || name.size() > kMaxNameChars) {
      return Error{at + "the name must have 1 to 64 characters"};
    }
    for (char c : name) {
      if (!NameCharOk(c)) return Error{at + "the name may hold only letters, digits and . _ - @"};
    }
    if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
      return Error{at + "the token of '" + name + "' must have 16 to 512 characters (make one " +
                   "with: openssl rand -hex 32)"};
    }
    if (!names.insert(name).second) return Error{at + "name '" + name + "' appears twice"};
    if (out.entries_.size() >= kMaxTokens) return Error{where + ": more than 1000 tokens"};
    out.entries_.push_back({name, DigestOf(token)});
  }
  if (out.entries_.empty()) return Error{where + " holds no NAME:TOKEN line"};
  return out;
}

std::optional<std::string> ConsoleTokens::Match(std::string_view presented) const {
  TokenDigest d = DigestOf(presented);
  std::optional<std::string> found;
  for (const auto& e : entries_) {
    // No early exit: the time taken does not say which entry matched, or whether one did.
    bool same = CRYPTO_memcmp(d.data(), e.digest.data(), d.size()) == 0;
    if (same && !found) found = e.name;
  }
  return found;
}

}  // namespace credsentry::collector::console
