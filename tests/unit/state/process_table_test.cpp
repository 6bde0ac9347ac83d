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

// `sh -c "cat creds | tr ... | curl --data-binary @-"`: the shell forks three children whose
// exec records carry their stdin/stdout pipes. cat's read reaches curl through tr.
class PipeTaintTest : public ProcessTableTest {
 protected:
  void Spawn(ProcessTable& t, uint32_t pid, const std::string& comm, uint64_t in, uint64_t out,
             uint64_t ts) {
    t.OnFork({H(10, ts, "sh"), pid});
    t.OnExec({H(pid, ts + 1, comm), 10, "/usr/bin/" + comm, {comm}, in, out});
  }
  static bool HasPipedReadBy(const std::vector<CredentialRead>& reads, uint32_t pid) {
    for (const auto& r : reads) {
      if (r.pid == pid && r.via_pipe) return true;
    }
    return false;
  }
  CredentialRead CatRead(uint64_t ts) { return {"/home/u/.aws/credentials", 1, 11, "cat", ts, 90}; }
};

TEST_F(PipeTaintTest, ReadReachesTheEndOfThePipelineWhicheverStartsFirst) {
  for (bool filter_first : {true, false}) {
    SCOPED_TRACE(filter_first ? "filter exec'd before the read" : "filter exec'd after it");
    ProcessTable t(*scope_);
    t.Ensure(H(10, 1, "sh"));
    Spawn(t, 11, "cat", 0, 501, 2);
    Spawn(t, 13, "curl", 502, 0, 4);
    if (filter_first) Spawn(t, 12, "tr", 501, 502, 6);
    t.RecordCredentialRead(11, CatRead(10));
    if (!filter_first) Spawn(t, 12, "tr", 501, 502, 12);

    auto curl = t.CredentialReadsInLineage(13, 0);
    ASSERT_TRUE(HasPipedReadBy(curl, 11)) << "curl not tainted through cat | tr | curl";
    EXPECT_EQ(curl.front().path, "/home/u/.aws/credentials");
    EXPECT_EQ(curl.front().comm, "cat");
    EXPECT_TRUE(HasPipedReadBy(t.CredentialReadsInLineage(12, 0), 11));
    // The shell that made the pipes, and a sibling on another pipe, stay clean.
    EXPECT_TRUE(t.CredentialReadsInLineage(10, 0).empty());
    Spawn(t, 14, "curl", 777, 0, 20);
    EXPECT_TRUE(t.CredentialReadsInLineage(14, 0).empty());
    // Outside the taint window the pipe no longer counts.
    EXPECT_TRUE(t.CredentialReadsInLineage(13, 11).empty());
  }
}

TEST_F(PipeTaintTest, TaintOutlivesTheWriterAndForkedChildrenInheritTheirPipes) {
  ProcessTable t(*scope_);
  t.Ensure(H(10, 1, "sh"));
  Spawn(t, 11, "cat", 0, 501, 2);
  Spawn(t, 13, "sh", 501, 0, 4);
  t.RecordCredentialRead(11, CatRead(10));
  t.OnExit({H(11, 11), 0});
  t.Expire(12 + ProcessTable::kExitedGraceNs);
  ASSERT_EQ(t.Find(11), nullptr);
  t.OnFork({H(13, 20, "sh"), 15});  // `... | sh -c 'curl ... @-'`: curl forked by the reader
  EXPECT_TRUE(HasPipedReadBy(t.CredentialReadsInLineage(15, 0), 11));
}

TEST_F(PipeTaintTest, HopsAndTaintedPipesAreBounded) {
  ProcessTable t(*scope_);
  t.Ensure(H(10, 1, "sh"));
  // cat -> p1 -> f -> p2 -> f -> p3 ... : taint stops after kMaxPipeHops pipes.
  Spawn(t, 11, "cat", 0, 1, 2);
  for (uint32_t i = 1; i <= 8; ++i) Spawn(t, 100 + i, "f", i, i + 1, 2 + i);
  t.RecordCredentialRead(11, CatRead(30));
  const uint32_t last_tainted = 100 + ProcessTable::kMaxPipeHops;  // reads pipe kMaxPipeHops
  EXPECT_TRUE(HasPipedReadBy(t.CredentialReadsInLineage(last_tainted, 0), 11));
  EXPECT_FALSE(HasPipedReadBy(t.CredentialReadsInLineage(last_tainted + 1, 0), 11));

  // One reader re-exec'd onto ever new stdout pipes: the table keeps kMaxTaintedPipes.
  ProcessTable many(*scope_);
  many.Ensure(H(10, 1, "sh"));
  for (uint64_t i = 0; i < ProcessTable::kMaxTaintedPipes + 3; ++i) {
    many.OnExec({H(20, 10 + i, "cat"), 10, "/usr/bin/cat", {"cat"}, 0, 1000 + i});
    many.RecordCredentialRead(20, CatRead(10 + i));
  }
  EXPECT_EQ(many.tainted_pipes(), ProcessTable::kMaxTaintedPipes);
  EXPECT_EQ(many.tainted_pipes_evicted(), 3u);
}

TEST_F(ProcessTableTest, PipesOfProcessesFoundAtStartAreReadFromTheirFds) {
  auto dir = root_ / "300";
  std::filesystem::create_directories(dir / "fd");
  std::ofstream(dir / "status") << "Name:\tcurl\nPPid:\t1\nUid:\t0\t0\t0\t0\n";
  std::ofstream(dir / "cgroup") << "0::/ci/job\n";
  std::filesystem::create_symlink("pipe:[4242]", dir / "fd" / "0");
  std::filesystem::create_symlink("/dev/pts/3", dir / "fd" / "1");
  ProcessTable t(*scope_);
  ASSERT_EQ(t.LoadFromProc(), 1u);
  const Process* p = t.Find(300);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->stdin_pipe, 4242u);
  EXPECT_EQ(p->stdout_pipe, 0u);
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
