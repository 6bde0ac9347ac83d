// DNS answers received by processes in scope (the kernel copies receives of port-53 sockets
// only): each address they resolve is remembered with its name, which then names connections to
// that address (Pipeline::DnsNameOf).
#include <cstdint>
#include <string>

#include "credsentry_abi.h"
#include "pipeline/internal.h"
#include "pipeline/pipeline.h"

namespace credsentry::pipeline {
using internal::FdKey;

namespace {

constexpr size_t kMaxTcpDnsStreams = 256;
constexpr size_t kMaxTcpDnsMessage = 2 + 65535;  // length prefix + the largest message

}  // namespace

void Pipeline::OnDnsAnswer(const decode::Payload& p) {
  ++counters_.dns_answers;
  if (p.truncated()) ++counters_.dns_answers_truncated;
  if (p.fd_kind != CS_FD_SOCK_TCP) {
    LearnDnsAnswer(p.data, false, p.header.ts_ns);
    return;
  }
  // TCP: a 2-byte length, then the message, in as many reads as the client makes.
  const uint64_t key = FdKey(p.header.pid, p.fd);
  auto it = dns_tcp_.find(key);
  if (it == dns_tcp_.end()) {
    if (dns_tcp_.size() >= kMaxTcpDnsStreams) {
      ++counters_.dns_tcp_streams_dropped;
      return;
    }
    it = dns_tcp_.emplace(key, std::string()).first;
  }
  std::string& buf = it->second;
  if (p.truncated() || buf.size() + p.data.size() > kMaxTcpDnsMessage) {
    // Part of the stream is missing: the framing is lost for good on this connection.
    ++counters_.dns_tcp_streams_dropped;
    dns_tcp_.erase(it);
    return;
  }
  buf.append(reinterpret_cast<const char*>(p.data.data()), p.data.size());
  while (buf.size() >= 2) {
    size_t len = (size_t{static_cast<uint8_t>(buf[0])} << 8) | static_cast<uint8_t>(buf[1]);
    if (buf.size() < 2 + len) break;
    LearnDnsAnswer({reinterpret_cast<const uint8_t*>(buf.data()), 2 + len}, true,
                   p.header.ts_ns);
    buf.erase(0, 2 + len);
  }
  if (buf.empty()) dns_tcp_.erase(it);
}

void Pipeline::LearnDnsAnswer(std::span<const uint8_t> message, bool tcp, uint64_t mono_ns) {
  auto parsed = stream::decoders::ParseDns(
      message, tcp ? stream::decoders::DnsTransport::kTcp : stream::decoders::DnsTransport::kUdp);
  if (!parsed) {
    ++counters_.dns_answers_unparsed;
    return;
  }
  for (const auto& r : stream::decoders::ResolvedAddresses(*parsed)) {
    dns_cache_.Add(r.ip, r.name, r.ttl, mono_ns);
    ++counters_.dns_addresses_learned;
  }
}

}  // namespace credsentry::pipeline
