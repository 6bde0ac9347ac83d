// Destination identity from DNS answers: records laid out as the kernel writes them (an ingress
// socket-data record for the answer, a connect, a plain socket write), no kernel needed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline_fixture.h"
#include "report/alert_json.h"
#include "report/alert_names.h"
#include "../stream/decoders/dns_message_builder.h"

namespace credsentry::pipeline {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

using fixture::CaptureSink;
using fixture::Header;
using fixture::OpenAiKey;
using fixture::RandomToken;
using fixture::Record;

using testing_dns::Answer;
using testing_dns::FamilyOf;

class DnsDestinationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
    ASSERT_TRUE(rules.ok()) << rules.message();
    auto db = match::MatcherDatabase::Compile(std::move(*rules));
    ASSERT_TRUE(db.ok()) << db.message();
    auto scope = state::Scope::Create({}, "/nonexistent-proc");
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<state::Scope>(*scope);
    PipelineOptions o;
    o.hostname = "test-host";
    pipeline_ = std::make_unique<Pipeline>(o, *scope_, *db, fp_,
                                           std::vector<report::AlertSink*>{&sink_}, nullptr);
  }

  // What the kernel copies from a recvfrom on a port-53 socket.
  void Received(uint32_t pid, int fd, std::string_view bytes, uint64_t total = 0,
                uint8_t fd_kind = CS_FD_SOCK_UDP) {
    cs_data_event e{};
    e.hdr = Header(CS_EV_SOCK_DATA, pid, ts_ += kSecond, "curl");
    e.fd = fd;
    e.direction = CS_DIR_INGRESS;
    e.fd_kind = fd_kind;
    e.sock_state = CS_SOCK_UNKNOWN;
    e.len = bytes.size();
    e.total_len = total ? total : bytes.size();
    e.chunk_flags = CS_CHUNK_LAST | (total > bytes.size() ? CS_CHUNK_TRUNCATED : 0);
    pipeline_->Handle(Record(e, bytes));
  }

  void Connect(uint32_t pid, int fd, const char* ip, uint16_t port) {
    cs_connect_event e{};
    e.hdr = Header(CS_EV_CONNECT, pid, ts_ += kSecond, "curl");
    e.fd = fd;
    e.family = FamilyOf(ip);
    e.port = port;
    e.sock_type = SOCK_STREAM;
    inet_pton(e.family, ip, e.addr);
    pipeline_->Handle(Record(e));
  }

  // `peer`: the socket's peer as the kernel puts it in every plain write's record.
  void Sent(uint32_t pid, int fd, std::string_view bytes, const char* peer = nullptr,
            uint16_t port = 0) {
    cs_data_event e{};
    if (peer) {
      e.family = FamilyOf(peer);
      e.port = port;
      inet_pton(e.family, peer, e.addr);
    }
    e.hdr = Header(CS_EV_SOCK_DATA, pid, ts_ += kSecond, "curl");
    e.fd = fd;
    e.fd_kind = CS_FD_SOCK_TCP;
    e.sock_state = CS_SOCK_PLAIN;
    e.len = bytes.size();
    e.total_len = bytes.size();
    e.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(e, bytes));
  }

  // Exactly one alert, whose destination reads (host, name_source, ip, port).
  void ExpectOneAlertTo(const std::string& host, const std::string& source, const std::string& ip,
                        uint16_t port) {
    ASSERT_EQ(sink_.alerts.size(), 1u);
    const auto& d = sink_.alerts[0].destination;
    EXPECT_EQ(d.host, host);
    EXPECT_EQ(report::NameSourceName(d.name_source), source);
    EXPECT_EQ(d.ip, ip);
    EXPECT_EQ(d.port, port);
  }

  static std::string Post(const std::string& host, const std::string& key) {
    return "POST /v1/x HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Length: " + std::to_string(key.size() + 4) + "\r\n\r\nkey=" + key;
  }

  uint64_t ts_ = 1000 * kSecond;
  report::Fingerprinter fp_{"unit-test-key"};
  std::unique_ptr<state::Scope> scope_;
  CaptureSink sink_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(DnsDestinationTest, PlainHttpToAResolvedNameIsNamedByDns) {
  const std::string key = OpenAiKey();
  Received(200, 3, Answer("exfil-dns.test", "127.0.0.7", 30));
  Connect(200, 4, "127.0.0.7", 8080);
  Sent(200, 4, Post("exfil-dns.test:8080", key));
  ExpectOneAlertTo("exfil-dns.test", "dns", "127.0.0.7", 8080);
  EXPECT_NE(sink_.lines[0].find("\"name_source\":\"dns\""), std::string::npos);
  EXPECT_EQ(sink_.lines[0].find(key), std::string::npos) << "raw key in alert JSON";
  EXPECT_EQ(pipeline_->Counters()["dns_addresses_learned"], 1u);
}

TEST_F(DnsDestinationTest, AaaaAnswerNamesAnIpv6Peer) {
  Received(210, 3, Answer("exfil-v6.test", "fd00:c5::7", 30));
  EXPECT_EQ(pipeline_->Counters()["dns_addresses_learned"], 1u);
  Connect(210, 4, "fd00:c5::7", 8080);
  Sent(210, 4, Post("exfil-v6.test:8080", OpenAiKey()), "fd00:c5::7", 8080);
  ExpectOneAlertTo("exfil-v6.test", "dns", "fd00:c5::7", 8080);
  EXPECT_NE(sink_.lines[0].find("\"ip\":\"fd00:c5::7\""), std::string::npos);
}

TEST_F(DnsDestinationTest, PlainHttpToLoopbackV6NamesTheAddress) {
  Connect(211, 4, "::1", 80);
  Sent(211, 4, Post("[::1]", OpenAiKey()), "::1", 80);
  ExpectOneAlertTo("", "ip", "::1", 80);
  EXPECT_NE(sink_.alerts[0].summary.find("::1"), std::string::npos) << sink_.alerts[0].summary;
}

// A dual-stack socket (AF_INET6 to ::ffff:127.0.0.x) reaches an IPv4 host: it reads as the
// dotted quad, so the A answer it was resolved from still names it.
TEST_F(DnsDestinationTest, DualStackSocketIsNamedByTheARecord) {
  Received(212, 3, Answer("exfil-mapped.test", "127.0.0.15", 30));
  Connect(212, 4, "::ffff:127.0.0.15", 8080);
  Sent(212, 4, Post("x", OpenAiKey()), "::ffff:127.0.0.15", 8080);
  ExpectOneAlertTo("exfil-mapped.test", "dns", "127.0.0.15", 8080);
}

TEST_F(DnsDestinationTest, ExpectedNameFromDnsIsQuietButAHostHeaderNeverIs) {
  Received(201, 3, Answer("api.openai.com", "127.0.0.8", 30));
  Connect(201, 4, "127.0.0.8", 80);
  Sent(201, 4, Post("api.openai.com", OpenAiKey()));
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(pipeline_->Counters()["secrets_to_expected_destinations"], 1u);

  // The Host header claims the provider, DNS says the address is the attacker's.
  Received(201, 5, Answer("exfil-dns.test", "127.0.0.9", 30));
  Connect(201, 6, "127.0.0.9", 80);
  Sent(201, 6, Post("api.openai.com", OpenAiKey()));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil-dns.test");
  bool noted = false;
  for (const auto& n : sink_.alerts[0].evidence.notes) {
    noted |= n.find("claims host api.openai.com") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST_F(DnsDestinationTest, ExpiredAnswerLeavesTheBareAddress) {
  Received(202, 3, Answer("exfil-dns.test", "127.0.0.10", 30));
  ts_ += 2 * 3600 * kSecond;  // past any clamped TTL
  Connect(202, 4, "127.0.0.10", 8080);
  Sent(202, 4, Post("exfil-dns.test", OpenAiKey()));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "");
  EXPECT_EQ(report::NameSourceName(sink_.alerts[0].destination.name_source), "ip");
  EXPECT_EQ(pipeline_->Counters()["dns_cache_expired"], 1u);
}

TEST_F(DnsDestinationTest, SniStillComesFirst) {
  Received(203, 3, Answer("api.openai.com", "127.0.0.11", 30));
  Connect(203, 4, "127.0.0.11", 443);
  cs_tls_sni_event sni{};
  sni.hdr = Header(CS_EV_TLS_SNI, 203, ts_ += kSecond, "curl");
  sni.ssl = 0x55;
  std::strcpy(sni.name, "exfil.test");
  sni.name_len = std::strlen(sni.name);
  pipeline_->Handle(Record(sni));
  cs_data_event e{};
  e.hdr = Header(CS_EV_TLS_DATA, 203, ts_ += kSecond, "curl");
  e.fd = 4;
  e.ssl = 0x55;
  const std::string req = Post("api.openai.com", OpenAiKey());
  e.len = req.size();
  e.total_len = req.size();
  e.chunk_flags = CS_CHUNK_LAST;
  pipeline_->Handle(Record(e, req));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil.test");
  EXPECT_EQ(report::NameSourceName(sink_.alerts[0].destination.name_source), "sni");
}

TEST_F(DnsDestinationTest, BrokenAnswersAreCountedAndTeachNothing) {
  std::string good = Answer("exfil-dns.test", "127.0.0.12", 30);
  Received(204, 3, good.substr(0, good.size() - 3), good.size());  // truncated capture
  Received(204, 3, std::string(40, '\xc0'));                       // pointer soup
  Received(204, 3, "");
  auto c = pipeline_->Counters();
  EXPECT_EQ(c["dns_answers"], 3u);
  EXPECT_EQ(c["dns_answers_unparsed"], 3u);
  EXPECT_EQ(c["dns_answers_truncated"], 1u);
  EXPECT_EQ(c["dns_cache_entries"], 0u);
  Connect(204, 4, "127.0.0.12", 8080);
  Sent(204, 4, Post("x", OpenAiKey()));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(report::NameSourceName(sink_.alerts[0].destination.name_source), "ip");
}

TEST_F(DnsDestinationTest, TcpAnswerReadInPiecesIsReassembled) {
  // glibc over TCP (options use-vc) reads the 2-byte length, then the message.
  const std::string answer = Answer("exfil-tcp.test", "127.0.0.13", 30);
  const std::string framed = std::string{static_cast<char>(answer.size() >> 8),
                                         static_cast<char>(answer.size() & 0xff)} + answer;
  Received(205, 3, framed.substr(0, 2), 0, CS_FD_SOCK_TCP);
  EXPECT_EQ(pipeline_->Counters()["dns_addresses_learned"], 0u);
  Received(205, 3, framed.substr(2, 10), 0, CS_FD_SOCK_TCP);
  Received(205, 3, framed.substr(12), 0, CS_FD_SOCK_TCP);
  EXPECT_EQ(pipeline_->Counters()["dns_addresses_learned"], 1u);
  Connect(205, 4, "127.0.0.13", 8080);
  Sent(205, 4, Post("x", OpenAiKey()));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil-tcp.test");
  EXPECT_EQ(report::NameSourceName(sink_.alerts[0].destination.name_source), "dns");
}

TEST_F(DnsDestinationTest, TcpAnswerWithAGapIsDroppedAndCounted) {
  const std::string answer = Answer("exfil-tcp.test", "127.0.0.14", 30);
  const std::string framed = std::string{static_cast<char>(answer.size() >> 8),
                                         static_cast<char>(answer.size() & 0xff)} + answer;
  Received(206, 3, framed.substr(0, 5), framed.size(), CS_FD_SOCK_TCP);  // capture cut short
  Received(206, 3, framed.substr(5), 0, CS_FD_SOCK_TCP);
  auto c = pipeline_->Counters();
  EXPECT_EQ(c["dns_tcp_streams_dropped"], 1u);
  EXPECT_EQ(c["dns_addresses_learned"], 0u);
}

}  // namespace
}  // namespace credsentry::pipeline
