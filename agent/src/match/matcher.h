// Stream matching of the whole credential catalogue: one Hyperscan STREAMING database shared by
// every connection, one MatchStream per connection direction. Keys straddle write boundaries,
// so matching state carries across Feed() calls; the value itself is recovered from a bounded
// tail of recent bytes kept per stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/result.h"
#include "catalogue/rules.h"
#include "catalogue/rules_charset.h"
#include "catalogue/validators.h"
#include "match/encoded_prefixes.h"
#include "match/known_values.h"

struct hs_database;
struct hs_stream;

namespace credsentry::match {

struct SecretMatch {
  uint32_t kind_index;                // index into RuleSet::kinds
  std::string value;                  // raw secret bytes: stays in memory, never printed
  bool value_available = true;        // false: the value began before the retained tail
  uint64_t start, end;                // [start, end) offsets in the stream; start is a lower bound
                                      // when !value_available
  std::vector<std::string> decoding;  // e.g. {"base64"} when found inside an encoding
  // Set when the match is a value learned on this host (match/known_values.h); kind_index is
  // then its catalogue kind, or kKnownValueKind when it fits no format.
  std::shared_ptr<const LearnedValue> known;
};

// Per-stream counts of everything matched, dropped or degraded: nothing is lost silently.
#define CREDSENTRY_MATCH_COUNTERS(X)                                         \
  X(matches, "handed to on_match")                                           \
  X(rejected_by_validator, "format matched, a validator said no")            \
  X(value_unavailable, "reported without value: started before the tail")    \
  X(duplicates, "same span already reported (overlapping kinds)")            \
  X(hits_dropped, "more raw hits in one slice than kMaxHitsPerSlice")        \
  X(scan_errors, "Hyperscan refused to scan (stream state is then dead)")    \
  X(bytes_after_close, "fed after Close(): ignored")                         \
  X(known_value_matches, "learned values seen (included in matches)")        \
  X(known_db_switches, "known-value database replaced mid-stream")           \
  X(encoded_prefix_hits, "base64 of a key prefix seen: the run was decoded") \
  X(encoded_prefix_dropped, "more pending base64 runs than kMaxPendingDecodes")

struct MatchCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_MATCH_COUNTERS, MatchCounters)
};

class MatcherDatabase {  // immutable, shared by all streams; rebuilt on reload
 public:
  static Result<std::shared_ptr<const MatcherDatabase>> Compile(catalogue::RuleSet rules);
  ~MatcherDatabase();
  MatcherDatabase(const MatcherDatabase&) = delete;
  MatcherDatabase& operator=(const MatcherDatabase&) = delete;

  const catalogue::RuleSet& rules() const { return rules_; }
  size_t stream_state_bytes() const { return stream_state_bytes_; }
  size_t database_bytes() const { return database_bytes_; }
  double compile_ms() const { return compile_ms_; }

  // Used by MatchStream.
  const hs_database* hs() const { return db_; }
  uint64_t generation() const { return generation_; }
  const catalogue::ByteSet& charset(uint32_t kind) const { return charsets_[kind]; }
  const std::vector<catalogue::Validator>& validators(uint32_t kind) const {
    return validators_[kind];
  }
  // Hyperscan ids from kinds().size() on are base64 key prefixes (match/encoded_prefixes.h).
  const std::vector<EncodedPrefix>& encoded_prefixes() const { return encoded_prefixes_; }

 private:
  MatcherDatabase() = default;

  catalogue::RuleSet rules_;
  hs_database* db_ = nullptr;
  uint64_t generation_ = 0;  // unique per compiled database: keys the per-thread scratch
  std::vector<catalogue::ByteSet> charsets_;
  std::vector<std::vector<catalogue::Validator>> validators_;
  std::vector<EncodedPrefix> encoded_prefixes_;
  size_t stream_state_bytes_ = 0;
  size_t database_bytes_ = 0;
  double compile_ms_ = 0;
};

class MatchStream {  // one per connection direction; not thread-safe, movable only by pointer
 public:
  static constexpr size_t kTailBytes = 8 << 10;    // history always retained for value recovery
  static constexpr size_t kSliceBytes = 64 << 10;  // Feed() scans in slices of this size
  static constexpr size_t kMaxHitsPerSlice = 4096;
  static constexpr size_t kMaxValueBytes = 4096;
  static constexpr size_t kRecentSpans = 32;  // spans remembered for de-duplication
  static constexpr size_t kMaxPendingDecodes = 8;      // base64 runs awaiting their end
  static constexpr size_t kMaxEncodedRun = 2048;       // base64 characters decoded per run
  static constexpr unsigned kMaxDecodeDepth = 2;       // base64 inside base64, no deeper

  using OnMatch = std::function<void(const SecretMatch&)>;

  // `decode_depth` > 0: this stream scans bytes another stream decoded from base64.
  explicit MatchStream(std::shared_ptr<const MatcherDatabase> db, unsigned decode_depth = 0);
  ~MatchStream();
  MatchStream(const MatchStream&) = delete;
  MatchStream& operator=(const MatchStream&) = delete;

  // on_match runs after Hyperscan returns, so it may feed other streams.
  void Feed(std::span<const uint8_t> bytes, const OnMatch& on_match);
  // Flushes matches that need the end of the stream (a key that is the last thing sent).
  void Close(const OnMatch& on_match);
  // Also match the values learned on this host; the stream follows the set's rebuilds.
  void SetKnownValues(std::shared_ptr<KnownValues> known) { known_values_ = std::move(known); }
  bool has_known_values() const { return known_values_ != nullptr; }

  uint64_t bytes_seen() const { return bytes_seen_; }
  const MatchCounters& counters() const { return counters_; }
  const MatcherDatabase& database() const { return *db_; }
  // Bytes this stream holds beyond the database: Hyperscan state plus the tail buffer.
  size_t memory_bytes() const;

 private:
  struct Hit {
    uint32_t kind;
    uint64_t end;
  };
  struct Span {
    uint64_t start, end;
  };
  struct PendingDecode {
    uint64_t start;  // stream offset of the base64 group holding the prefix
    uint64_t scanned;
  };

  void ScanSlice(std::span<const uint8_t> slice, const OnMatch& on_match);
  void ResolveHits(std::span<const uint8_t> slice, uint64_t slice_start, const OnMatch& on_match);
  void KeepTail(std::span<const uint8_t> slice);
  bool SeenSpan(uint64_t start, uint64_t end);
  void FollowKnownValues();
  void ResolveKnownHits(const OnMatch& on_match);
  void QueueDecode(const Hit& h);
  void ResolveDecodes(std::span<const uint8_t> slice, uint64_t slice_start, bool closing,
                      const OnMatch& on_match);
  void DecodeAndRescan(const std::vector<uint8_t>& encoded, uint64_t start, uint64_t end,
                       const OnMatch& on_match);

  std::shared_ptr<const MatcherDatabase> db_;
  hs_stream* stream_ = nullptr;
  std::vector<uint8_t> tail_;  // bytes [tail_start_, tail_start_ + tail_.size())
  uint64_t tail_start_ = 0;
  uint64_t bytes_seen_ = 0;
  std::vector<Hit> hits_;
  Span recent_[kRecentSpans] = {};
  size_t recent_next_ = 0;
  bool closed_ = false;
  MatchCounters counters_;
  unsigned decode_depth_ = 0;
  std::vector<PendingDecode> pending_;
  std::shared_ptr<KnownValues> known_values_;
  std::shared_ptr<const KnownValueDatabase> known_db_;
  hs_stream* known_stream_ = nullptr;
  std::vector<Hit> known_hits_;

  friend int OnHyperscanMatch(unsigned int, unsigned long long, unsigned long long, unsigned int,
                              void*);
  friend int OnKnownValueMatch(unsigned int, unsigned long long, unsigned long long, unsigned int,
                               void*);
};

}  // namespace credsentry::match
