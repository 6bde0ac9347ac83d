#include "match/matcher.h"

#include <hs/hs.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/log.h"
#include "match/thread_scratch.h"

namespace credsentry::match {
namespace {

std::atomic<uint64_t> g_next_generation{1};

hs_scratch_t* ScratchFor(const MatcherDatabase& db) {
  thread_local ThreadScratch<MatcherDatabase> scratch;
  return scratch.For(db);
}

int Base64Value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or url alphabet (mixed is tolerated); a trailing partial group is dropped.
std::vector<uint8_t> DecodeBase64(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t c : in) {
    int v = Base64Value(c);
    if (v < 0) break;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const MatcherDatabase>> MatcherDatabase::Compile(catalogue::RuleSet rules) {
  auto start = std::chrono::steady_clock::now();
  std::shared_ptr<MatcherDatabase> out(new MatcherDatabase());
  std::vector<std::string> exprs;
  std::vector<const char*> expr_ptrs;
  std::vector<unsigned> flags, ids;
  for (uint32_t i = 0; i < rules.kinds.size(); ++i) {
    const auto& k = rules.kinds[i];
    auto cs = catalogue::ParseCharset(k.charset);
    if (!cs) return Error{"credential '" + k.id + "': bad charset: " + cs.message()};
    out->charsets_.push_back(*cs);
    std::vector<catalogue::Validator> vs;
    for (const auto& name : k.validators) {
      auto fn = catalogue::FindValidator(name);
      if (!fn) return Error{"credential '" + k.id + "': unknown validator '" + name + "'"};
      vs.push_back(fn);
    }
    out->validators_.push_back(std::move(vs));
    exprs.push_back(catalogue::BoundedExpression(k.pattern, *cs, k.left_boundary));
    flags.push_back(catalogue::PatternFlags());
    ids.push_back(i);
  }
  if (exprs.empty()) return Error{"no credential kinds to compile"};
  // Base64 of the kinds' literal prefixes: ids from kinds.size() on.
  std::vector<std::string> patterns;
  for (const auto& k : rules.kinds) patterns.push_back(k.pattern);
  out->encoded_prefixes_ = EncodedPrefixes(patterns);
  for (uint32_t j = 0; j < out->encoded_prefixes_.size(); ++j) {
    exprs.push_back(LiteralExpression(out->encoded_prefixes_[j].literal));
    flags.push_back(0);
    ids.push_back(static_cast<unsigned>(rules.kinds.size()) + j);
  }
  for (const auto& e : exprs) expr_ptrs.push_back(e.c_str());

  hs_compile_error_t* err = nullptr;
  hs_error_t rc = hs_compile_multi(expr_ptrs.data(), flags.data(), ids.data(),
                                   static_cast<unsigned>(exprs.size()), HS_MODE_STREAM, nullptr,
                                   &out->db_, &err);
  if (rc != HS_SUCCESS) {
    std::string why = err && err->message ? err->message : "unknown error";
    std::string which = err && err->expression >= 0 && err->expression < int(rules.kinds.size())
                            ? "credential '" + rules.kinds[err->expression].id + "': "
                            : "";
    hs_free_compile_error(err);
    return Error{which + "Hyperscan cannot compile the catalogue: " + why};
  }
  hs_stream_size(out->db_, &out->stream_state_bytes_);
  hs_database_size(out->db_, &out->database_bytes_);
  out->generation_ = g_next_generation.fetch_add(1);
  out->rules_ = std::move(rules);
  // Fail here, not on the first packet, if this thread cannot get scratch for it.
  if (!ScratchFor(*out)) return Error{"Hyperscan could not allocate scratch space"};
  out->compile_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return std::shared_ptr<const MatcherDatabase>(std::move(out));
}

MatcherDatabase::~MatcherDatabase() {
  if (db_) hs_free_database(db_);
}

int OnHyperscanMatch(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                     unsigned int /*flags*/, void* ctx) {
  auto* self = static_cast<MatchStream*>(ctx);
  if (self->hits_.size() >= MatchStream::kMaxHitsPerSlice) {
    ++self->counters_.hits_dropped;
    return 0;
  }
  self->hits_.push_back({id, to});
  return 0;  // keep scanning
}

int OnKnownValueMatch(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                      unsigned int /*flags*/, void* ctx) {
  auto* self = static_cast<MatchStream*>(ctx);
  if (self->known_hits_.size() >= MatchStream::kMaxHitsPerSlice) {
    ++self->counters_.hits_dropped;
    return 0;
  }
  self->known_hits_.push_back({id, to});
  return 0;
}

MatchStream::MatchStream(std::shared_ptr<const MatcherDatabase> db, unsigned decode_depth)
    : db_(std::move(db)), decode_depth_(decode_depth) {
  if (hs_open_stream(db_->hs(), 0, &stream_) != HS_SUCCESS) {
    stream_ = nullptr;
    ++counters_.scan_errors;
    spdlog::warn("cannot open a Hyperscan stream: this connection is not matched");
  }
}

MatchStream::~MatchStream() {
  // Without scratch and callback, Hyperscan just frees the stream (no end-of-data matches).
  if (stream_) hs_close_stream(stream_, nullptr, nullptr, nullptr);
  if (known_stream_) hs_close_stream(known_stream_, nullptr, nullptr, nullptr);
}

size_t MatchStream::memory_bytes() const {
  return (stream_ ? db_->stream_state_bytes() : 0) + tail_.capacity() + hits_.capacity() * 16 +
         (known_stream_ ? known_db_->stream_state_bytes() : 0) + known_hits_.capacity() * 16 +
         pending_.capacity() * sizeof(PendingDecode);
}

void MatchStream::Feed(std::span<const uint8_t> bytes, const OnMatch& on_match) {
  if (closed_ || !stream_) {
    counters_.bytes_after_close += closed_ ? bytes.size() : 0;
    bytes_seen_ += closed_ ? 0 : bytes.size();
    return;
  }
  FollowKnownValues();
  while (!bytes.empty()) {
    size_t n = std::min(bytes.size(), kSliceBytes);
    ScanSlice(bytes.first(n), on_match);
    bytes = bytes.subspan(n);
  }
}

void MatchStream::ScanSlice(std::span<const uint8_t> slice, const OnMatch& on_match) {
  hs_scratch_t* scratch = ScratchFor(*db_);
  hits_.clear();
  uint64_t slice_start = bytes_seen_;
  hs_error_t rc = scratch ? hs_scan_stream(stream_, reinterpret_cast<const char*>(slice.data()),
                                           static_cast<unsigned>(slice.size()), 0, scratch,
                                           OnHyperscanMatch, this)
                          : HS_NOMEM;
  bytes_seen_ += slice.size();
  if (rc != HS_SUCCESS) {
    ++counters_.scan_errors;
    spdlog::warn("Hyperscan scan failed ({}): this connection is no longer matched", rc);
    hs_close_stream(stream_, nullptr, nullptr, nullptr);
    stream_ = nullptr;
    return;
  }
  if (known_stream_) {
    known_hits_.clear();
    hs_scratch_t* ks = KnownValueScratchFor(*known_db_);
    hs_error_t krc = ks ? hs_scan_stream(known_stream_, reinterpret_cast<const char*>(slice.data()),
                                         static_cast<unsigned>(slice.size()), 0, ks,
                                         OnKnownValueMatch, this)
                        : HS_NOMEM;
    if (krc != HS_SUCCESS) {
      ++counters_.scan_errors;
      hs_close_stream(known_stream_, nullptr, nullptr, nullptr);
      known_stream_ = nullptr;
    }
  }
  ResolveHits(slice, slice_start, on_match);
  ResolveKnownHits(on_match);
  ResolveDecodes(slice, slice_start, /*closing=*/false, on_match);
  KeepTail(slice);
}

void MatchStream::Close(const OnMatch& on_match) {
  if (closed_) return;
  closed_ = true;
  if (known_stream_) hs_close_stream(known_stream_, nullptr, nullptr, nullptr);
  known_stream_ = nullptr;
  if (!stream_) return;
  hits_.clear();
  hs_scratch_t* scratch = ScratchFor(*db_);
  hs_close_stream(stream_, scratch, scratch ? OnHyperscanMatch : nullptr, this);
  stream_ = nullptr;
  ResolveHits({}, bytes_seen_, on_match);
  ResolveDecodes({}, bytes_seen_, /*closing=*/true, on_match);
  tail_.clear();
  tail_.shrink_to_fit();
}

// Turns raw (kind, end) hits into values. The bytes of the stream are [tail_ | slice]; a hit
// ends at most at the slice's end. The value is the run of charset bytes ending at the match
// end (minus the trailing boundary byte): the boundary before the token guarantees the run stops
// at the token's first byte, and for context patterns (`aws_secret_access_key = …`) it keeps
// only the secret.
void MatchStream::ResolveHits(std::span<const uint8_t> slice, uint64_t slice_start,
                              const OnMatch& on_match) {
  if (hits_.empty()) return;
  auto byte_at = [&](uint64_t off) -> uint8_t {
    return off >= slice_start ? slice[off - slice_start] : tail_[off - tail_start_];
  };
  // Hyperscan reports in end order per scan, but sort to make de-duplication stable.
  std::sort(hits_.begin(), hits_.end(), [](const Hit& a, const Hit& b) {
    return a.end != b.end ? a.end < b.end : a.kind < b.kind;
  });
  const size_t kinds = db_->rules().kinds.size();
  for (const Hit& h : hits_) {
    if (h.kind >= kinds) {  // base64 of a key prefix: decode the run once it is complete
      QueueDecode(h);
      continue;
    }
    const catalogue::ByteSet& cs = db_->charset(h.kind);
    uint64_t value_end = h.end;
    if (value_end > tail_start_ && !cs.test(byte_at(value_end - 1))) --value_end;
    uint64_t start = value_end;
    while (start > tail_start_ && value_end - start < kMaxValueBytes &&
           cs.test(byte_at(start - 1))) {
      --start;
    }
    bool available =
        !(start == tail_start_ && tail_start_ > 0) && value_end - start < kMaxValueBytes;
    if (start == value_end) continue;  // boundary-only match: nothing to report
    if (SeenSpan(start, value_end)) {
      ++counters_.duplicates;
      continue;
    }
    SecretMatch m{h.kind, {}, available, start, value_end, {}};
    if (available) {
      m.value.reserve(value_end - start);
      for (uint64_t o = start; o < value_end; ++o) m.value.push_back(static_cast<char>(byte_at(o)));
      const auto& validators = db_->validators(h.kind);
      bool valid = std::all_of(validators.begin(), validators.end(),
                               [&](catalogue::Validator v) { return v(m.value); });
      if (!valid) {
        ++counters_.rejected_by_validator;
        continue;
      }
    } else {
      ++counters_.value_unavailable;
    }
    ++counters_.matches;
    on_match(m);
  }
  hits_.clear();
}

// Keeps between kTailBytes and 2*kTailBytes of history; compacting only past 2x makes the copy
// cost at most one byte per byte fed, even for streams of tiny writes.
void MatchStream::KeepTail(std::span<const uint8_t> slice) {
  if (slice.size() >= kTailBytes) {
    tail_.assign(slice.end() - kTailBytes, slice.end());
    tail_start_ = bytes_seen_ - kTailBytes;
    return;
  }
  if (tail_.size() + slice.size() > 2 * kTailBytes) {
    size_t keep = kTailBytes - slice.size();
    tail_.erase(tail_.begin(), tail_.end() - keep);
    tail_start_ = bytes_seen_ - slice.size() - keep;
  }
  tail_.insert(tail_.end(), slice.begin(), slice.end());
}

bool MatchStream::SeenSpan(uint64_t start, uint64_t end) {
  for (const Span& s : recent_) {
    if (s.start == start && s.end == end && end != 0) return true;
  }
  recent_[recent_next_] = {start, end};
  recent_next_ = (recent_next_ + 1) % kRecentSpans;
  return false;
}

}  // namespace credsentry::match

namespace credsentry::match {

void MatchStream::FollowKnownValues() {
  if (!known_values_) return;
  auto current = known_values_->Current();
  if (current == known_db_) return;
  if (known_stream_) {
    // Matches that straddle this point are lost; the set changed, so that is rare and counted.
    hs_close_stream(known_stream_, nullptr, nullptr, nullptr);
    known_stream_ = nullptr;
    ++counters_.known_db_switches;
  }
  known_db_ = std::move(current);
  if (known_db_ && hs_open_stream(known_db_->hs(), 0, &known_stream_) != HS_SUCCESS) {
    known_stream_ = nullptr;
    ++counters_.scan_errors;
  }
}

void MatchStream::ResolveKnownHits(const OnMatch& on_match) {
  if (known_hits_.empty()) return;
  std::sort(known_hits_.begin(), known_hits_.end(), [](const Hit& a, const Hit& b) {
    return a.end != b.end ? a.end < b.end : a.kind < b.kind;
  });
  const auto& kinds = db_->rules().kinds;
  for (const Hit& h : known_hits_) {
    const KnownValueDatabase::Form& form = known_db_->form(h.kind);
    uint64_t start = h.end >= form.length ? h.end - form.length : 0;
    if (SeenSpan(start, h.end)) {
      ++counters_.duplicates;
      continue;
    }
    const auto& learned = known_db_->values()[form.value];
    SecretMatch m{kKnownValueKind, learned->value, true, start, h.end, {}, learned};
    if (!form.encoding.empty()) m.decoding.push_back(form.encoding);
    if (const catalogue::CredentialKind* k = db_->rules().FindKind(learned->kind_id)) {
      m.kind_index = static_cast<uint32_t>(k - kinds.data());
    }
    ++counters_.matches;
    ++counters_.known_value_matches;
    on_match(m);
  }
  known_hits_.clear();
}

void MatchStream::QueueDecode(const Hit& h) {
  if (decode_depth_ >= kMaxDecodeDepth) return;
  const EncodedPrefix& p = db_->encoded_prefixes()[h.kind - db_->rules().kinds.size()];
  uint64_t literal_start = h.end - p.literal.size();
  if (literal_start < p.lead_chars) return;  // the group began before the stream
  uint64_t start = literal_start - p.lead_chars;
  if (start < tail_start_) return;
  for (const PendingDecode& d : pending_) {
    if (d.start == start) return;
  }
  if (pending_.size() >= kMaxPendingDecodes) {
    ++counters_.encoded_prefix_dropped;
    return;
  }
  ++counters_.encoded_prefix_hits;
  pending_.push_back({start, start});
}

// A pending run is decoded when it ends (a byte outside base64), reaches kMaxEncodedRun, or
// the stream closes. Runs never outgrow the tail (kMaxEncodedRun < kTailBytes).
void MatchStream::ResolveDecodes(std::span<const uint8_t> slice, uint64_t slice_start,
                                 bool closing, const OnMatch& on_match) {
  if (pending_.empty()) return;
  auto byte_at = [&](uint64_t off) -> uint8_t {
    return off >= slice_start ? slice[off - slice_start] : tail_[off - tail_start_];
  };
  const uint64_t data_end = slice_start + slice.size();
  for (size_t i = 0; i < pending_.size();) {
    PendingDecode& p = pending_[i];
    uint64_t pos = std::max(p.scanned, p.start);
    bool ended = false;
    while (pos < data_end && pos - p.start < kMaxEncodedRun) {
      if (Base64Value(byte_at(pos)) < 0) {
        ended = true;
        break;
      }
      ++pos;
    }
    p.scanned = pos;
    if (!ended && !closing && pos - p.start < kMaxEncodedRun) {
      ++i;
      continue;
    }
    // Start up to four groups earlier inside the same run (still aligned): the decoded bytes
    // then carry what preceded the key (its left boundary) and, for base64 inside base64, the
    // start of the inner group.
    uint64_t start = p.start;
    for (int group = 0; group < 4 && start >= tail_start_ + 4; ++group) {
      bool inside = true;
      for (uint64_t o = start - 4; o < start; ++o) inside &= Base64Value(byte_at(o)) >= 0;
      if (!inside) break;
      start -= 4;
    }
    std::vector<uint8_t> encoded;
    encoded.reserve(pos - start);
    for (uint64_t o = start; o < pos; ++o) encoded.push_back(byte_at(o));
    pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(i));
    DecodeAndRescan(encoded, start, pos, on_match);
  }
}

void MatchStream::DecodeAndRescan(const std::vector<uint8_t>& encoded, uint64_t start,
                                  uint64_t end, const OnMatch& on_match) {
  std::vector<uint8_t> decoded = DecodeBase64(encoded);
  if (decoded.empty()) return;
  MatchStream inner(db_, decode_depth_ + 1);
  std::vector<SecretMatch> found;
  auto collect = [&](const SecretMatch& m) { found.push_back(m); };
  inner.Feed(decoded, collect);
  inner.Close(collect);
  counters_.rejected_by_validator += inner.counters().rejected_by_validator;
  for (SecretMatch& m : found) {
    // Offsets of the decoded bytes, mapped back to the encoded run they came from.
    m.start = start + m.start * 4 / 3;
    m.end = std::min(end, start + (m.end * 4 + 2) / 3);
    m.decoding.insert(m.decoding.begin(), "base64");
    if (SeenSpan(m.start, m.end)) {
      ++counters_.duplicates;
      continue;
    }
    ++counters_.matches;
    on_match(m);
  }
}

}  // namespace credsentry::match
