// Secrets that matched before the agent knew where their bytes go.
//
// A TLS write can reach the pipeline before the records that name its connection (the socket
// write inside the TLS call that gives its fd, a Go conn's fd learned on its next Write, the
// connect of a socket the reader has not handed over yet). Judged at once, such a key would be
// "sent to an unknown peer, which is not an expected destination": a false alarm for every
// legitimate request that loses the race. So the verdict waits, bounded in time and in entries,
// for the destination to appear; what is still unknown at the end of the hold is reported as
// what it is (destination unknown), never as an unexpected destination.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "stream/decoders/decoded_chunk.h"
#include "match/matcher.h"
#include "stream/stream_table.h"

namespace credsentry::pipeline {

struct HeldSecret {
  stream::StreamKey key;
  stream::StreamContext ctx;  // as it was when the secret matched
  match::SecretMatch match;
  stream::decoders::ConnectionFacts facts;  // Host / :authority claims at match time
  uint64_t held_at_ns = 0;                  // kernel time of the write that completed the match
};

class HeldSecrets {
 public:
  HeldSecrets(size_t max_entries, uint64_t hold_ns) : max_(max_entries), hold_ns_(hold_ns) {}

  // Returns true when the secret was judged (and is forgotten), false to keep holding it.
  using Judge = std::function<bool(HeldSecret&)>;

  // False when full: the caller judges the secret now.
  bool Hold(HeldSecret s);
  // Offers every entry of process `pid` to `judge` (something that names its connection arrived).
  void Retry(uint32_t pid, const Judge& judge);
  // Hands over, oldest first, every entry held for the whole hold by `now_ns` (all of them when
  // `all`): the judge must decide now.
  void Expire(uint64_t now_ns, bool all, const std::function<void(HeldSecret&)>& judge);

  // Whether a secret of process `pid` still waits for its destination.
  bool Waiting(uint32_t pid) const;
  bool empty() const { return held_.empty(); }
  size_t size() const { return held_.size(); }

 private:
  size_t max_;
  uint64_t hold_ns_;
  std::deque<HeldSecret> held_;  // oldest first
};

}  // namespace credsentry::pipeline
