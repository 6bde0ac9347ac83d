#include "report/secret_shapes.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "report/ascii.h"
#include "report/random_token.h"
#include "report/redact.h"

namespace credsentry::report {
namespace {

using ascii::IsAlnum;
using ascii::IsDigit;
using ascii::IsLower;
using ascii::IsUpper;

constexpr std::string_view kEllipsis = "\u2026";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// What a key is made of (base64, base64url, hex, percent-encoding, key prefixes).
bool IsTokenChar(char c) {
  return IsAlnum(c) || c == '_' || c == '-' || c == '+' || c == '/' || c == '=' || c == '.' ||
         c == '~' || c == '%';
}
// What an option, header or variable name is made of.
bool IsNameChar(char c) { return IsAlnum(c) || c == '_' || c == '-' || c == '.'; }
bool IsQuote(char c) { return c == '"' || c == '\''; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

struct Span {
  size_t begin, end;
  size_t prefix;  // characters the preview shows
};

// A leading "nvapi-" or "pk_live_" (letters then '-' or '_', at most 8 characters) names the key's
// kind: the preview keeps it. Redact() still hides kMinHiddenChars.
size_t KindPrefix(std::string_view token) {
  size_t best = 0;
  for (size_t i = 0; i < token.size() && i < 8; ++i) {
    char c = token[i];
    if (c == '-' || c == '_') {
      if (i > 0) best = i + 1;
    } else if (!IsLower(c) && !IsUpper(c)) {
      break;
    }
  }
  return best;
}

// Names whose value is a secret. Names of files, paths and URLs hold where a secret is, which an
// alert needs; "author" and "tokenizer" are not credentials.
bool IsSecretName(std::string_view key) {
  for (std::string_view no : {"file", "path", "dir", "url", "author", "tokeniz"}) {
    if (Contains(key, no)) return false;
  }
  for (std::string_view yes :
       {"token", "secret", "passw", "pwd", "apikey", "api_key", "api-key", "auth", "credential",
        "private_key", "private-key", "signature", "cookie", "sessionid", "session_id"}) {
    if (Contains(key, yes)) return true;
  }
  return key.ends_with("pass") || key.ends_with("key");
}

bool IsAuthScheme(std::string_view word) {
  std::string w = Lower(word);
  return w == "bearer" || w == "basic" || w == "token" || w == "digest" || w == "negotiate" ||
         w == "bot" || w == "key" || w == "apikey" || w == "sso-key";
}

// A path names where something is, not a secret: --key ~/.ssh/id_ed25519 stays readable.
bool IsPathValue(std::string_view v) {
  return v.starts_with('/') || v.starts_with("./") || v.starts_with("../") || v.starts_with("~/");
}

class ShapeScanner {
 public:
  explicit ShapeScanner(std::string_view text) : text_(text) {}

  std::vector<Span> Scan() {
    UrlPasswords();
    NamedValues();
    RandomTokens();
    return std::move(spans_);
  }

 private:
  void Hide(size_t begin, size_t end, size_t prefix = 0) {
    if (end <= begin) return;
    std::string_view v = text_.substr(begin, end - begin);
    if (Contains(v, kEllipsis)) return;  // already a preview
    spans_.push_back({begin, end, prefix});
  }
  bool Hidden(size_t begin, size_t end) const {
    for (const Span& s : spans_) {
      if (begin < s.end && s.begin < end) return true;
    }
    return false;
  }

  // The end of a value starting at `v`: a quoted value runs to its quote, a bare one to whitespace
  // or punctuation that ends values in URLs, JSON and shell code.
  size_t ValueEnd(size_t v, char quote) const {
    size_t e = v;
    if (quote) {
      while (e < text_.size() && text_[e] != quote) ++e;
      return e;
    }
    while (e < text_.size() && !IsSpace(text_[e]) && !IsQuote(text_[e]) &&
           std::string_view("&,;{}()[]<>").find(text_[e]) == std::string_view::npos) {
      ++e;
    }
    return e;
  }
  size_t SkipSpaces(size_t i) const {
    while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t')) ++i;
    return i;
  }
  // Hides the value at `v` (optionally quoted); returns where scanning goes on.
  size_t HideValueAt(size_t v, bool keep_scheme) {
    char quote = v < text_.size() && IsQuote(text_[v]) ? text_[v] : 0;
    if (quote) ++v;
    size_t e = ValueEnd(v, 0);
    if (quote) e = std::min(e, ValueEnd(v, quote));
    std::string_view value = text_.substr(v, e - v);
    if (keep_scheme && IsAuthScheme(value)) {  // Authorization: Bearer <hidden>
      size_t next = SkipSpaces(e);
      size_t e2 = quote ? std::min(ValueEnd(next, 0), ValueEnd(next, quote)) : ValueEnd(next, 0);
      Hide(next, e2);
      return e2;
    }
    if (!IsPathValue(value)) Hide(v, e);
    return e;
  }

  // https://user:password@host/ keeps scheme, user and host.
  void UrlPasswords() {
    for (size_t pos = text_.find("://"); pos != std::string_view::npos;
         pos = text_.find("://", pos + 3)) {
      size_t start = pos + 3, end = start;
      while (end < text_.size() && !IsSpace(text_[end]) && !IsQuote(text_[end]) &&
             std::string_view("/?#").find(text_[end]) == std::string_view::npos) {
        ++end;
      }
      std::string_view authority = text_.substr(start, end - start);
      size_t at = authority.rfind('@');
      if (at == std::string_view::npos) continue;
      size_t colon = authority.find(':');
      if (colon != std::string_view::npos && colon < at) Hide(start + colon + 1, start + at);
    }
  }

  // --password X, --token=X, -p X, -u user:X, Authorization: Bearer X, X-Api-Key: X, api_key=X,
  // FOO_TOKEN=X, "secret": "X", Bearer X.
  void NamedValues() {
    size_t i = 0;
    while (i < text_.size()) {
      if (!IsNameChar(text_[i]) || (i > 0 && IsNameChar(text_[i - 1]))) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text_.size() && IsNameChar(text_[j])) ++j;
      std::string_view name = text_.substr(i, j - i);
      const bool option = name.starts_with('-');
      const size_t dashes = std::min(name.find_first_not_of('-'), name.size());
      const std::string key = Lower(name.substr(dashes));
      i = j;
      if (key.empty()) continue;
      // NAME= / NAME: / "NAME": (JSON, YAML, headers, query strings, environments).
      size_t k = j;
      if (k < text_.size() && IsQuote(text_[k])) ++k;
      k = SkipSpaces(k);
      if (k < text_.size() && (text_[k] == '=' || text_[k] == ':') && text_.substr(k, 3) != "://") {
        const bool header = text_[k] == ':';
        if (IsSecretName(key)) i = HideValueAt(SkipSpaces(k + 1), header || key == "authorization");
        continue;
      }
      if (j >= text_.size() || !IsSpace(text_[j])) continue;
      size_t v = SkipSpaces(j);
      if (v >= text_.size()) continue;
      if (option) {
        OptionValue(key, v, i);
      } else if (key == "bearer" || key == "basic") {
        size_t e = ValueEnd(v, 0);
        std::string_view value = text_.substr(v, e - v);
        bool b64 = std::all_of(value.begin(), value.end(), [](char c) { return IsTokenChar(c); });
        if (b64 && value.size() >= (key == "bearer" ? 8u : 12u)) {
          Hide(v, e);
          i = e;
        }
      }
    }
  }

  // The argument after an option (a separate argv word, possibly quoted).
  void OptionValue(const std::string& key, size_t v, size_t& i) {
    if (text_[v] == '-') return;  // the next option: this one took no value
    char quote = IsQuote(text_[v]) ? text_[v] : 0;
    size_t b = quote ? v + 1 : v;
    size_t e = quote ? ValueEnd(b, quote) : b;
    if (!quote) {
      while (e < text_.size() && !IsSpace(text_[e])) ++e;
    }
    std::string_view value = text_.substr(b, e - b);
    if (key == "u" || key == "user" || key.ends_with("-user")) {  // curl -u user:password
      size_t colon = value.find(':');
      if (colon != std::string_view::npos) Hide(b + colon + 1, e);
      i = e;
      return;
    }
    if (key == "p") {
      // -p is a password for mysql and friends, but a port, a mapping or a plugin elsewhere (ssh -p
      // 22, docker -p 8080:80, pytest -p no:cacheprovider, mkdir -p /a/b).
      bool numeric =
          std::all_of(value.begin(), value.end(), [](char c) { return IsDigit(c) || c == '.'; });
      if (numeric || Contains(value, ":") || IsPathValue(value)) return;
    } else if (!IsSecretName(key)) {
      return;
    }
    if (IsPathValue(value)) return;
    Hide(b, e);
    i = e;
  }

  // Tokens made of key characters, split at '=' between a name and a value, and at '/' when they
  // are paths or URLs (a path is never one token); each piece is judged by LooksRandom.
  void RandomTokens() {
    size_t i = 0;
    while (i < text_.size()) {
      if (!IsTokenChar(text_[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text_.size() && IsTokenChar(text_[j])) {
        // name=value: '=' inside a token separates; trailing '=' is base64 padding.
        if (text_[j] == '=' && j > i && j + 1 < text_.size() && IsTokenChar(text_[j + 1]) &&
            text_[j + 1] != '=' && text_[j - 1] != '=') {
          break;
        }
        ++j;
      }
      JudgeToken(i, j);
      i = j == i ? j + 1 : j;
      if (i < text_.size() && text_[i] == '=') ++i;
    }
  }

  void JudgeToken(size_t b, size_t e) {
    std::string_view t = text_.substr(b, e - b);
    const bool path = Contains(t, "/") &&
                      (t[0] == '/' || t[0] == '~' || t[0] == '.' || (b > 0 && text_[b - 1] == ':'));
    if (!path) {
      JudgeUnit(b, e);
      return;
    }
    size_t s = b;
    for (size_t k = b; k <= e; ++k) {
      if (k == e || text_[k] == '/') {
        JudgeUnit(s, k);
        s = k + 1;
      }
    }
  }

  void JudgeUnit(size_t b, size_t e) {
    if (e - b < kMinRandomTokenChars || Hidden(b, e)) return;
    std::string_view t = text_.substr(b, e - b);
    if (LooksRandom(t)) Hide(b, e, KindPrefix(t));
  }

  std::string_view text_;
  std::vector<Span> spans_;
};

}  // namespace

std::string RedactSecretShapes(std::string_view text) {
  std::vector<Span> spans = ShapeScanner(text).Scan();
  if (spans.empty()) return std::string(text);
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string out;
  size_t pos = 0;
  for (size_t k = 0; k < spans.size();) {
    Span s = spans[k++];
    while (k < spans.size() && spans[k].begin < s.end) {  // overlapping rules: one preview
      s.end = std::max(s.end, spans[k].end);
      s.prefix = std::min(s.prefix, spans[k].prefix);
      ++k;
    }
    out.append(text.substr(pos, s.begin - pos));
    out += Redact(text.substr(s.begin, s.end - s.begin), s.prefix);
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace credsentry::report
