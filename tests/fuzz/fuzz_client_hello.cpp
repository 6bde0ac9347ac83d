// TLS ClientHello parser, whole and byte prefix by prefix.
#include "fuzz_sink.h"
#include "stream/decoders/tls_client_hello.h"

using namespace credsentry::stream::decoders;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto hello = ParseClientHello(bytes);
  if (hello) fuzz::g_checksum = fuzz::g_checksum + hello->sni.size() + hello->alpn.size();
  ClientHello partial;
  if (size > 0) (void)ParseClientHelloPrefix(bytes.first(size / 2), partial);
  return 0;
}
