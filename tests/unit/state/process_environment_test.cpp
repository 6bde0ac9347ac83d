// Environment inspection through the process table, over a fake /proc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "state/process_table.h"

namespace credsentry::state {
namespace {

// NUL-separated, as in /proc/<pid>/environ.
std::string Env(std::initializer_list<std::string> entries) {
  std::string out;
  for (const auto& e : entries) out += e + '\0';
  return out;
}

class ProcessEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("cs-penv-" + std::to_string(getpid()));
    std::filesystem::create_directories(root_);
    auto scope = Scope::Create({}, root_.string());
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<Scope>(*scope);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void FakeProc(uint32_t pid, uint32_t ppid, const std::string& comm, const std::string& environ,
                const std::string& cgroup = "/system.slice/runner.service") {
    auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "status") << "Name:\t" << comm << "\nPPid:\t" << ppid
                                  << "\nUid:\t1000\t1000\t1000\t1000\n";
    std::ofstream(dir / "environ", std::ios::binary) << environ;
    std::ofstream(dir / "cgroup") << "0::" << cgroup << "\n";
  }

  decode::EventHeader H(uint32_t pid, uint64_t ts, const std::string& comm) {
    decode::EventHeader h;
    h.pid = pid;
    h.tid = pid;
    h.ts_ns = ts;
    h.comm = comm;
    return h;
  }

  std::filesystem::path root_;
  std::unique_ptr<Scope> scope_;
};

TEST_F(ProcessEnvironmentTest, ExecLearnsCredentialVariablesAndCiJobReachesDescendants) {
  const std::string key = "sk-" + std::to_string(getpid()) + "-synthetic-value-0123456789";
  FakeProc(20, 1, "Runner.Worker",
           Env({"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/w", "GITHUB_RUN_ID=9",
                "GITHUB_JOB=build", "GITHUB_WORKFLOW=ci"}));
  FakeProc(21, 20, "python3", Env({"OPENAI_API_KEY=" + key, "PATH=/bin"}));
  ProcessTable t(*scope_);
  std::vector<std::pair<std::string, std::string>> learned;
  t.InspectEnvironments({"OPENAI_API_KEY"},
                        [&](const Process& p, const std::string& name, const std::string& value) {
                          EXPECT_EQ(p.pid, 21u);
                          learned.emplace_back(name, value);
                        });
  t.Ensure(H(20, 1, "Runner.Worker"));
  t.OnFork({H(20, 2, "Runner.Worker"), 21});
  t.OnExec({H(21, 3, "python3"), 20, "/usr/bin/python3", {"python3", "x.py"}});

  const Process* p = t.Find(21);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->credential_env, std::vector<std::string>{"OPENAI_API_KEY"});
  EXPECT_EQ(p->systemd_unit, "runner.service");
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].first, "OPENAI_API_KEY");
  EXPECT_EQ(learned[0].second, key);
  // The job is the runner's: python's own environment carries no GITHUB_* variables.
  CiJob job = t.CiJobOf(21);
  EXPECT_EQ(job.provider, "github-actions");
  EXPECT_EQ(job.repository, "acme/w");
  EXPECT_EQ(job.run_id, "9");
  EXPECT_EQ(job.job, "build");
  EXPECT_EQ(job.workflow, "ci");
  EXPECT_EQ(t.environ_reads(), 2u);
}

TEST_F(ProcessEnvironmentTest, GoneProcessIsCountedNotFatal) {
  ProcessTable t(*scope_);
  t.InspectEnvironments({"OPENAI_API_KEY"}, nullptr);
  t.OnExec({H(30, 1, "curl"), 1, "/usr/bin/curl", {"curl"}});
  ASSERT_NE(t.Find(30), nullptr);
  EXPECT_TRUE(t.Find(30)->credential_env.empty());
  EXPECT_EQ(t.environ_unreadable(), 1u);
}

TEST_F(ProcessEnvironmentTest, NothingIsReadUntilInspectionIsOn) {
  FakeProc(40, 1, "sh", Env({"OPENAI_API_KEY=sk-synthetic-0123456789"}));
  ProcessTable t(*scope_);
  t.OnExec({H(40, 1, "sh"), 1, "/bin/sh", {"sh"}});
  EXPECT_TRUE(t.Find(40)->credential_env.empty());
  EXPECT_EQ(t.environ_reads(), 0u);
}

TEST_F(ProcessEnvironmentTest, TargetOfAProcAccessIsLoadedWithItsEnvironment) {
  FakeProc(50, 1, "victim", Env({"HF_TOKEN=hf_syntheticsyntheticsynthetic"}));
  ProcessTable t(*scope_);
  t.InspectEnvironments({"HF_TOKEN"}, nullptr);
  const Process* target = t.FindOrLoadInScope(50);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->comm, "victim");
  EXPECT_EQ(target->credential_env, std::vector<std::string>{"HF_TOKEN"});
  EXPECT_EQ(t.FindOrLoadInScope(51), nullptr);  // no such process
}

TEST_F(ProcessEnvironmentTest, PodFromCgroupAndEnvironmentAndFromTheParentInTheSamePod) {
  const std::string pod_a =
      "/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/cri-containerd-" +
      std::string(64, 'a') + ".scope";
  const std::string pod_b =
      "/kubepods/besteffort/pod99999999-8888-7777-6666-555555555555/" + std::string(64, 'b');
  FakeProc(
      60, 1, "sh",
      Env({"POD_NAMESPACE=ci-jobs", "KUBERNETES_SERVICE_HOST=10.0.0.1", "HOSTNAME=exfil-7d9f"}),
      pod_a);
  FakeProc(61, 60, "curl", Env({"PATH=/bin"}), pod_a);  // exec'd with a scrubbed environment
  FakeProc(62, 60, "wget", Env({"PATH=/bin"}), pod_b);  // another pod: inherits nothing
  FakeProc(63, 1, "make", Env({"POD_NAME=not-really", "HOME=/root"}),
           "/system.slice/runner.service");
  ProcessTable t(*scope_);
  t.InspectEnvironments({"OPENAI_API_KEY"}, nullptr);
  t.Ensure(H(60, 1, "sh"));
  t.OnFork({H(60, 2, "sh"), 61});
  t.OnExec({H(61, 3, "curl"), 60, "/usr/bin/curl", {"curl"}});
  t.Ensure(H(62, 4, "wget"));
  t.Ensure(H(63, 5, "make"));

  const Process* sh = t.Find(60);
  ASSERT_NE(sh, nullptr);
  EXPECT_EQ(sh->pod.uid, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901");
  EXPECT_EQ(sh->pod.name, "exfil-7d9f");
  EXPECT_EQ(sh->pod.ns, "ci-jobs");
  const Process* curl = t.Find(61);
  ASSERT_NE(curl, nullptr);
  EXPECT_EQ(curl->pod.uid, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901");
  EXPECT_EQ(curl->pod.name, "exfil-7d9f");
  EXPECT_EQ(curl->pod.ns, "ci-jobs");
  const Process* wget = t.Find(62);
  ASSERT_NE(wget, nullptr);
  EXPECT_EQ(wget->pod.uid, "99999999-8888-7777-6666-555555555555");
  EXPECT_TRUE(wget->pod.name.empty());
  EXPECT_TRUE(wget->pod.ns.empty());
  const Process* make = t.Find(63);
  ASSERT_NE(make, nullptr);
  EXPECT_TRUE(make->pod.uid.empty());
  EXPECT_EQ(make->pod.name, "not-really");  // what its environment says, no more
}

}  // namespace
}  // namespace credsentry::state
