// A learned secret keeps what is known about it: the destinations of its format and of the
// credential file it came from, its format's own kind, and whether a file or an environment
// variable held it. Each case is the order of events the agent sees on a build runner.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "catalogue/validators.h"
#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline_fixture.h"

namespace credsentry::pipeline {
namespace {

using fixture::CaptureSink;
using fixture::Header;
using fixture::OpenAiKey;
using fixture::RandomToken;
using fixture::Record;

std::string NpmToken() {
  const std::string random = RandomToken(30);
  return "npm_" + random + catalogue::GithubChecksum(random);
}

class KnownOriginsTest : public fixture::FakeProcPipelineTest {
 protected:
  KnownOriginsTest() : FakeProcPipelineTest("runner") {}

  // `comm` (pid) starts with `environ` (NUL-separated) as its environment.
  void Start(uint32_t pid, const char* comm, const std::string& environ) {
    FakeProc(pid, 1, 0, comm, environ, "/ci/job");
    Exec(pid, 1, 0, comm);
  }

  // The open (with the file's cred_id, as the kernel gives it) and the read of a credential file.
  void Read(uint32_t pid, const char* comm, const std::string& file_id, const char* path,
            const std::string& content) {
    cs_cred_open_event o{};
    o.hdr = Header(CS_EV_CRED_OPEN, pid, 0, ++ts_, comm);
    o.fd = 4;
    for (size_t i = 0; i < db_->rules().files.size(); ++i) {
      if (db_->rules().files[i].id == file_id) o.cred_id = static_cast<uint32_t>(i + 1);
    }
    ASSERT_NE(o.cred_id, 0u) << file_id;
    std::strcpy(o.path, path);
    o.path_len = std::strlen(path);
    pipeline_->Handle(Record(o));
    Bytes(CS_EV_CRED_READ, pid, comm, 4, 0, CS_FD_CRED_FILE, content);
  }

  // `request` over TLS to `host` (SNI) on a fresh connection.
  void Send(uint32_t pid, const char* comm, const char* host, const std::string& request) {
    const int fd = next_fd_++;
    const uint64_t ssl = 0x1000 + fd;
    cs_connect_event c{};
    c.hdr = Header(CS_EV_CONNECT, pid, 0, ++ts_, comm);
    c.fd = fd;
    c.family = AF_INET;
    c.port = 443;
    c.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, "127.0.0.1", c.addr);
    pipeline_->Handle(Record(c));
    cs_tls_sni_event n{};
    n.hdr = Header(CS_EV_TLS_SNI, pid, 0, ++ts_, comm);
    n.ssl = ssl;
    std::strcpy(n.name, host);
    n.name_len = std::strlen(host);
    pipeline_->Handle(Record(n));
    Bytes(CS_EV_TLS_DATA, pid, comm, fd, ssl, CS_FD_SOCK_TCP, request);
  }

  void Bytes(uint16_t type, uint32_t pid, const char* comm, int fd, uint64_t ssl,
             uint8_t fd_kind, const std::string& bytes) {
    cs_data_event d{};
    d.hdr = Header(type, pid, 0, ++ts_, comm);
    d.fd = fd;
    d.ssl = ssl;
    d.fd_kind = fd_kind;
    d.len = bytes.size();
    d.total_len = bytes.size();
    d.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(d, bytes));
  }

  // Everything raised, pending tainted-egress alerts included.
  const std::vector<alert::Alert>& Alerts() {
    pipeline_->Drain();
    return sink_.alerts;
  }

  static std::string Put(const char* host, const std::string& auth) {
    return std::string("PUT /pkg HTTP/1.1\r\nHost: ") + host + "\r\nAuthorization: " + auth +
           "\r\nContent-Length: 2\r\n\r\n{}";
  }

  int next_fd_ = 7;
};

std::string Describe(const std::vector<alert::Alert>& alerts) {
  std::string out;
  for (const auto& a : alerts) out += a.kind + ": " + a.summary + "\n";
  return out;
}

TEST_F(KnownOriginsTest, NodeSendingTheNpmrcTokenToTheRegistryIsQuiet) {
  const std::string token = NpmToken();
  Read(800, "node", "npmrc", "/home/u/.npmrc", "//registry.npmjs.org/:_authToken=" + token + "\n");
  Send(800, "node", "registry.npmjs.org", Put("registry.npmjs.org", "Bearer " + token));
  EXPECT_TRUE(Alerts().empty()) << Describe(sink_.alerts);
}

TEST_F(KnownOriginsTest, NpmrcTokenOfNoKnownFormatGoesToTheRegistryOnlyQuietly) {
  const std::string token = RandomToken(40);
  Read(810, "node", "npmrc", "/home/u/.npmrc", "//registry.npmjs.org/:_authToken=" + token + "\n");
  Send(810, "node", "registry.npmjs.org", Put("registry.npmjs.org", "Bearer " + token));
  EXPECT_TRUE(Alerts().empty()) << Describe(sink_.alerts);

  Send(810, "node", "paste.example", Put("paste.example", "Bearer " + token));
  const auto& alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u) << Describe(alerts);
  EXPECT_EQ(alerts[0].kind, "credential-file-egress");
  EXPECT_EQ(alerts[0].destination.host, "paste.example");
  const auto& expected = alerts[0].destination.expected;
  EXPECT_NE(std::find(expected.begin(), expected.end(), "registry.npmjs.org"), expected.end());
}

TEST_F(KnownOriginsTest, AwsCliReadingItsCredentialsThenSigningCallsToAwsIsQuiet) {
  const std::string id = "AKIA" + RandomToken(16);
  std::string key_id;
  for (char c : id) key_id.push_back(std::isdigit(c) ? '7' : static_cast<char>(std::toupper(c)));
  const std::string secret = RandomToken(40);
  Read(820, "aws", "aws-credentials", "/home/u/.aws/credentials",
       "[default]\naws_access_key_id = " + key_id + "\naws_secret_access_key = " + secret +
           "\nregion = eu-west-1\n");
  const std::string sigv4 = "AWS4-HMAC-SHA256 Credential=" + key_id +
                            "/20261202/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date, "
                            "Signature=" + std::string(64, 'a');
  Send(820, "aws", "sts.eu-west-1.amazonaws.com", Put("sts.eu-west-1.amazonaws.com", sigv4));
  Send(820, "aws", "bedrock.eu-west-1.api.aws", Put("bedrock.eu-west-1.api.aws", sigv4));
  EXPECT_TRUE(Alerts().empty()) << Describe(sink_.alerts);
}

TEST_F(KnownOriginsTest, KeyFromTheEnvironmentIsReportedAsItsFormatAndItsVariable) {
  const std::string key = OpenAiKey();
  Start(830, "python3", "OPENAI_API_KEY=" + key + '\0' + "LANG=C" + '\0');
  Send(830, "python3", "paste.example", Put("paste.example", "Bearer " + key));
  const auto& alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u) << Describe(alerts);
  const alert::Alert& a = alerts[0];
  EXPECT_EQ(a.kind, "environment-secret-egress");
  EXPECT_EQ(a.secret.type, "openai-project-key");
  EXPECT_EQ(a.secret.redacted.rfind("sk-proj-", 0), 0u) << a.secret.redacted;
  EXPECT_NE(a.summary.find("learned from the environment variable OPENAI_API_KEY of python3"),
            std::string::npos)
      << a.summary;
}

TEST_F(KnownOriginsTest, DeployTokenOfNoFormatNamedBySecretNameIsCaught) {
  const std::string token = RandomToken(40);
  Start(840, "bash",
        "DEPLOY_TOKEN=" + token + '\0' + "SIGNING_KEY=/etc/keys/release-signing.pem" + '\0' +
            "BUILD_ID=1234567890123456789012" + '\0');
  Send(840, "bash", "paste.example", Put("paste.example", "Token " + token));
  const auto& alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u) << Describe(alerts);
  EXPECT_EQ(alerts[0].kind, "environment-secret-egress");
  EXPECT_EQ(alerts[0].secret.type, "known-value");
  EXPECT_NE(alerts[0].summary.find("environment variable DEPLOY_TOKEN of bash"), std::string::npos)
      << alerts[0].summary;
  EXPECT_EQ(sink_.lines[0].find(token), std::string::npos);
  auto counters = pipeline_->Counters();
  EXPECT_EQ(counters["environment_values_not_random"], 1u);  // SIGNING_KEY: a path
  EXPECT_EQ(counters["known_values"], 1u);                   // BUILD_ID: not named a secret
}

}  // namespace
}  // namespace credsentry::pipeline
