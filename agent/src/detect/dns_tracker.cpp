#include "detect/dns_tracker.h"

#include <iterator>

#include "stream/decoders/dns.h"

namespace credsentry::detect {
namespace {

uint64_t SocketKey(uint32_t pid, int32_t fd) {
  return (uint64_t{pid} << 32) | static_cast<uint32_t>(fd);
}

}  // namespace

void DnsTracker::OnReceived(uint32_t pid, int32_t fd, bool tcp, bool truncated,
                            std::span<const uint8_t> bytes, uint64_t mono_ns) {
  ++counters_.answers;
  if (truncated) ++counters_.answers_truncated;
  if (!tcp) {
    Learn(bytes, false, mono_ns);
    return;
  }
  const uint64_t key = SocketKey(pid, fd);
  auto it = tcp_.find(key);
  if (it == tcp_.end()) {
    if (tcp_.size() >= kMaxTcpStreams) {
      ++counters_.tcp_streams_dropped;
      return;
    }
    it = tcp_.emplace(key, std::string()).first;
  }
  std::string& buf = it->second;
  if (truncated || buf.size() + bytes.size() > kMaxTcpMessage) {
    // Part of the stream is missing: the framing is lost for good on this connection.
    ++counters_.tcp_streams_dropped;
    tcp_.erase(it);
    return;
  }
  buf.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (buf.size() >= 2) {
    size_t len = (size_t{static_cast<uint8_t>(buf[0])} << 8) | static_cast<uint8_t>(buf[1]);
    if (buf.size() < 2 + len) break;
    Learn({reinterpret_cast<const uint8_t*>(buf.data()), 2 + len}, true, mono_ns);
    buf.erase(0, 2 + len);
  }
  if (buf.empty()) tcp_.erase(it);
}

void DnsTracker::ForgetSocket(uint32_t pid, int32_t fd) { tcp_.erase(SocketKey(pid, fd)); }

void DnsTracker::ForgetProcess(uint32_t pid) {
  std::erase_if(tcp_, [pid](const auto& kv) { return kv.first >> 32 == pid; });
}

void DnsTracker::Learn(std::span<const uint8_t> message, bool tcp, uint64_t mono_ns) {
  auto parsed = stream::decoders::ParseDns(
      message, tcp ? stream::decoders::DnsTransport::kTcp : stream::decoders::DnsTransport::kUdp);
  if (!parsed) {
    ++counters_.answers_unparsed;
    return;
  }
  for (const auto& r : stream::decoders::ResolvedAddresses(*parsed)) {
    cache_.Add(r.ip, r.name, r.ttl, mono_ns);
    ++counters_.addresses_learned;
    if (sink_) sink_(r.ip, r.name, r.ttl, mono_ns);
  }
}

}  // namespace credsentry::detect
