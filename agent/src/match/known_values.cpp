#include "match/known_values.h"

#include <fnmatch.h>
#include <hs/hs.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "catalogue/validators.h"
#include "match/thread_scratch.h"

namespace credsentry::match {
namespace {

std::atomic<uint64_t> g_next_generation{1};

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool IsSeparator(unsigned char c) {
  return c <= ' ' || c == '"' || c == '\'' || c == '`' || c == '=' || c == ':' || c == ',' ||
         c == ';' || c == '{' || c == '}' || c == '[' || c == ']' || c == '(' || c == ')' ||
         c == '<' || c == '>' || c == '\\' || c == '@' || c >= 0x7f;
}

// A token is a candidate secret when it looks random: letters and digits mixed, enough entropy,
// and not a path, URL, domain or version string (those fail the class or entropy tests, or are
// excluded by their shape).
bool LooksLikeSecret(std::string_view t) {
  if (t.size() < 12 || t.size() > 512) return false;
  if (t.front() == '/' || t.find("//") != std::string_view::npos) return false;
  int lower = 0, upper = 0, digit = 0;
  for (char c : t) {
    lower |= c >= 'a' && c <= 'z';
    upper |= c >= 'A' && c <= 'Z';
    digit |= c >= '0' && c <= '9';
  }
  if (lower + upper + digit < 2) return false;
  return catalogue::ShannonEntropy(t) >= 3.2;
}

std::string HexOf(std::string_view v, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : v) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string PercentOf(std::string_view v) {
  std::string out;
  for (unsigned char c : v) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out += HexOf(std::string_view(reinterpret_cast<const char*>(&c), 1), true);
    }
  }
  return out;
}

}  // namespace

hs_scratch_t* KnownValueScratchFor(const KnownValueDatabase& db) {
  thread_local ThreadScratch<KnownValueDatabase> scratch;
  return scratch.For(db);
}

catalogue::CredentialKind KnownValueKind(const LearnedValue& v) {
  catalogue::CredentialKind k;
  k.id = "known-value";
  k.provider = "host";
  k.name = (v.from_environment ? "Secret learned from the " : "Secret read from ") + v.source_path;
  k.severity = alert::Severity::kHigh;
  k.preview_prefix = 0;
  k.destinations = v.destinations;
  k.never_sent = v.never_sent;
  k.note = v.from_environment
               ? "a value learned from a process environment on this host, matched as a literal"
               : "a value learned from a credential file on this host, matched as a literal";
  return k;
}

std::string Base64Core(std::string_view bytes, int alignment, bool url, size_t* lead_chars) {
  std::string_view alphabet = url ? kBase64Url : kBase64;
  std::string padded(static_cast<size_t>(alignment), '\0');
  padded.append(bytes);
  const size_t bits_begin = 8 * static_cast<size_t>(alignment);
  const size_t bits_end = 8 * padded.size();
  std::string out;
  size_t first = (bits_begin + 5) / 6;  // first character that starts inside `bytes`
  for (size_t i = first; 6 * i + 6 <= bits_end; ++i) {
    size_t bit = 6 * i;
    uint32_t v = 0;
    for (size_t b = bit; b < bit + 6; ++b) {
      v = (v << 1) | ((static_cast<unsigned char>(padded[b / 8]) >> (7 - b % 8)) & 1u);
    }
    out.push_back(alphabet[v]);
  }
  if (lead_chars) *lead_chars = first;
  return out;
}

std::vector<std::pair<std::string, std::string>> EncodedForms(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  auto add = [&](std::string form, const char* encoding) {
    if (form.size() >= 4 && seen.insert(form).second) out.emplace_back(std::move(form), encoding);
  };
  add(std::string(value), "");
  for (int a = 0; a < 3; ++a) {
    add(Base64Core(value, a, false, nullptr), "base64");
    add(Base64Core(value, a, true, nullptr), "base64");
  }
  add(HexOf(value, false), "hex");
  add(HexOf(value, true), "hex");
  add(PercentOf(value), "percent");
  return out;
}

std::vector<std::string> CandidateValues(std::string_view content, size_t max) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < content.size() && out.size() < max) {
    while (i < content.size() && IsSeparator(static_cast<unsigned char>(content[i]))) ++i;
    size_t start = i;
    while (i < content.size() && !IsSeparator(static_cast<unsigned char>(content[i]))) ++i;
    std::string_view token = content.substr(start, i - start);
    if (LooksLikeSecret(token)) out.emplace_back(token);
  }
  return out;
}

const catalogue::CredentialFile* CredentialFileForPath(const catalogue::RuleSet& rules,
                                                    std::string_view path) {
  std::string p(path);
  for (const auto& f : rules.files) {
    for (const auto& rule : f.paths) {
      std::string pattern = rule;
      if (rule.rfind("~/", 0) == 0) pattern = "*" + rule.substr(1);
      if (rule.rfind("**/", 0) == 0) pattern = "*" + rule.substr(2);
      if (fnmatch(pattern.c_str(), p.c_str(), 0) == 0) return &f;
    }
  }
  return nullptr;
}

Result<std::shared_ptr<const KnownValueDatabase>> KnownValueDatabase::Compile(
    std::vector<std::shared_ptr<const LearnedValue>> values) {
  std::shared_ptr<KnownValueDatabase> out(new KnownValueDatabase());
  std::vector<std::string> literals;
  for (uint32_t i = 0; i < values.size(); ++i) {
    for (auto& [form, encoding] : EncodedForms(values[i]->value)) {
      out->forms_.push_back({i, static_cast<uint32_t>(form.size()), encoding});
      literals.push_back(std::move(form));
    }
  }
  if (literals.empty()) return Error{"no known values to compile"};
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  std::vector<unsigned> flags(literals.size(), 0), ids;
  for (size_t i = 0; i < literals.size(); ++i) {
    ptrs.push_back(literals[i].data());
    lens.push_back(literals[i].size());
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* err = nullptr;
  hs_error_t rc = hs_compile_lit_multi(ptrs.data(), flags.data(), ids.data(), lens.data(),
                                       static_cast<unsigned>(literals.size()), HS_MODE_STREAM,
                                       nullptr, &out->db_, &err);
  if (rc != HS_SUCCESS) {
    std::string why = err && err->message ? err->message : "unknown error";
    hs_free_compile_error(err);
    return Error{"Hyperscan cannot compile the known values: " + why};
  }
  hs_stream_size(out->db_, &out->stream_state_bytes_);
  out->generation_ = g_next_generation.fetch_add(1);
  out->values_ = std::move(values);
  if (!KnownValueScratchFor(*out)) return Error{"Hyperscan could not allocate scratch space"};
  return std::shared_ptr<const KnownValueDatabase>(std::move(out));
}

KnownValueDatabase::~KnownValueDatabase() {
  if (db_) hs_free_database(db_);
}

bool KnownValues::Learn(LearnedValue v) {
  if (v.value.size() < limits_.min_value_bytes || v.value.size() > limits_.max_value_bytes) {
    ++counters_.dropped_size;
    return false;
  }
  for (const auto& known : values_) {
    if (known->value == v.value) {
      ++counters_.already_known;
      return false;
    }
  }
  if (values_.size() >= limits_.max_values) {
    ++counters_.dropped_full;
    return false;
  }
  values_.push_back(std::make_shared<const LearnedValue>(std::move(v)));
  ++counters_.learned;
  dirty_ = true;
  return true;
}

std::vector<std::string> KnownValues::LearnFromCredentialFile(
    std::string_view content, const std::string& path, const catalogue::RuleSet& rules,
    const std::vector<std::pair<std::string, std::string>>& format_values) {
  LearnedValue base;
  base.source_path = path;
  if (const catalogue::CredentialFile* f = CredentialFileForPath(rules, path)) {
    // Not never_sent: a file holding a never-sent secret also holds values that are sent
    // (an AWS session token beside the secret key). No destinations means any egress alerts.
    base.destinations = rules.ExpectedDestinations(*f);
  }
  std::vector<std::string> added;
  std::set<std::string> formatted;
  for (const auto& [kind_id, value] : format_values) {
    formatted.insert(value);
    LearnedValue v = base;
    v.value = value;
    v.kind_id = kind_id;
    if (const catalogue::CredentialKind* k = rules.FindKind(kind_id)) {
      v.destinations = k->destinations;
      v.never_sent = k->never_sent;
    }
    if (Learn(std::move(v))) added.push_back(value);
  }
  for (auto& candidate : CandidateValues(content, limits_.max_candidates_per_read)) {
    // A token that contains a format match (a key inside a longer token) is that key.
    bool covered = std::any_of(formatted.begin(), formatted.end(), [&](const std::string& f) {
      return candidate.find(f) != std::string::npos || f.find(candidate) != std::string::npos;
    });
    if (covered) continue;
    LearnedValue v = base;
    v.value = candidate;
    if (Learn(std::move(v))) added.push_back(std::move(candidate));
  }
  return added;
}

std::vector<std::string> KnownValues::KindsFrom(const std::string& source_path) const {
  std::vector<std::string> kinds;
  for (const auto& v : values_) {
    if (v->source_path != source_path || v->kind_id.empty()) continue;
    if (std::find(kinds.begin(), kinds.end(), v->kind_id) == kinds.end()) {
      kinds.push_back(v->kind_id);
    }
  }
  return kinds;
}

std::shared_ptr<const KnownValueDatabase> KnownValues::Current() {
  return dirty_ ? Current(MonotonicNs()) : current_;
}

std::shared_ptr<const KnownValueDatabase> KnownValues::Current(uint64_t now_mono_ns) {
  if (!dirty_) return current_;
  if (rebuilt_once_ && now_mono_ns < last_rebuild_ns_ + limits_.min_rebuild_interval_ns) {
    if (!deferred_) ++counters_.rebuilds_deferred;
    deferred_ = true;
    return current_;
  }
  deferred_ = false;
  rebuilt_once_ = true;
  last_rebuild_ns_ = now_mono_ns;
  dirty_ = false;
  auto db = KnownValueDatabase::Compile(values_);
  if (!db) {
    ++counters_.rebuild_errors;
    spdlog::warn("known-value database not rebuilt ({}): the previous one stays", db.message());
    return current_;
  }
  ++counters_.rebuilds;
  current_ = *db;
  return current_;
}

}  // namespace credsentry::match
