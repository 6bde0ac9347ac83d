// DNS message parser (UDP and TCP framing) and the label decoders.
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
  auto candidates = DecodeDnsLabels(std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::g_checksum = fuzz::g_checksum + candidates.size();
  return 0;
}
