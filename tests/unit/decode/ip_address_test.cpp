// The one text form of an address that alerts, the DNS cache and allow-lists all compare.
#include "decode/ip_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>

namespace credsentry::decode {
namespace {

std::array<uint8_t, 16> Bytes(int family, const char* text) {
  std::array<uint8_t, 16> out{};
  EXPECT_EQ(inet_pton(family, text, out.data()), 1) << text;
  return out;
}

struct Rendering {
  int family;
  const char* written;
  const char* rendered;
};

constexpr Rendering kRenderings[] = {
    {AF_INET, "127.0.0.1", "127.0.0.1"},
    {AF_INET, "203.0.113.9", "203.0.113.9"},
    // IPv6: RFC 5952, lower case with the longest zero run compressed.
    {AF_INET6, "::1", "::1"},
    {AF_INET6, "FD00:00C5:0:0:0:0:0:1", "fd00:c5::1"},
    {AF_INET6, "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
    {AF_INET6, "::", "::"},
    // The kernel records carry no zone: a link-local peer reads without its interface.
    {AF_INET6, "fe80::1", "fe80::1"},
    // v4-mapped reads as its IPv4 address...
    {AF_INET6, "::ffff:127.0.0.1", "127.0.0.1"},
    {AF_INET6, "::ffff:203.0.113.9", "203.0.113.9"},
    // ...but only ::ffff:0:0/96: the deprecated v4-compatible form and NAT64 stay IPv6.
    {AF_INET6, "::127.0.0.1", "::127.0.0.1"},
    {AF_INET6, "64:ff9b::7f00:1", "64:ff9b::7f00:1"},
};

TEST(IpText, EachFamilyHasOneCanonicalText) {
  for (const auto& r : kRenderings) {
    EXPECT_EQ(IpText(r.family, Bytes(r.family, r.written)), r.rendered) << r.written;
  }
}

TEST(IpText, OtherFamiliesAndShortBuffersAreEmpty) {
  auto v6 = Bytes(AF_INET6, "::1");
  EXPECT_EQ(IpText(0, v6), "");
  EXPECT_EQ(IpText(AF_UNIX, v6), "");
  EXPECT_EQ(IpText(AF_INET6, std::span(v6).first(8)), "");
  EXPECT_EQ(IpText(AF_INET, std::span(v6).first(3)), "");
}

TEST(MakeSocketAddress, V4MappedPeerIsAnIpv4Peer) {
  auto mapped = MakeSocketAddress(AF_INET6, 8080, Bytes(AF_INET6, "::ffff:127.0.0.1"));
  EXPECT_EQ(mapped.family, AF_INET);
  EXPECT_EQ(mapped.ip, "127.0.0.1");
  EXPECT_EQ(mapped.port, 8080);
  auto v6 = MakeSocketAddress(AF_INET6, 443, Bytes(AF_INET6, "::1"));
  EXPECT_EQ(v6.family, AF_INET6);
  EXPECT_EQ(v6.ip, "::1");
}

TEST(CanonicalIp, AnyWrittenFormReadsAsTheRenderedOne) {
  EXPECT_EQ(CanonicalIp("2001:DB8:0::1"), "2001:db8::1");
  EXPECT_EQ(CanonicalIp("[::1]"), "::1");
  EXPECT_EQ(CanonicalIp("::FFFF:10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalIp("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalIp("api.openai.com"), "");
  EXPECT_EQ(CanonicalIp("*.openai.azure.com"), "");
  EXPECT_EQ(CanonicalIp(""), "");
  EXPECT_EQ(CanonicalIp("[]"), "");
  EXPECT_EQ(CanonicalIp(std::string(100, ':')), "");
}

}  // namespace
}  // namespace credsentry::decode
