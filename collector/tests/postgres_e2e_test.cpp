// PostgreSQL store: a real server from Debian's postgresql package, started by the test on
// 127.0.0.1 in a temp dir (postgres_server.h); two collectors share it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "store/alert_store.h"
#include "postgres_server.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

TEST(PostgresStore, TwoCollectorsShareOneDatabaseAndQueriesSeeBoth) {
  if (!PostgresServer::Installed()) {
    GTEST_SKIP() << "postgresql-15 is not installed (scripts/install-deps.sh)";
  }
  TempDir dir;
  PostgresServer pg;
  std::string why;
  std::string url = pg.Start(dir / "pg", &why);
  ASSERT_FALSE(url.empty()) << why;
  ASSERT_TRUE(MakePki(dir / "pki"));

  // Both start at once: the schema migration must not race.
  CollectorProcess one(url, dir / "pki", dir / "one.log");
  CollectorProcess two(url, dir / "pki", dir / "two.log");
  ASSERT_TRUE(one.Start()) << ReadFile(dir / "one.log");
  ASSERT_TRUE(two.Start()) << ReadFile(dir / "two.log");

  auto send = [&](CollectorProcess& c, const std::string& id, const std::string& host) {
    auto stub = MakeStub(c.address(), dir / "pki", AgentCert(host));
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    *batch.add_alerts() = MakeAlert(id, host);
    v1::AlertAck ack;
    EXPECT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
    return ack;
  };
  EXPECT_EQ(send(one, "pg-a", "runner-1").duplicates(), 0u);
  EXPECT_EQ(send(two, "pg-b", "runner-2").duplicates(), 0u);
  // The same alert resent through the other collector is recognised as a duplicate.
  auto again = send(two, "pg-a", "runner-1");
  EXPECT_EQ(again.acked_ids_size(), 1);
  EXPECT_EQ(again.duplicates(), 1u);

  auto r = RunCollectorCli("alerts --db " + url + " --since 1h --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::set<std::string> ids;
  for (const auto& line : Lines(r.out)) ids.insert(nlohmann::json::parse(line)["id"]);
  EXPECT_EQ(ids, (std::set<std::string>{"pg-a", "pg-b"}));
  EXPECT_EQ(Lines(RunCollectorCli("alerts --db " + url + " --host runner-2 --json").out).size(),
            1u);

  auto store = collector::AlertStore::Open(url);
  ASSERT_TRUE(store.ok()) << store.message();
  EXPECT_EQ((*store)->SchemaVersion(), 3);
}

TEST(PostgresStore, UnreachableServerIsAClearErrorWithoutTheUrlsPassword) {
  auto r = RunCollectorCli("alerts --db postgres://u:s3cretpw@127.0.0.1:1/x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("cannot connect to PostgreSQL"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cretpw"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace credsentry::testing
