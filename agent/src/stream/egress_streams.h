// The bytes processes send, one stream per connection and direction. Each write joins its
// stream, which is matched twice: as captured, and decoded by protocol, unit by unit (a header,
// a body, a DNS name), each unit with a match stream of its own. Every match, from either, goes
// to one sink; the counters of a stream and of its units join the totals when they close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "alert/alert.h"
#include "common/counters.h"
#include "decode/events.h"
#include "match/known_values.h"
#include "match/matcher.h"
#include "stream/decoders/decoded_chunk.h"
#include "stream/dns_tunnels.h"
#include "stream/stream_table.h"

namespace credsentry::stream {

#define CREDSENTRY_EGRESS_STREAM_COUNTERS(X)                                      \
  X(bytes_matched, "captured bytes fed to stream matchers")                       \
  X(bytes_decoded, "decoded bytes fed to unit matchers")                          \
  X(decoded_units_evicted, "decoded units closed early at Stream::kMaxOpenUnits") \
  X(streams_seen_mid_stream, "streams whose first bytes were not a protocol start")

struct EgressStreamCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_EGRESS_STREAM_COUNTERS, EgressStreamCounters)
};

// One write on a stream: who made it, where it said it goes, and what of it was captured.
struct StreamWrite {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string_view comm;
  int32_t fd = -1;  // the socket; -1 while a TLS write's socket is not known
  uint64_t ssl = 0;
  alert::FoundIn found_in = alert::FoundIn::kNone;
  std::optional<decode::SocketAddress> explicit_destination;  // sendto() address
  uint64_t mono_ns = 0;
  uint64_t bytes = 0;
  bool gap = false;  // the capture of this call was cut (set on its last chunk only)

  // A captured write of process `h`, on socket `fd` or TLS object `ssl`.
  static StreamWrite Of(const decode::EventHeader& h, int32_t fd, uint64_t ssl,
                        alert::FoundIn found_in, const decode::Capture& c);
};

// How a write's bytes are framed.
enum class Framing : uint8_t {
  kStream,       // TCP or TLS: reassembled and decoded by protocol
  kDatagram,     // UDP: a message of its own, matched as it is
  kDnsDatagram,  // UDP to port 53: one DNS message, its names decoded too
};

class EgressStreams {
 public:
  using SecretSink =
      std::function<void(const StreamKey&, const StreamContext&, const match::SecretMatch&)>;

  // `known_values` are matched as literals in every stream.
  EgressStreams(size_t max_streams, std::shared_ptr<const match::MatcherDatabase> db,
                std::shared_ptr<match::KnownValues> known_values, SecretSink on_secret);

  // Streams opened from now on match with `db`; close the open ones first to flush them.
  void SetDatabase(std::shared_ptr<const match::MatcherDatabase> db) {
    dns_tunnels_.SetDatabase(db);
    db_ = std::move(db);
  }

  // The write joins `key`'s stream (opened when absent; the least recently used one is closed
  // when the table is full). The context is the caller's to complete (its destination).
  StreamContext& Record(const StreamKey& key, const StreamWrite& w);
  // Matches the recorded write's bytes on its stream.
  void Scan(const StreamKey& key, std::span<const uint8_t> bytes, Framing framing);

  // What the stream's decoder learned of its connection (Host, :authority); null: no stream.
  const decoders::ConnectionFacts* Facts(const StreamKey& key);

  // Closing a stream flushes its end-of-stream matches to the sink.
  void Close(const StreamKey& key) { streams_.Close(key); }
  void CloseIf(const std::function<bool(const StreamKey&, const StreamContext&)>& pred);
  void CloseAll();  // DNS tunnels too

  // Question names of DNS streams join tunnels here; flush them on exit and when idle.
  DnsTunnels& dns_tunnels() { return dns_tunnels_; }
  const DnsTunnels& dns_tunnels() const { return dns_tunnels_; }

  size_t size() const { return streams_.size(); }
  uint64_t evicted() const { return streams_.evicted(); }
  const EgressStreamCounters& counters() const { return counters_; }
  // Totals of closed streams and units.
  const match::MatchCounters& match_totals() const { return match_totals_; }
  const decoders::DecoderCounters& decoder_totals() const { return decoder_totals_; }
  const decoders::DecoderCounters& dns_counters() const { return dns_counters_; }  // datagrams

 private:
  void OnClose(const StreamKey& key, Stream& s);
  void AdoptTunnel(const StreamKey& key, Stream& s);
  void FeedUnit(const StreamKey& key, Stream& s, const decoders::DecodedChunk& c);
  void CloseUnit(const StreamKey& key, Stream& s, UnitStream& us);
  void OnUnitSecret(const StreamKey& key, const Stream& s, const UnitStream& us,
                    const match::SecretMatch& m);

  std::shared_ptr<const match::MatcherDatabase> db_;
  std::shared_ptr<match::KnownValues> known_values_;
  SecretSink on_secret_;
  StreamTable streams_;
  EgressStreamCounters counters_;
  match::MatchCounters match_totals_;
  decoders::DecoderCounters decoder_totals_;
  decoders::DecoderCounters dns_counters_;
  DnsTunnels dns_tunnels_{db_, known_values_, match_totals_};
};

}  // namespace credsentry::stream
