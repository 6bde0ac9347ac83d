// Group commit on a real SQLite file: many batches share one transaction, nothing is acked
// before its commit, a failed commit fails every batch in it, and the queue is bounded.
#include "ingest/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>

#include "ingest/collector_service.h"
#include "test_support.h"

namespace credsentry::collector {
namespace {

using testing::MakeAlert;
using testing::TempDir;

v1::AlertBatch Batch(const std::string& prefix, int n) {
  v1::AlertBatch b;
  b.set_agent_host("runner-1");
  for (int i = 0; i < n; ++i) *b.add_alerts() = MakeAlert(prefix + std::to_string(i), "runner-1");
  return b;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AlertStore::Open(dir_ / "collector.db");
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = std::move(*s);
  }

  // Holds the database (an open transaction on another thread) until Release(): the writer
  // blocks on its commit meanwhile, so what is submitted queues up.
  void HoldDatabase() {
    holder_ = std::thread([this] {
      (void)store_->db().Transaction([this]() -> Status {
        held_.count_down();
        release_.wait();
        return Status::Ok();
      });
    });
    held_.wait();
  }
  void Release() {
    release_.count_down();
    holder_.join();
  }

  int64_t StoredCount() {
    auto rows = store_->db().Query("SELECT COUNT(*) FROM alerts");
    return rows.ok() ? AsInt((*rows)[0][0]) : -1;
  }

  TempDir dir_;
  std::unique_ptr<AlertStore> store_;
  std::latch held_{1}, release_{1};
  std::thread holder_;
};

TEST_F(GroupCommitTest, QueuedBatchesShareOneTransactionAndAckOnlyAfterCommit) {
  GroupCommitter committer(*store_, "c1");
  std::vector<v1::AlertBatch> batches;
  for (int b = 0; b < 10; ++b) batches.push_back(Batch("g" + std::to_string(b) + "-", 20));

  HoldDatabase();
  std::atomic<int> acked{0};
  std::vector<std::promise<Result<IngestOutcome>>> done(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    ASSERT_TRUE(committer
                    .Submit(batches[b],
                            [&, b](Result<IngestOutcome> r) {
                              ++acked;
                              done[b].set_value(std::move(r));
                            })
                    .ok());
    if (b == 0) {
      // Let the writer take the first batch alone (it then waits on the held database), so
      // the other nine are all queued behind it whatever the scheduling.
      for (int i = 0; i < 400 && committer.Counters()["commit_queued_alerts"] != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ASSERT_EQ(committer.Counters()["commit_queued_alerts"], 0u);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(acked, 0) << "an ack before its transaction committed";
  Release();

  for (size_t b = 0; b < batches.size(); ++b) {
    auto r = done[b].get_future().get();
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->acked.size(), 20u);
    EXPECT_EQ(r->acked.front(), "g" + std::to_string(b) + "-0");  // each batch its own outcome
    EXPECT_EQ(r->fresh.size(), 20u);
  }
  EXPECT_EQ(StoredCount(), 200);
  auto counters = committer.Counters();
  // The first batch went alone; the other nine queued behind it and commit together.
  EXPECT_EQ(counters["commit_groups"], 2u);
  EXPECT_EQ(counters["commit_largest_group"], 180u);
  EXPECT_EQ(counters["commit_alerts"], 200u);
}

TEST_F(GroupCommitTest, DuplicatesAcrossBatchesOfOneGroupAreStoredOnce) {
  GroupCommitter committer(*store_, "c1");
  auto a = Batch("same-", 3), b = Batch("same-", 3);
  HoldDatabase();
  std::promise<Result<IngestOutcome>> pa, pb;
  ASSERT_TRUE(committer.Submit(a, [&](auto r) { pa.set_value(std::move(r)); }).ok());
  ASSERT_TRUE(committer.Submit(b, [&](auto r) { pb.set_value(std::move(r)); }).ok());
  Release();
  auto ra = pa.get_future().get(), rb = pb.get_future().get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->acked.size() + rb->acked.size(), 6u);
  EXPECT_EQ(ra->duplicates + rb->duplicates, 3u);
  EXPECT_EQ(StoredCount(), 3);
}

TEST_F(GroupCommitTest, FailedCommitFailsEveryBatchAndStoresNothing) {
  GroupCommitter committer(*store_, "c1");
  ASSERT_TRUE(store_->db().Exec("DROP TABLE alerts").ok());
  auto r = committer.Store(Batch("lost-", 5));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("alerts"), std::string::npos) << r.message();
  EXPECT_EQ(committer.Counters()["commit_groups_failed"], 1u);
}

TEST_F(GroupCommitTest, FullQueueRefusesWithOverloadInsteadOfGrowing) {
  GroupCommitOptions opts;
  opts.max_queued_alerts = 5;
  opts.enqueue_timeout_ms = 50;
  GroupCommitter committer(*store_, "c1", opts);
  auto first = Batch("q1-", 5), second = Batch("q2-", 5), third = Batch("q3-", 1);
  HoldDatabase();
  std::promise<Result<IngestOutcome>> p1, p2;
  ASSERT_TRUE(committer.Submit(first, [&](auto r) { p1.set_value(std::move(r)); }).ok());
  // Wait until the writer took `first` (it now waits on the held database), then fill the queue.
  for (int i = 0; i < 200 && committer.Counters()["commit_queued_alerts"] != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(committer.Submit(second, [&](auto r) { p2.set_value(std::move(r)); }).ok());
  auto refused = committer.Submit(third, [](auto) { ADD_FAILURE() << "refused batch completed"; });
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("overloaded"), std::string::npos) << refused.message();
  EXPECT_EQ(committer.Counters()["commit_overload_refused"], 1u);
  Release();
  EXPECT_TRUE(p1.get_future().get().ok());
  EXPECT_TRUE(p2.get_future().get().ok());
  EXPECT_EQ(StoredCount(), 10);
}

}  // namespace
}  // namespace credsentry::collector
