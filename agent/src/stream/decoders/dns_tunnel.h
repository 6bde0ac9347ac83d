// DNS tunnels: data spread over many queries under one parent domain (the attacker's zone),
// as hex, base32 or base64url labels. A query's labels say nothing on their own; joined per
// sending process and parent domain, in the order sent, they are the payload. Bounded in live
// tunnels, bytes per tunnel and idle time; every early flush and refusal is counted.
//
// The parent domain of a query is what follows its data labels. A new tunnel starts at a query
// whose leading labels look encoded: its data runs up to the last label that is long (at least
// kMinDataLabel characters, letters and digits mixed, in the hex/base32/base64url alphabet),
// plus a sequence label right after it; what follows, at least two labels, is the parent
// (`<data>.<data>.x1.exfil.example` -> `x1.exfil.example`). Once a process has a tunnel under
// a parent, every query under that parent whose leading labels are in the alphabet joins it,
// however short (a tunnel's last piece is usually short). Ordinary lookups (api.openai.com,
// short or letter-only labels) create no state.
//
// A sequence label is a run of at most 8 digits that comes first or last among the data
// labels (`0001.<hex>.parent`, `<hex>.0001.parent`); pieces are then joined in sequence order,
// which undoes reordering by resolvers and retries. Pieces without one join in the order sent.
//
// Resolvers may lower-case names on their way (and DNS is case-insensitive), so tunnels use
// hex or base32; base64url survives only when nothing on the path changed case. The agent reads
// the query as the process wrote it, so case is intact here unless the sender lowered it
// itself; such a payload is counted as tunnel_case_lost and matched only as it is.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/counters.h"

namespace credsentry::stream::decoders {

// clang-format off
#define CREDSENTRY_DNS_TUNNEL_COUNTERS(X)                                                       \
  X(tunnel_queries, "DNS queries whose labels joined a tunnel")                                 \
  X(tunnel_opened, "tunnels started (per process and parent domain)")                          \
  X(tunnel_flushes, "tunnels decoded and matched (idle, process exit, bound, eviction)")       \
  X(tunnel_evictions, "tunnels flushed early: kMaxTunnels were live")                          \
  X(tunnel_truncated, "tunnels flushed early at kMaxTunnelBytes (a key across the cut is missed)") \
  X(tunnel_duplicates, "repeated queries (A and AAAA, retries, a sequence number again) skipped") \
  X(tunnel_out_of_order, "sequence-numbered pieces that arrived after a later one")            \
  X(tunnel_single_query, "flushes of one query: that query's own label decoding covers it")    \
  X(tunnel_undecodable, "payloads that are neither hex, base32 nor base64url (matched as sent)") \
  X(tunnel_case_lost, "lower-case payloads in the base64url alphabet only: case lost, undecodable")
// clang-format on

struct DnsTunnelCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_DNS_TUNNEL_COUNTERS, DnsTunnelCounters)
};

// One bytes string a flushed tunnel may be: as sent, and each decoding that applies.
struct DnsTunnelCandidate {
  std::string_view codec;  // "labels" (the pieces joined as sent), "hex", "base32", "base64url"
  std::string bytes;
};

// A tunnel taken out of the table: its payload and how it decodes.
struct DnsTunnelPayload {
  uint32_t pid = 0;
  std::string parent;  // lower-case
  uint64_t queries = 0;
  std::vector<DnsTunnelCandidate> candidates;  // "labels" first; empty for one query
};

class DnsTunnelReassembler {
 public:
  static constexpr size_t kMaxTunnels = 256;
  static constexpr size_t kMaxTunnelBytes = 16 << 10;  // payload characters per tunnel
  static constexpr uint64_t kIdleNs = 10ull * 1000 * 1000 * 1000;
  static constexpr size_t kMinDataLabel = 16;
  static constexpr size_t kMaxSequenceDigits = 8;

  using FlushSink = std::function<void(const DnsTunnelPayload&)>;

  explicit DnsTunnelReassembler(FlushSink on_flush) : on_flush_(std::move(on_flush)) {}

  // A question name `pid` sent at `mono_ns`. Returns the parent domain of the tunnel it joined,
  // or empty when it is an ordinary lookup. May flush (the tunnel at its bound, the least
  // recently used one when the table is full).
  std::string OnQuery(uint32_t pid, std::string_view qname, uint64_t mono_ns);
  // Flushes tunnels idle since before now - kIdleNs.
  void Expire(uint64_t now_mono_ns);
  // The process is gone: what it sent is complete.
  void FlushProcess(uint32_t pid);
  void FlushAll();

  size_t size() const { return tunnels_.size(); }
  const DnsTunnelCounters& counters() const { return counters_; }

 private:
  struct Tunnel {
    uint32_t pid = 0;
    std::string parent;
    std::string in_order;                      // pieces without a sequence label, as sent
    std::map<uint64_t, std::string> sequenced;  // by sequence number
    size_t bytes = 0;
    uint64_t queries = 0;
    uint64_t last_ns = 0;
    std::string last_piece;  // the previous piece: resends of one query are joined once
    std::list<std::string>::iterator lru;
  };
  using Table = std::unordered_map<std::string, Tunnel>;

  Table::iterator Open(uint32_t pid, const std::string& parent, uint64_t mono_ns);
  void Join(Tunnel& t, std::string_view piece, bool has_sequence, uint64_t sequence);
  void Flush(Table::iterator it);

  FlushSink on_flush_;
  Table tunnels_;               // "pid|parent" -> tunnel
  std::list<std::string> lru_;  // least recently used first
  DnsTunnelCounters counters_;
};

// Decodes a joined payload: every decoding of hex, base32 (RFC 4648, no padding, any case) and
// base64url that applies, after the payload itself. Counts what decodes as none.
std::vector<DnsTunnelCandidate> DnsTunnelCandidates(std::string joined,
                                                    DnsTunnelCounters& counters);

}  // namespace credsentry::stream::decoders
