// DNS tunnel reassembly: the input is question names, one a line, each line's first byte
// choosing the sending process and how much time passes before it (so tunnels interleave, go
// idle and expire); the whole input is also read as a DNS message whose names join too. Checks
// the bounds every flush must keep.
#include <cctype>
#include <string_view>

#include "fuzz_sink.h"
#include "stream/decoders/dns.h"
#include "stream/decoders/dns_tunnel.h"

using namespace credsentry::stream::decoders;

namespace {

void Check(const DnsTunnelPayload& p) {
  if (p.parent.empty() || p.parent.size() > 253) __builtin_trap();
  for (unsigned char c : p.parent) {
    if (std::isupper(c)) __builtin_trap();  // parents are keys: one spelling each
  }
  if (p.queries > 1 && p.candidates.empty()) __builtin_trap();
  for (const auto& c : p.candidates) {
    if (c.bytes.size() > DnsTunnelReassembler::kMaxTunnelBytes) __builtin_trap();
    for (unsigned char b : c.bytes) fuzz::g_checksum = fuzz::g_checksum + b;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DnsTunnelReassembler tunnels(Check);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t now = 0;
  while (!input.empty()) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    if (line.empty()) continue;
    const uint8_t control = static_cast<uint8_t>(line[0]);
    now += static_cast<uint64_t>(control >> 2) * 500000000ull;  // up to 31.5 s, past kIdleNs
    std::string parent = tunnels.OnQuery(control & 3, line.substr(1), now);
    if (parent.size() > 253) __builtin_trap();
    if (control == 0xff) tunnels.FlushProcess(control & 3);
    tunnels.Expire(now);
    if (tunnels.size() > DnsTunnelReassembler::kMaxTunnels) __builtin_trap();
  }
  if (auto message = ParseDns(std::span<const uint8_t>(data, size))) {
    for (const auto& q : message->questions) tunnels.OnQuery(7, q.name, now);
  }
  tunnels.FlushAll();
  if (tunnels.size() != 0) __builtin_trap();
  return 0;
}
