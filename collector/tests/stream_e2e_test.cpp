// StreamAlerts against the real collector over gRPC + mTLS: one ack per batch, in order, naming
// the batch; resends are acked as duplicates; an unknown client cannot open a stream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "test_support.h"

namespace credsentry::testing {
namespace {

class StreamE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakePki(dir_ / "pki"));
    collector_ = std::make_unique<CollectorProcess>(dir_ / "collector.db", dir_ / "pki",
                                                    dir_ / "collector.log");
    ASSERT_TRUE(collector_->Start()) << ReadFile(dir_ / "collector.log");
  }
  std::string Db() { return dir_ / "collector.db"; }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};

v1::AlertBatch Batch(uint64_t batch_id, std::vector<std::string> ids) {
  v1::AlertBatch b;
  b.set_agent_host("runner-1");
  b.set_batch_id(batch_id);
  for (const auto& id : ids) *b.add_alerts() = MakeAlert(id, "runner-1");
  return b;
}

TEST_F(StreamE2E, EachBatchIsAckedByIdInOrderAndResendsAreDuplicates) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", AgentCert("runner-1"));
  grpc::ClientContext ctx;
  auto stream = stub->StreamAlerts(&ctx);
  ASSERT_TRUE(stream);

  ASSERT_TRUE(stream->Write(Batch(7, {"s-1", "s-2"})));
  v1::AlertAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_id(), 7u);
  EXPECT_EQ(std::vector<std::string>(ack.acked_ids().begin(), ack.acked_ids().end()),
            (std::vector<std::string>{"s-1", "s-2"}));
  EXPECT_EQ(ack.duplicates(), 0u);
  // Acked means durable: the query CLI (another process) sees it now.
  EXPECT_EQ(Lines(RunCollectorCli("alerts --db " + Db() + " --since 1h --json").out).size(), 2u);

  // A resend after a lost ack (same ids, new batch) plus one new alert, on the same stream.
  ASSERT_TRUE(stream->Write(Batch(8, {"s-2", "s-3"})));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_id(), 8u);
  EXPECT_EQ(ack.acked_ids_size(), 2);
  EXPECT_EQ(ack.duplicates(), 1u);

  // A malformed alert is rejected by name, the rest of the batch stored.
  auto bad = Batch(9, {"s-4"});
  bad.add_alerts()->set_id("no-host");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_id(), 9u);
  EXPECT_EQ(ack.acked_ids_size(), 1);
  ASSERT_EQ(ack.rejected_size(), 1);
  EXPECT_EQ(ack.rejected(0).id(), "no-host");

  ASSERT_TRUE(stream->WritesDone());
  auto st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();

  std::set<std::string> ids;
  for (const auto& line :
       Lines(RunCollectorCli("alerts --db " + Db() + " --since 1h --json").out)) {
    ids.insert(nlohmann::json::parse(line)["id"].get<std::string>());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"s-1", "s-2", "s-3", "s-4"}));
}

TEST_F(StreamE2E, ClientWithoutTrustedCertificateCannotStream) {
  auto stub = MakeStub(collector_->address(), dir_ / "pki", "rogue-client");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->StreamAlerts(&ctx);
  v1::AlertAck ack;
  bool wrote = stream->Write(Batch(1, {"rogue-1"}));
  EXPECT_FALSE(wrote && stream->Read(&ack));
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_TRUE(Lines(RunCollectorCli("alerts --db " + Db() + " --since 1h --json").out).empty());
}

}  // namespace
}  // namespace credsentry::testing
