#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "state/process_table.h"

namespace credsentry::state {
namespace {

TEST(ContainerId, FromCommonRuntimes) {
  const std::string id(64, 'a');
  EXPECT_EQ(ContainerIdFromCgroup("/system.slice/docker-" + id + ".scope"), id);
  EXPECT_EQ(ContainerIdFromCgroup("/docker/" + id), id);
  EXPECT_EQ(ContainerIdFromCgroup("/kubepods/burstable/pod1234/" + id), id);
  EXPECT_EQ(ContainerIdFromCgroup("/system.slice/cri-containerd-" + id + ".scope"), id);
  EXPECT_EQ(ContainerIdFromCgroup("/user.slice/user-1000.slice/session-2.scope"), "");
  EXPECT_EQ(ContainerIdFromCgroup("/x/" + std::string(63, 'a')), "");
}

class ProcessTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("cs-proc-" + std::to_string(getpid()));
    std::filesystem::create_directories(root_);
    auto scope = Scope::Create({}, root_.string());
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<Scope>(*scope);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  decode::EventHeader H(uint32_t pid, uint64_t ts, const std::string& comm = "sh") {
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

TEST_F(ProcessTableTest, ForkExecBuildsAncestry) {
  ProcessTable t(*scope_);
  t.Ensure(H(10, 1, "bash"));
  t.OnFork({H(10, 2, "bash"), 11});
  decode::ProcessExec exec{H(11, 3, "curl"), 10, "/usr/bin/curl", {"curl", "-T", "x"}};
  t.OnExec(exec);
  const Process* p = t.Find(11);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->exe, "/usr/bin/curl");
  EXPECT_EQ(p->ppid, 10u);
  auto anc = t.Ancestors(11);
  ASSERT_EQ(anc.size(), 1u);
  EXPECT_EQ(anc[0]->comm, "bash");
}

TEST_F(ProcessTableTest, CredentialReadsFollowLineageAndAreBounded) {
  ProcessTable t(*scope_);
  t.Ensure(H(10, 1, "bash"));
  t.OnFork({H(10, 2, "bash"), 11});
  t.RecordCredentialRead(10, {"/home/u/.aws/credentials", 1, 10, "bash", 5, 10});
  for (int i = 0; i < 40; ++i) {
    t.RecordCredentialRead(11, {"/f" + std::to_string(i), 1, 11, "x", 6, 1});
  }
  auto reads = t.CredentialReadsInLineage(11, 0);
  EXPECT_EQ(reads.size(), ProcessTable::kMaxCredentialReadsPerProcess + 1);
  EXPECT_EQ(reads.back().path, "/home/u/.aws/credentials");
  EXPECT_TRUE(t.CredentialReadsInLineage(11, 7).empty());
}

TEST_F(ProcessTableTest, ExitedProcessesExpireAfterGrace) {
  ProcessTable t(*scope_);
  t.Ensure(H(10, 1));
  t.OnExit({H(10, 100), 0});
  EXPECT_TRUE(t.Expire(100 + ProcessTable::kExitedGraceNs / 2).empty());
  EXPECT_EQ(t.Expire(101 + ProcessTable::kExitedGraceNs), std::vector<uint32_t>{10});
  EXPECT_EQ(t.Find(10), nullptr);
}

TEST_F(ProcessTableTest, BoundedByEvictingExitedFirst) {
  ProcessTable t(*scope_, 3);
  t.Ensure(H(1, 1));
  t.Ensure(H(2, 2));
  t.Ensure(H(3, 3));
  t.OnExit({H(2, 4), 0});
  t.Ensure(H(4, 5));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Find(2), nullptr);
  EXPECT_NE(t.Find(1), nullptr);
  EXPECT_EQ(t.evicted(), 1u);
}

TEST_F(ProcessTableTest, LoadsFromProcOnlyInScope) {
  for (int pid : {100, 200}) {
    auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "status") << "Name:\tworker\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n";
    std::ofstream(dir / "cgroup") << "0::/" << (pid == 100 ? "ci/job" : "other") << "\n";
    std::ofstream(dir / "cmdline") << std::string("worker\0--x", 10);
  }
  ProcessTable all(*scope_);
  EXPECT_EQ(all.LoadFromProc(), 2u);
  const Process* p = all.Find(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "worker");
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->argv, (std::vector<std::string>{"worker", "--x"}));
  EXPECT_EQ(p->cgroup, "/ci/job");
}

TEST(Scope, ContainsSubtreesOnly) {
  auto whole = Scope::Create({});
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->whole_host());
  EXPECT_TRUE(whole->Contains("/anything"));
  auto bad = Scope::Create({"/nonexistent/cgroup"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("/nonexistent/cgroup"), std::string::npos);
}

}  // namespace
}  // namespace credsentry::state
