// Known-value matching: secret values this agent has seen on this host (in credential files)
// are matched as literals in every stream, raw and in the encodings exfiltration uses (base64 at
// the three byte alignments, hex, percent-encoding), so a credential that fits no format is
// still caught when it leaves. The learned set is small and changes rarely: it is compiled into
// its own Hyperscan streaming database, rebuilt at a bounded rate when the set changes, and each
// MatchStream scans it beside the catalogue database (match/matcher.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/counters.h"
#include "common/result.h"
#include "catalogue/rules.h"

struct hs_database;
struct hs_scratch;

namespace credsentry::match {

// SecretMatch::kind_index of a known value that fits no catalogue format.
inline constexpr uint32_t kKnownValueKind = 0xFFFFFFFFu;

struct LearnedValue {
  std::string value;                      // raw secret: stays in memory, never printed
  std::string source_path;                // credential file it was read from
  std::string kind_id;                    // catalogue kind it matched when learned ("" if none)
  std::vector<std::string> destinations;  // where it may go (the file's kinds' destinations)
  bool never_sent = false;                // one of the file's kinds never leaves the host
  bool from_environment = false;          // source_path describes an environment variable
};

// The kind a known value without a catalogue format is reported as ("known-value").
catalogue::CredentialKind KnownValueKind(const LearnedValue& v);

// Immutable snapshot of the learned set, compiled; shared by every stream that uses it.
class KnownValueDatabase {
 public:
  struct Form {
    uint32_t value;        // index into values()
    uint32_t length;       // bytes of the literal
    std::string encoding;  // "" for raw, else "base64", "hex", "percent"
  };

  static Result<std::shared_ptr<const KnownValueDatabase>> Compile(
      std::vector<std::shared_ptr<const LearnedValue>> values);
  ~KnownValueDatabase();
  KnownValueDatabase(const KnownValueDatabase&) = delete;
  KnownValueDatabase& operator=(const KnownValueDatabase&) = delete;

  const hs_database* hs() const { return db_; }
  uint64_t generation() const { return generation_; }
  const std::vector<std::shared_ptr<const LearnedValue>>& values() const { return values_; }
  const Form& form(uint32_t id) const { return forms_[id]; }
  size_t stream_state_bytes() const { return stream_state_bytes_; }

 private:
  KnownValueDatabase() = default;
  hs_database* db_ = nullptr;
  uint64_t generation_ = 0;
  std::vector<std::shared_ptr<const LearnedValue>> values_;
  std::vector<Form> forms_;
  size_t stream_state_bytes_ = 0;
};

struct KnownValueLimits {
  size_t max_values = 1024;     // learned values kept; later ones are dropped and counted
  size_t min_value_bytes = 8;   // shorter values would match by chance
  size_t max_value_bytes = 512;
  size_t max_candidates_per_read = 64;
  uint64_t min_rebuild_interval_ns = 250ull * 1000 * 1000;  // at most four rebuilds a second
};

#define CREDSENTRY_KNOWN_VALUE_COUNTERS(X)                                \
  X(learned, "values added to the learned set")                           \
  X(already_known, "values offered again: already in the set")            \
  X(dropped_full, "values not kept: the set was at max_values")           \
  X(dropped_size, "values not kept: shorter than min or longer than max") \
  X(rebuilds, "known-value databases compiled")                           \
  X(rebuild_errors, "rebuilds that failed: the previous database stays")  \
  X(rebuilds_deferred, "changes that waited for the rebuild rate limit")

struct KnownValueCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_KNOWN_VALUE_COUNTERS, KnownValueCounters)
};

// The learned set (pipeline thread only). Changes are coalesced: Current() rebuilds the database
// when the set changed and the last rebuild is at least min_rebuild_interval_ns old.
class KnownValues {
 public:
  explicit KnownValues(KnownValueLimits limits = {}) : limits_(limits) {}

  // True when `v.value` is new and was added.
  bool Learn(LearnedValue v);

  // Learns the secrets of one credential-file read: `format_values` are the values the catalogue
  // matched (with their kind ids), the rest are candidates found by CandidateValues(). Returns
  // the values that were new (the caller fingerprints them; never print them).
  std::vector<std::string> LearnFromCredentialFile(
      std::string_view content, const std::string& path, const catalogue::RuleSet& rules,
      const std::vector<std::pair<std::string, std::string>>& format_values);

  // The database to scan with now (nullptr while nothing is learned); rebuilds when due.
  std::shared_ptr<const KnownValueDatabase> Current(uint64_t now_mono_ns);
  std::shared_ptr<const KnownValueDatabase> Current();  // with the monotonic clock

  // The catalogue kinds of the values learned from `source_path`, each once, in learning order.
  std::vector<std::string> KindsFrom(const std::string& source_path) const;

  size_t size() const { return values_.size(); }
  const KnownValueCounters& counters() const { return counters_; }

 private:
  KnownValueLimits limits_;
  std::vector<std::shared_ptr<const LearnedValue>> values_;
  std::shared_ptr<const KnownValueDatabase> current_;
  bool dirty_ = false;
  bool rebuilt_once_ = false;
  bool deferred_ = false;  // the pending change was already counted as deferred
  uint64_t last_rebuild_ns_ = 0;
  KnownValueCounters counters_;
};

// Per-thread Hyperscan scratch for `db` (nullptr when it cannot be allocated).
hs_scratch* KnownValueScratchFor(const KnownValueDatabase& db);

// Literal forms of a value as they appear on the wire: raw, base64 and base64url at the three
// alignments (only the characters that depend on the value alone), hex lower and upper, and
// percent-encoding when it differs from raw. Paired with their encoding names.
std::vector<std::pair<std::string, std::string>> EncodedForms(std::string_view value);

// Base64 characters determined by `bytes` alone when they start at byte offset `alignment`
// (0-2) of a 3-byte group; `url` selects the base64url alphabet. Also returns (in lead_chars)
// how many characters of the group precede the returned ones.
std::string Base64Core(std::string_view bytes, int alignment, bool url, size_t* lead_chars);

// Secret-looking values in a credential file: the tokens between separators (whitespace,
// quotes, = : , ; brackets) of 12 to 512 bytes that mix letters and digits and look random
// (entropy), excluding paths and URLs. At most `max` values, in file order.
std::vector<std::string> CandidateValues(std::string_view content, size_t max);

// The rule's credential file that `path` is (`~/` matches any home, `**/d/n` any directory).
const catalogue::CredentialFile* CredentialFileForPath(const catalogue::RuleSet& rules,
                                                    std::string_view path);

}  // namespace credsentry::match
