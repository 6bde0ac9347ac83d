// A key sent as DNS queries, from kernel records to the alert: UDP sendto() records to a
// resolver on port 53 carry the key hex- or base32-coded over several queries; the alert names
// the parent domain (name_source "dns-tunnel") with the resolver as the path, when the process
// exits or the tunnel goes idle, and a key sent under its own provider's domain stays quiet.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline_fixture.h"
#include "report/alert_names.h"
#include "stream/decoders/dns_tunnel.h"
#include "../stream/decoders/dns_message_builder.h"

namespace credsentry::pipeline {
namespace {

constexpr uint64_t kSecond = 1000000000ull;
constexpr const char* kResolver = "127.0.0.53";

using fixture::Header;
using fixture::OpenAiKey;
using fixture::Record;

class DnsTunnelAlertTest : public fixture::FakeProcPipelineTest {
 protected:
  DnsTunnelAlertTest() : FakeProcPipelineTest("test-host") {}

  // One query for `name`, as the kernel copies a sendto() to the resolver.
  void Query(uint32_t pid, const std::string& name) {
    const std::string packet = testing_dns::Query(name, ++id_);
    cs_data_event e{};
    e.hdr = Header(CS_EV_SOCK_DATA, pid, ts_ += kSecond / 10, "exfil.py");
    e.fd = 5;
    e.direction = CS_DIR_EGRESS;
    e.fd_kind = CS_FD_SOCK_UDP;
    e.sock_state = CS_SOCK_UNKNOWN;
    e.family = AF_INET;
    e.port = 53;
    inet_pton(AF_INET, kResolver, e.addr);
    e.len = packet.size();
    e.total_len = packet.size();
    e.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(e, packet));
  }

  // `encoded` in labels of `chunk` characters, one query each, under `parent`.
  void SendAsQueries(uint32_t pid, const std::string& encoded, size_t chunk,
                     const std::string& parent) {
    for (size_t at = 0; at < encoded.size(); at += chunk) {
      Query(pid, encoded.substr(at, chunk) + "." + parent);
    }
  }

  void Exit(uint32_t pid) {
    cs_exit_event x{};
    x.hdr = Header(CS_EV_EXIT, pid, ts_ += kSecond / 10, "exfil.py");
    pipeline_->Handle(Record(x));
  }

  uint16_t id_ = 0;
};

TEST_F(DnsTunnelAlertTest, HexKeyOverQueriesAlertsNamingTheParentDomainAtExit) {
  const std::string key = OpenAiKey();
  SendAsQueries(300, testing_dns::Hex(key), 60, "x1.exfil.example");
  EXPECT_TRUE(sink_.alerts.empty()) << "no single query holds the key";
  EXPECT_EQ(pipeline_->Counters()["dns_tunnels"], 1u);
  Exit(300);

  ASSERT_EQ(sink_.alerts.size(), 1u);
  const alert::Alert& a = sink_.alerts[0];
  EXPECT_EQ(a.secret.provider, "openai");
  EXPECT_EQ(a.process.pid, 300u);
  EXPECT_EQ(a.destination.host, "x1.exfil.example");
  EXPECT_EQ(report::NameSourceName(a.destination.name_source), "dns-tunnel");
  EXPECT_EQ(a.destination.port, 53);
  EXPECT_EQ(a.destination.transport, alert::Transport::kUdp);
  ASSERT_TRUE(a.destination.via.has_value());
  EXPECT_EQ(report::ProxyKindName(a.destination.via->kind), "dns-resolver");
  EXPECT_EQ(a.destination.via->ip, kResolver);
  EXPECT_EQ(a.destination.via->port, 53);
  EXPECT_EQ(a.evidence.decoding, (std::vector<std::string>{"dns", "dns-tunnel", "hex"}));
  EXPECT_EQ(a.secret.fingerprint, fp_.Of(key));
  EXPECT_EQ(sink_.lines[0].find(key), std::string::npos) << "raw key in alert JSON";
  EXPECT_NE(sink_.lines[0].find("\"name_source\":\"dns-tunnel\""), std::string::npos);

  const auto c = pipeline_->Counters();
  EXPECT_EQ(c.at("dns_tunnel_opened"), 1u);
  EXPECT_EQ(c.at("dns_tunnel_queries"), (key.size() * 2 + 59) / 60);
  EXPECT_EQ(c.at("dns_tunnel_flushes"), 1u);
  EXPECT_EQ(c.at("dns_tunnels"), 0u);
}

TEST_F(DnsTunnelAlertTest, Base32KeyIsFlushedWhenTheTunnelGoesIdle) {
  const std::string key = OpenAiKey();
  SendAsQueries(301, testing_dns::Base32(key), 52, "b32.exfil.example");
  pipeline_->Housekeeping(ts_ + kSecond);
  EXPECT_TRUE(sink_.alerts.empty()) << "idle for a second only";
  pipeline_->Housekeeping(ts_ + stream::decoders::DnsTunnelReassembler::kIdleNs + kSecond);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "b32.exfil.example");
  EXPECT_EQ(sink_.alerts[0].evidence.decoding.back(), "base32");
}

TEST_F(DnsTunnelAlertTest, AKeySentUnderItsProvidersOwnDomainIsQuiet) {
  SendAsQueries(302, testing_dns::Hex(OpenAiKey()), 60, "api.openai.com");
  Exit(302);
  EXPECT_TRUE(sink_.alerts.empty()) << sink_.lines[0];
  EXPECT_GE(pipeline_->Counters()["secrets_to_expected_destinations"], 1u);
}

TEST_F(DnsTunnelAlertTest, OrdinaryLookupsRaiseNothingAndKeepNoState) {
  for (const char* name : {"api.openai.com", "pypi.org", "files.pythonhosted.org"}) {
    Query(303, name);
    Query(303, name);
  }
  EXPECT_EQ(pipeline_->Counters()["dns_tunnels"], 0u);
  Exit(303);
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(pipeline_->Counters()["dns_tunnel_opened"], 0u);
}

}  // namespace
}  // namespace credsentry::pipeline
