// DNS answers received by processes in scope (the kernel copies receives of port-53 sockets
// only): every address an answer resolves is remembered with its name, within its TTL, so that a
// later connection to that address is named by the name the process asked for.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "common/counters.h"
#include "state/dns_cache.h"

namespace credsentry::detect {

// clang-format off
#define CREDSENTRY_DNS_ANSWER_COUNTERS(X)                                                 \
  X(answers, "DNS answers received")                                                      \
  X(answers_truncated, "DNS answers whose capture the kernel cut")                        \
  X(answers_unparsed, "DNS answers that did not parse")                                   \
  X(tcp_streams_dropped, "DNS-over-TCP streams given up (table full, gap, too long)")     \
  X(addresses_learned, "addresses cached from DNS answers")
// clang-format on

struct DnsAnswerCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_DNS_ANSWER_COUNTERS, DnsAnswerCounters)
};

class DnsTracker {
 public:
  // TCP streams reassembled at once, and the most one of them holds (length prefix + message).
  static constexpr size_t kMaxTcpStreams = 256;
  static constexpr size_t kMaxTcpMessage = 2 + 65535;

  // Bytes a process received on a DNS socket: a whole datagram (UDP), or the next piece of a
  // TCP stream, whose messages come length-prefixed in as many reads as the client makes.
  // `truncated`: the kernel cut this capture.
  void OnReceived(uint32_t pid, int32_t fd, bool tcp, bool truncated,
                  std::span<const uint8_t> bytes, uint64_t mono_ns);
  // The socket is closed, or its process gone: drop what was being reassembled.
  void ForgetSocket(uint32_t pid, int32_t fd);
  void ForgetProcess(uint32_t pid);

  // The name `ip` was resolved from, while its TTL lasts.
  std::optional<std::string> NameOf(const std::string& ip, uint64_t mono_ns) {
    return cache_.Lookup(ip, mono_ns);
  }

  // Called with every address an answer gives (prevent mode's connect block, egress_policy.h).
  using AnswerSink = std::function<void(const std::string& ip, const std::string& name,
                                        uint32_t ttl_s, uint64_t mono_ns)>;
  void SetAnswerSink(AnswerSink sink) { sink_ = std::move(sink); }

  const DnsAnswerCounters& counters() const { return counters_; }
  const state::DnsCache& cache() const { return cache_; }

 private:
  void Learn(std::span<const uint8_t> message, bool tcp, uint64_t mono_ns);

  state::DnsCache cache_;
  std::unordered_map<uint64_t, std::string> tcp_;  // (pid, fd) -> bytes not yet a message
  DnsAnswerCounters counters_;
  AnswerSink sink_;
};

}  // namespace credsentry::detect
