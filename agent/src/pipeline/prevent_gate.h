// Prevent mode's verdicts on held writes. The kernel stops a process whose TLS write carries a
// credential anchor (bpf/helpers/prevent.bpf.h) and marks the write's records held; the pipeline
// matches them like any other write. A secret judged misuse while its sender is held kills the
// sender (the alert says action "killed"); once the held write has been judged with nothing of
// the process left waiting, or when the hold bound passes, the process is released. A write that
// was not held (a plain socket, or a TLS write with no anchor) has left when it is judged: its
// sender is killed after it (action "killed-after-send"), so it sends nothing more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "alert/alert.h"
#include "common/counters.h"

namespace credsentry::pipeline {

#define CREDSENTRY_PREVENT_COUNTERS(X)                                                        \
  X(prevent_held_writes, "held TLS writes that reached the pipeline")                          \
  X(prevent_kills, "held processes killed: a credential was going where it may not")           \
  X(prevent_kills_after_send, "senders killed after a write that had left (plain, not held)")  \
  X(prevent_kill_failed, "kills the kernel refused (the process had already gone)")            \
  X(prevent_releases, "held processes let go after their write was judged")                    \
  X(prevent_released_on_timeout, "held processes let go at the hold bound, judged or not")     \
  X(prevent_exempted, "kills not made: an allow rule exempts the process, host or kind")       \
  X(prevent_hold_table_full, "held writes released at once: the hold table was full")

struct PreventCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_PREVENT_COUNTERS, PreventCounters)
};

// An allow rule of `prevent.allow` in agent.yaml: each field given must match (process: the
// command name or executable path; destination: the host name or IP; kind: the credential kind).
struct PreventAllow {
  std::string process, destination, kind;
  bool Matches(const std::string& comm, const std::string& exe, const std::string& host,
               const std::string& ip, const std::string& kind_id) const;
};

class PreventGate {
 public:
  static constexpr size_t kMaxHolds = 4096;  // CS_MAX_HELD: the kernel holds no more
  explicit PreventGate(uint64_t bound_ns = 200'000'000) : bound_ns_(bound_ns) {}

  // A chunk of a held write of `pid`, stopped at kernel time `held_ns`. False when the table is
  // full: the caller releases the process now.
  bool OnHeldChunk(uint32_t pid, uint64_t held_ns, bool last_chunk);
  bool Holding(uint32_t pid) const { return holds_.count(pid) != 0; }
  // The verdict on a held process was to kill it: it is no longer held.
  void Killed(uint32_t pid, bool ok);
  // A sender whose write was not held was killed after it (ok: the signal went). Remembered, so
  // the other matches of the same write do not kill or report it again.
  void KilledAfterSend(uint32_t pid, bool ok);
  // The kill already made of `pid` (its other matches report the same and kill nothing more).
  std::optional<alert::Action> KilledBefore(uint32_t pid) const {
    auto it = killed_.find(pid);
    if (it == killed_.end()) return std::nullopt;
    return it->second;
  }
  // An allow rule spared an unheld sender: true (counted, to be logged) the first time for the
  // process. Each match is still judged against the rules: one rule may spare one destination.
  bool ExemptedAfterSend(uint32_t pid);
  void Forget(uint32_t pid) {
    killed_.erase(pid);
    exempted_.erase(pid);
  }
  // Processes to release now: every held write whose last chunk was judged, unless `waiting`
  // says a secret of the process still waits for its destination, and every hold older than the
  // bound at `now_ns` (counted as released on timeout). They are forgotten here.
  template <class Waiting>
  std::vector<uint32_t> Due(uint64_t now_ns, Waiting&& waiting) {
    std::vector<uint32_t> out;
    for (auto it = holds_.begin(); it != holds_.end();) {
      const bool timed_out = now_ns >= it->second.since_ns + bound_ns_;
      if (timed_out || (it->second.complete && !waiting(it->first))) {
        ++(timed_out ? counters_.prevent_released_on_timeout : counters_.prevent_releases);
        out.push_back(it->first);
        it = holds_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  // Every held process, for the agent's exit (released, never left stopped).
  std::vector<uint32_t> TakeAll();
  // An allow rule spared the held `pid`: true (and counted) the first time for this hold.
  bool MarkExempted(uint32_t pid);
  void CountTableFull() { ++counters_.prevent_hold_table_full; }

  bool empty() const { return holds_.empty(); }
  size_t size() const { return holds_.size(); }
  const PreventCounters& counters() const { return counters_; }

 private:
  struct Hold {
    uint64_t since_ns = 0;
    bool complete = false;  // the write's last chunk has been through the pipeline
    bool exempted = false;  // an allow rule spared it (the write may hold more matches)
  };
  uint64_t bound_ns_;
  std::unordered_map<uint32_t, Hold> holds_;
  // Per process until its exit; each forgotten all at once past the bound.
  static constexpr size_t kMaxRemembered = 4096;
  void Remember(uint32_t pid, alert::Action action);
  std::unordered_map<uint32_t, alert::Action> killed_;
  std::unordered_set<uint32_t> exempted_;
  PreventCounters counters_;
};

// What prevent mode holds writes on: the first bytes of every credential kind's literal prefix,
// raw and base64-coded (once and twice) at every alignment, and of every known value in each of
// its wire forms; and the HPACK Huffman codes of the prefixes as an HTTP/2 header value.
struct PreventAnchorSources {
  std::vector<std::string> patterns;     // the catalogue kinds' patterns
  std::vector<std::string> known_values; // raw values learned on this host (never printed)
};
struct PreventAnchorSet {
  std::vector<std::string> text;     // followed by key characters (credsentry_abi.h)
  std::vector<std::string> huffman;  // HPACK Huffman codes, five bytes or more
};
PreventAnchorSet PreventAnchors(const PreventAnchorSources& sources);

}  // namespace credsentry::pipeline
