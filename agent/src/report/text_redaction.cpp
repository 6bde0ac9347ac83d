#include "report/text_redaction.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "report/redact.h"
#include "match/matcher.h"

namespace credsentry::report {
namespace {

// Letter pairs that occur in identifiers and English words: bit b of kWordPairs[a] is set when the
// pair ('a' + a, 'a' + b) made up at least 1 in 10,000 pairs of the letter words in a corpus of
// file names, command lines and identifiers from a Debian host (358 of the 676 pairs). Random
// letters fall outside it about every other pair; written words rarely do.
constexpr std::array<uint32_t, 26> kWordPairs = {
    0x3bebd6f, 0x096fb15, 0x11eddf5, 0x05efd7f, 0x1fff97f, 0x01ec935, 0x01e79dd,
    0x01ed911, 0x2aef87f, 0x0244019, 0x0141151, 0x13cc979, 0x054d91f, 0x03cff7d,
    0x17effef, 0x11efddd, 0x0100800, 0x17efd7d, 0x13ffdfd, 0x3deddfd, 0x08eb97f,
    0x080d151, 0x0064111, 0x0089015, 0x00eb045, 0x0004110};

constexpr std::string_view kEllipsis = "\u2026";

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsUpper(c) || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
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

// A run of 20 hex digits mixing digits and letters: a hash or a hex-encoded key.
bool HasHexRun(std::string_view t) {
  size_t run = 0;
  bool digit = false, letter = false;
  for (char c : t) {
    if (!IsHex(c)) {
      run = 0;
      digit = letter = false;
      continue;
    }
    ++run;
    (IsDigit(c) ? digit : letter) = true;
    if (run >= kMinRandomTokenChars && digit && letter) return true;
  }
  return false;
}

// Splits one alphanumeric run the way identifiers are written: digits, lower-case words,
// Capitalised words and upper-case acronyms ("HTTPServer2x" -> HTTP, Server, 2, x).
std::vector<std::string_view> Pieces(std::string_view run) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < run.size()) {
    size_t j = i;
    if (IsDigit(run[i])) {
      while (j < run.size() && IsDigit(run[j])) ++j;
    } else if (IsLower(run[i])) {
      while (j < run.size() && IsLower(run[j])) ++j;
    } else {
      while (j < run.size() && IsUpper(run[j])) ++j;
      if (j < run.size() && IsLower(run[j])) {
        if (j - i > 1) {
          --j;  // the last capital starts the next word
        } else {
          while (j < run.size() && IsLower(run[j])) ++j;
        }
      }
    }
    out.push_back(run.substr(i, j - i));
    i = j;
  }
  return out;
}

// Letter pairs outside kWordPairs; acronyms of up to four capitals are not judged (EVP, LLVM), nor
// two-letter pieces ("kt", "gz"), which the short-piece count already weighs.
size_t OddPairs(std::string_view piece) {
  if (piece.size() < 3 || IsDigit(piece[0])) return 0;
  if (IsUpper(piece.back()) && piece.size() <= 4) return 0;
  size_t odd = 0;
  for (size_t k = 0; k + 1 < piece.size(); ++k) {
    int a = std::tolower(static_cast<unsigned char>(piece[k])) - 'a';
    int b = std::tolower(static_cast<unsigned char>(piece[k + 1])) - 'a';
    if (!((kWordPairs[a] >> b) & 1u)) ++odd;
  }
  return odd;
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

bool LooksRandom(std::string_view token) {
  while (!token.empty() && token.back() == '=') token.remove_suffix(1);
  if (token.size() < kMinRandomTokenChars) return false;
  bool lower = false, upper = false, digit = false;
  for (char c : token) {
    lower |= IsLower(c);
    upper |= IsUpper(c);
    digit |= IsDigit(c);
  }
  if (int{lower} + int{upper} + int{digit} < 2) return false;  // one_long_snake_case_name
  if (HasHexRun(token)) return true;
  // Score each alphanumeric run (the parts between '-', '_', '.', ...).
  struct Part {
    size_t begin, end, score;
  };
  std::vector<Part> parts;
  for (size_t i = 0; i < token.size();) {
    if (!IsAlnum(token[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < token.size() && IsAlnum(token[j])) ++j;
    std::string_view run = token.substr(i, j - i);
    auto pieces = Pieces(run);
    size_t score = 0;
    // Short pieces between case and digit changes: "x9Qb" is choppy, "libLLVMCodeGen" is not. Runs
    // under 4 characters are version numbers and suffixes ("v1", "2i4").
    if (pieces.size() > 1 && run.size() >= 4) {
      for (auto p : pieces) score += p.size() <= 2;
    }
    for (auto p : pieces) score += OddPairs(p);
    parts.push_back({i, j, score});
    i = j;
  }
  // Written parts at either end do not make the rest long enough: "credsentry-kt-xuovx3g2" (a
  // mkdtemp name) has a random core of 11 characters, "nvapi-<64 random>" one of 64.
  constexpr size_t kMinRandomCoreChars = 12;
  // A word here is five letters or more: shorter parts at an end are as likely random.
  auto written = [&](const Part& p) {
    if (p.score != 0 || p.end - p.begin < 5) return false;
    for (size_t k = p.begin; k < p.end; ++k) {
      if (IsDigit(token[k])) return false;
    }
    return true;
  };
  size_t first = 0, last = parts.size();
  while (first < last && written(parts[first])) ++first;
  while (last > first && written(parts[last - 1])) --last;
  if (first == last || parts[last - 1].end - parts[first].begin < kMinRandomCoreChars) {
    return false;
  }
  size_t alnum = 0, score = 0;
  for (size_t k = first; k < last; ++k) {
    alnum += parts[k].end - parts[k].begin;
    score += parts[k].score;
  }
  // Calibrated on random keys against the same corpus as kWordPairs: misses about 1 in 3,000 random
  // base62/base64 keys of 20 to 23 characters and 1 in 25,000 of 24 or more (the catalogue, learned
  // values and option names still catch most of those; base32 does worse), and hides about 4 in
  // 1,000 long file names, mostly ones like "avx512vlbf16intrin.h" or "Client-TLSv12-ALPN-NoMatch".
  return score >= std::max<size_t>(4, alnum / 5);
}

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

void TextRedactor::Remember(std::string_view value) {
  if (value.size() < kMinValueBytes || value.size() > kMaxValueBytes) return;
  if (values_.size() >= kMaxValues) {
    if (!values_.contains(std::string(value))) ++dropped_;
    return;
  }
  values_.emplace(value);
}

std::string TextRedactor::Redact(std::string_view text,
                                 const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                                 std::span<const HiddenValue> also) const {
  std::string out(text);
  std::vector<std::pair<std::string, size_t>> found;
  for (const HiddenValue& h : also) {
    if (!h.value.empty()) found.emplace_back(std::string(h.value), h.prefix);
  }
  if (catalogue) {
    // Arguments can carry keys (curl -H "Authorization: Bearer ..."): the catalogue names them and
    // knows how much of their prefix is safe to show.
    match::MatchStream scan(catalogue);
    auto collect = [&](const match::SecretMatch& m) {
      if (m.value_available && m.kind_index < catalogue->rules().kinds.size()) {
        found.emplace_back(m.value, catalogue->rules().kinds[m.kind_index].preview_prefix);
      }
    };
    scan.Feed(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), collect);
    scan.Close(collect);
  }
  for (const std::string& v : values_) {
    if (out.find(v) != std::string::npos) found.emplace_back(v, 0);
  }
  // Longest first, so a value inside a longer one does not leave the rest of the longer one.
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [value, prefix] : found) {
    const std::string shown = report::Redact(value, prefix);
    for (size_t pos = out.find(value); pos != std::string::npos; pos = out.find(value, pos)) {
      out.replace(pos, value.size(), shown);
      pos += shown.size();
    }
  }
  return RedactSecretShapes(out);
}

void RedactAlertText(alert::Alert& alert, const TextRedactor& redactor,
                     const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                     HiddenValue also) {
  auto hide = [&](std::string& s) {
    if (!s.empty()) s = redactor.Redact(s, catalogue, std::span(&also, 1));
  };
  hide(alert.summary);
  hide(alert.process.comm);
  hide(alert.process.exe);
  for (auto& name : alert.process.credential_env) hide(name);  // names only, but names are input
  for (auto& a : alert.process.ancestors) {
    hide(a.comm);
    hide(a.exe);
  }
  for (auto& r : alert.evidence.credential_reads) {
    hide(r.path);
    hide(r.comm);
  }
  for (auto& n : alert.evidence.notes) hide(n);
  hide(alert.destination.host);
  hide(alert.ci.repository);
  hide(alert.ci.workflow);
  hide(alert.ci.job);
  hide(alert.target.comm);
  hide(alert.target.exe);
}

}  // namespace credsentry::report
