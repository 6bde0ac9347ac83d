// DNS tunnel reassembly without a matcher: which queries open or join a tunnel, the parent
// domain they are under, the payload joined and decoded at flush, and every bound counted.
#include "stream/decoders/dns_tunnel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../../match/synthetic_keys.h"
#include "dns_message_builder.h"

namespace credsentry::stream::decoders {
namespace {

using testing_dns::Base32;
using testing_dns::Hex;

constexpr uint64_t kSecond = 1000000000ull;
const std::string kPayload = "exfiltrated: the contents of ~/.aws/credentials, line by line";

class DnsTunnelTest : public ::testing::Test {
 protected:
  DnsTunnelTest() : tunnels_([this](const DnsTunnelPayload& p) { flushed_.push_back(p); }) {}

  // Sends `encoded` in queries of `chunk` characters, one label each, under `parent`.
  void SendChunks(uint32_t pid, const std::string& encoded, size_t chunk,
                  const std::string& parent) {
    for (size_t at = 0; at < encoded.size(); at += chunk) {
      EXPECT_EQ(tunnels_.OnQuery(pid, encoded.substr(at, chunk) + "." + parent, t_ += kSecond),
                parent);
    }
  }

  // The flushed tunnel's bytes as `codec` decoded them ("" when that codec did not apply).
  static std::string Candidate(const DnsTunnelPayload& p, std::string_view codec) {
    for (const auto& c : p.candidates) {
      if (c.codec == codec) return c.bytes;
    }
    return "";
  }

  uint64_t t_ = 1000 * kSecond;
  std::vector<DnsTunnelPayload> flushed_;
  DnsTunnelReassembler tunnels_;
};

TEST_F(DnsTunnelTest, HexOverSeveralQueriesIsJoinedInTheOrderSent) {
  SendChunks(100, Hex(kPayload), 30, "x1.exfil.example");
  EXPECT_EQ(tunnels_.size(), 1u);
  EXPECT_TRUE(flushed_.empty()) << "nothing is matched before the tunnel ends";
  tunnels_.FlushProcess(100);
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(flushed_[0].pid, 100u);
  EXPECT_EQ(flushed_[0].parent, "x1.exfil.example");
  EXPECT_EQ(flushed_[0].queries, (Hex(kPayload).size() + 29) / 30);
  EXPECT_EQ(Candidate(flushed_[0], "labels"), Hex(kPayload));
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
  EXPECT_EQ(tunnels_.size(), 0u);
  EXPECT_EQ(tunnels_.counters().tunnel_flushes, 1u);
}

TEST_F(DnsTunnelTest, Base32OfAnyCaseWithoutPaddingIsDecoded) {
  std::string upper = Base32(kPayload);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  SendChunks(101, upper, 40, "t.exfil.example");
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "base32"), kPayload);
}

TEST_F(DnsTunnelTest, Base64UrlKeepsItsCaseAsTheProcessWroteIt) {
  const std::string encoded = testing::KeyGenerator::Base64UrlOf(kPayload);
  SendChunks(102, encoded, 20, "b64.exfil.example");
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "base64url"), kPayload);
}

TEST_F(DnsTunnelTest, ABase64PayloadLowerCasedBySenderIsCountedAsCaseLost) {
  std::string lowered = testing::KeyGenerator::Base64UrlOf(kPayload + "!");
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ASSERT_NE(lowered.find_first_of("0189-_"), std::string::npos) << "must not read as base32";
  SendChunks(103, lowered, 20, "lc.exfil.example");
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(tunnels_.counters().tunnel_case_lost, 1u);
  EXPECT_NE(Candidate(flushed_[0], "base64url"), kPayload + "!");
}

TEST_F(DnsTunnelTest, SequenceLabelsAreStrippedAndOrderThePieces) {
  const std::string hex = Hex(kPayload);
  const std::vector<std::string> chunks = {hex.substr(0, 40), hex.substr(40, 40), hex.substr(80)};
  // Sent 2, 0, 1: a resolver's retries reorder them; the numbers put them back.
  for (int i : {2, 0, 1}) {
    EXPECT_EQ(tunnels_.OnQuery(104, "000" + std::to_string(i) + "." + chunks[i] +
                                        ".s.exfil.example",
                               t_ += kSecond),
              "s.exfil.example");
  }
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
  EXPECT_EQ(tunnels_.counters().tunnel_out_of_order, 2u);
}

TEST_F(DnsTunnelTest, ASequenceLabelAfterTheDataIsNotPartOfTheParent) {
  const std::string hex = Hex(kPayload);
  EXPECT_EQ(tunnels_.OnQuery(105, hex.substr(0, 60) + ".1.exfil.example", t_ += kSecond),
            "exfil.example");
  EXPECT_EQ(tunnels_.OnQuery(105, hex.substr(60) + ".2.exfil.example", t_ += kSecond),
            "exfil.example");
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
}

TEST_F(DnsTunnelTest, DataSplitOverLabelsOfOneQueryIsConcatenated) {
  const std::string hex = Hex(kPayload);
  tunnels_.OnQuery(106, hex.substr(0, 56) + "." + hex.substr(56, 56) + ".x1.exfil.example",
                   t_ += kSecond);
  // The last piece is too short to open a tunnel: it joins because the tunnel is known.
  ASSERT_LT(hex.substr(112).size(), DnsTunnelReassembler::kMinDataLabel);
  EXPECT_EQ(tunnels_.OnQuery(106, hex.substr(112) + ".X1.Exfil.Example", t_ += kSecond),
            "x1.exfil.example");
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(flushed_[0].queries, 2u);
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
}

TEST_F(DnsTunnelTest, OrdinaryLookupsCreateNoState) {
  for (const char* name : {"api.openai.com", "www.google.com", "registry.npmjs.org",
                           "r3---sn-4g5e6nsz.googlevideo.com", "xn--bcher-kva1234567.example",
                           "verylongsubdomainwithoutdigits.example.com", "localhost",
                           "1.0.0.127.in-addr.arpa", "0123456789abcdef0123.com", ""}) {
    EXPECT_EQ(tunnels_.OnQuery(107, name, t_ += kSecond), "") << name;
  }
  EXPECT_EQ(tunnels_.size(), 0u);
  EXPECT_EQ(tunnels_.counters().tunnel_opened, 0u);
}

TEST_F(DnsTunnelTest, TheSameQueryTwiceJoinsOnce) {
  const std::string hex = Hex(kPayload);
  for (const auto& piece : {hex.substr(0, 60), hex.substr(0, 60), hex.substr(60)}) {
    tunnels_.OnQuery(108, piece + ".d.exfil.example", t_ += kSecond);  // A, then AAAA
  }
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
  EXPECT_EQ(tunnels_.counters().tunnel_duplicates, 1u);
}

TEST_F(DnsTunnelTest, ProcessesAndParentsHaveTunnelsOfTheirOwn) {
  const std::string hex = Hex(kPayload);
  tunnels_.OnQuery(109, hex.substr(0, 40) + ".a.exfil.example", t_ += kSecond);
  tunnels_.OnQuery(110, hex.substr(0, 40) + ".a.exfil.example", t_ += kSecond);
  tunnels_.OnQuery(109, hex.substr(0, 40) + ".b.exfil.example", t_ += kSecond);
  EXPECT_EQ(tunnels_.size(), 3u);
  tunnels_.FlushProcess(109);
  EXPECT_EQ(flushed_.size(), 2u);
  EXPECT_EQ(tunnels_.size(), 1u);
}

TEST_F(DnsTunnelTest, OneQueryIsLeftToItsOwnLabelDecoding) {
  tunnels_.OnQuery(111, Hex(kPayload).substr(0, 60) + ".x1.exfil.example", t_ += kSecond);
  tunnels_.FlushAll();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_TRUE(flushed_[0].candidates.empty());
  EXPECT_EQ(tunnels_.counters().tunnel_single_query, 1u);
}

TEST_F(DnsTunnelTest, IdleTunnelsAreFlushedAfterTheTimeout) {
  const std::string hex = Hex(kPayload);
  tunnels_.OnQuery(112, hex.substr(0, 60) + ".x1.exfil.example", t_);
  tunnels_.OnQuery(112, hex.substr(60) + ".x1.exfil.example", t_ + kSecond);
  tunnels_.Expire(t_ + DnsTunnelReassembler::kIdleNs);
  EXPECT_TRUE(flushed_.empty()) << "last query only 9 s ago";
  tunnels_.Expire(t_ + kSecond + DnsTunnelReassembler::kIdleNs + 1);
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Candidate(flushed_[0], "hex"), kPayload);
}

TEST_F(DnsTunnelTest, ATunnelAtItsByteBoundIsFlushedAndStartsAgain) {
  const std::string label = Hex(std::string(30, 'k'));  // 60 characters
  const size_t fits = DnsTunnelReassembler::kMaxTunnelBytes / (2 * label.size());
  for (size_t i = 0; i <= fits; ++i) {
    // Two labels a query, each query different: a sequence number in the first.
    std::string name = std::to_string(i) + "." + label + "." + label + ".big.exfil.example";
    tunnels_.OnQuery(113, name, t_ += kSecond);
  }
  EXPECT_EQ(tunnels_.counters().tunnel_truncated, 1u);
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_LE(Candidate(flushed_[0], "labels").size(), DnsTunnelReassembler::kMaxTunnelBytes);
  EXPECT_EQ(tunnels_.size(), 1u) << "the query past the bound starts the next tunnel";
}

TEST_F(DnsTunnelTest, TheLeastRecentlyUsedTunnelIsEvictedWhenTheTableIsFull) {
  const std::string hex = Hex(kPayload);
  for (uint32_t pid = 1; pid <= DnsTunnelReassembler::kMaxTunnels + 1; ++pid) {
    tunnels_.OnQuery(pid, hex.substr(0, 40) + ".x1.exfil.example", t_ += kSecond);
  }
  EXPECT_EQ(tunnels_.size(), DnsTunnelReassembler::kMaxTunnels);
  EXPECT_EQ(tunnels_.counters().tunnel_evictions, 1u);
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(flushed_[0].pid, 1u);
}

TEST_F(DnsTunnelTest, PayloadsNoCodecReadsAreCountedAndKeptAsSent) {
  DnsTunnelCounters counters;
  auto candidates = DnsTunnelCandidates("abc-d", counters);  // odd, '-', 4n+1 characters
  EXPECT_EQ(counters.tunnel_undecodable, 1u);
  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0].codec, "labels");
}

}  // namespace
}  // namespace credsentry::stream::decoders
