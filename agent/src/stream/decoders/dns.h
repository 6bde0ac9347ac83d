// DNS messages: queries name where a process is about to connect (and may carry a secret in
// their labels: DNS tunnelling), answers map peer IPs back to names with their TTLs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders {

inline constexpr std::string_view kLayerDnsQname = "dns.qname";
inline constexpr std::string_view kLayerDnsLabel = "dns.label";  // decoded label candidates

struct DnsQuestion {
  std::string name;
  uint16_t qtype = 0;
};
// A/AAAA records carry `ip`; CNAME records carry `cname` (the target) and no ip.
// `queried_name` is the question name whose CNAME chain leads to this record's owner.
struct DnsAnswer {
  std::string name;
  std::string ip;
  uint32_t ttl = 0;
  std::string cname;
  std::string queried_name;
};
struct DnsMessage {
  uint16_t id = 0;
  bool response = false;
  std::vector<DnsQuestion> questions;
  std::vector<DnsAnswer> answers;
};

enum class DnsTransport { kUdp, kTcp };  // TCP messages carry a 2-byte length prefix

std::optional<DnsMessage> ParseDns(std::span<const uint8_t> payload,
                                   DnsTransport transport = DnsTransport::kUdp);

// An address a response gave for a name the client asked for (through any CNAME chain).
struct ResolvedAddress {
  std::string ip;
  std::string name;  // the question's name, lower-case
  uint32_t ttl = 0;  // of the address record
};
// The A/AAAA answers of a response that a question leads to; nothing for a query.
std::vector<ResolvedAddress> ResolvedAddresses(const DnsMessage& message);

// Candidate secrets hidden in the labels left of the registered domain: the labels joined
// without dots (keys split across labels), and hex / base32 / base64url decodings of single
// labels and of the joined run, where they decode to text.
std::vector<std::string> DecodeDnsLabels(std::string_view qname);

// Emits each question name as a "dns.qname" unit and its label candidates as "dns.label"
// units, under `unit_id`. For the caller that reads UDP datagrams; counts malformed messages.
void EmitDnsMessage(std::span<const uint8_t> payload, DnsTransport transport, uint64_t unit_id,
                    DecoderCounters& counters, const ChunkSink& sink);

}  // namespace credsentry::stream::decoders
