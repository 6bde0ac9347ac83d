// The DNS tunnels of egress streams: question names from the streams' DNS decoders join a
// tunnel per sending process and parent domain (stream/decoders/dns_tunnel.h); a flushed tunnel
// is matched, as sent and in each decoding, with the catalogue and the values learned on this
// host. A match names the tunnel's parent domain and the context of its last query's stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "match/known_values.h"
#include "match/matcher.h"
#include "stream/decoders/dns_tunnel.h"
#include "stream/stream_table.h"

namespace credsentry::stream {

class DnsTunnels {
 public:
  // `parent`: the domain the data was sent under.
  using SecretSink = std::function<void(const StreamContext& ctx, const std::string& parent,
                                        const match::SecretMatch& m)>;

  // Matches made at flush add their counters to `match_totals`.
  DnsTunnels(std::shared_ptr<const match::MatcherDatabase> db,
             std::shared_ptr<match::KnownValues> known_values, match::MatchCounters& match_totals);

  void SetSink(SecretSink on_secret) { on_secret_ = std::move(on_secret); }
  void SetDatabase(std::shared_ptr<const match::MatcherDatabase> db) { db_ = std::move(db); }

  // A question name sent on the stream whose context is `ctx`.
  void OnQuery(const StreamContext& ctx, std::string_view qname);
  void Expire(uint64_t now_mono_ns) { reassembler_.Expire(now_mono_ns); }
  void FlushProcess(uint32_t pid) { reassembler_.FlushProcess(pid); }
  void FlushAll() { reassembler_.FlushAll(); }

  size_t size() const { return reassembler_.size(); }
  const decoders::DnsTunnelCounters& counters() const { return reassembler_.counters(); }

 private:
  void OnFlush(const decoders::DnsTunnelPayload& payload);

  std::shared_ptr<const match::MatcherDatabase> db_;
  std::shared_ptr<match::KnownValues> known_values_;
  match::MatchCounters& match_totals_;
  SecretSink on_secret_;
  // The context of each live tunnel's last query: as many as the reassembler has tunnels, each
  // removed when its tunnel is flushed.
  std::unordered_map<std::string, StreamContext> senders_;
  decoders::DnsTunnelReassembler reassembler_;
};

}  // namespace credsentry::stream
