// DNS message parser (UDP and TCP framing), the answer -> address extraction the agent's
// DnsCache is fed from, and the label decoders.
#include <string_view>

#include "fuzz_sink.h"
#include "stream/decoders/dns.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  DecoderCounters counters;
  auto sink = fuzz::TouchingSink();
  EmitDnsMessage(bytes, DnsTransport::kUdp, 1, counters, sink);
  EmitDnsMessage(bytes, DnsTransport::kTcp, 2, counters, sink);
  for (auto transport : {DnsTransport::kUdp, DnsTransport::kTcp}) {
    auto message = ParseDns(bytes, transport);
    if (!message) continue;
    for (const auto& r : ResolvedAddresses(*message)) {
      // What reaches the cache (and alerts): bounded, host-name characters only.
      if (r.name.empty() || r.name.size() > 255 || r.ip.empty()) __builtin_trap();
      fuzz::g_checksum = fuzz::g_checksum + r.name.size() + r.ip.size() + r.ttl;
    }
  }
  auto candidates = DecodeDnsLabels(std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::g_checksum = fuzz::g_checksum + candidates.size();
  return 0;
}
