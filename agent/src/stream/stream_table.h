// One stream per connection and direction: keyed by (pid, fd) for plain sockets and by
// (pid, SSL*) for TLS plaintext. Matching runs on the stream, never on single writes, so keys
// that straddle write boundaries are found. Bounded: the least recently used stream is closed
// (its end-of-stream matches flushed) when the table is full, and that is counted.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <vector>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "alert/alert.h"
#include "decode/events.h"
#include "stream/decoders/decoders.h"
#include "match/matcher.h"

namespace credsentry::stream {

enum class StreamOrigin : uint8_t { kSocket, kTls };

struct StreamKey {
  uint32_t pid = 0;
  StreamOrigin origin = StreamOrigin::kSocket;
  uint64_t id = 0;  // fd or SSL*
  bool operator==(const StreamKey&) const = default;
};

struct StreamKeyHash {
  size_t operator()(const StreamKey& k) const {
    return std::hash<uint64_t>()(k.id ^ (uint64_t{k.pid} << 40) ^ static_cast<uint64_t>(k.origin));
  }
};

struct StreamContext {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  int32_t fd = -1;       // socket fd; for TLS the fd seen with the SSL object (-1 if unknown)
  uint64_t ssl = 0;
  StreamOrigin origin = StreamOrigin::kSocket;
  alert::FoundIn found_in = alert::FoundIn::kNone;
  std::optional<decode::SocketAddress> explicit_destination;
  uint64_t last_mono_ns = 0;
  uint64_t bytes = 0;
  uint64_t gaps = 0;     // truncated captures inside this stream
  // Where the stream goes, remembered while the connection is known: a match flushed when the
  // stream closes (after the socket, and its connection record, are gone) still names it.
  alert::Destination dest;
  // The proxy tunnel this stream's bytes go through, from its socket's handshake (for TLS
  // plaintext, the handshake seen on the socket it is written to).
  std::optional<decoders::TunnelTarget> tunnel;
};

// A decoded unit (one header, one body, one DNS name) gets its own match stream, so a value
// is matched on its decoded bytes. Units of a connection are bounded; the oldest is closed
// (flushed) first when a connection opens too many at once.
struct UnitKey {
  std::string layer;
  uint64_t id = 0;
  bool operator<(const UnitKey& o) const { return id != o.id ? id < o.id : layer < o.layer; }
};

struct UnitStream {
  std::unique_ptr<match::MatchStream> matcher;
  std::vector<std::string> decoding;
  uint64_t opened_seq = 0;
};

struct Stream {
  static constexpr size_t kMaxOpenUnits = 64;

  StreamContext ctx;
  std::unique_ptr<match::MatchStream> matcher;            // the captured bytes as they are
  std::unique_ptr<decoders::EgressDecoder> decoder; // the same bytes, decoded by protocol
  std::map<UnitKey, UnitStream> units;
  uint64_t unit_seq = 0;
};

class StreamTable {
 public:
  using CloseHook = std::function<void(const StreamKey&, Stream&)>;

  explicit StreamTable(size_t max_streams, decoders::DecoderLimits limits = {})
      : max_streams_(max_streams), decoder_limits_(limits) {}
  void SetCloseHook(CloseHook hook) { on_close_ = std::move(hook); }

  // The stream for `key`, created with `db` when absent (evicting the LRU stream when full).
  Stream& Get(const StreamKey& key, const std::shared_ptr<const match::MatcherDatabase>& db);
  Stream* Find(const StreamKey& key);
  void Close(const StreamKey& key);
  // Closes every stream for which `pred` holds.
  void CloseIf(const std::function<bool(const StreamKey&, const Stream&)>& pred);

  size_t size() const { return streams_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    Stream stream;
    std::list<StreamKey>::iterator lru;
  };
  void CloseEntry(std::unordered_map<StreamKey, Entry, StreamKeyHash>::iterator it);

  size_t max_streams_;
  decoders::DecoderLimits decoder_limits_;
  CloseHook on_close_;
  std::unordered_map<StreamKey, Entry, StreamKeyHash> streams_;
  std::list<StreamKey> lru_;  // most recent at the back
  uint64_t evicted_ = 0;
};

}  // namespace credsentry::stream
