// The store on a real SQLite file: idempotent ingest, validation, queries, migrations.
#include "store/alert_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingest/collector_service.h"
#include "test_support.h"

namespace credsentry::collector {
namespace {

using testing::MakeAlert;
using testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AlertStore::Open(dir_ / "collector.db");
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = std::move(*s);
  }
  TempDir dir_;
  std::unique_ptr<AlertStore> store_;
};

TEST_F(StoreTest, ResentBatchIsAckedButStoredOnce) {
  v1::AlertBatch batch;
  *batch.add_alerts() = MakeAlert("a-1", "runner-1");
  *batch.add_alerts() = MakeAlert("a-2", "runner-1");
  auto first = store_->PutAlerts(batch, NowNs(), "c1");
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->acked, (std::vector<std::string>{"a-1", "a-2"}));
  EXPECT_EQ(first->fresh.size(), 2u);
  EXPECT_EQ(first->duplicates, 0u);

  auto again = store_->PutAlerts(batch, NowNs(), "c1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->acked, (std::vector<std::string>{"a-1", "a-2"}));
  EXPECT_EQ(again->duplicates, 2u);
  EXPECT_TRUE(again->fresh.empty());

  auto rows = store_->QueryAlerts({});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
}

TEST_F(StoreTest, MalformedAlertsAreRejectedWithReasonAndNotStored) {
  v1::AlertBatch batch;
  *batch.add_alerts() = MakeAlert("", "runner-1");
  *batch.add_alerts() = MakeAlert("no-host", "");
  *batch.add_alerts() = MakeAlert("good", "runner-1");
  auto out = store_->PutAlerts(batch, NowNs(), "c1");
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->rejected.size(), 2u);
  EXPECT_EQ(out->rejected[0].reason(), "alert without id");
  EXPECT_EQ(out->rejected[1].reason(), "alert no-host without host");
  EXPECT_EQ(out->acked, std::vector<std::string>{"good"});
  EXPECT_EQ(store_->QueryAlerts({})->size(), 1u);
}

TEST_F(StoreTest, QueryFiltersByHostKindAndTime) {
  v1::AlertBatch batch;
  *batch.add_alerts() = MakeAlert("h1", "runner-1");
  *batch.add_alerts() = MakeAlert("h2", "runner-2");
  auto old = MakeAlert("old", "runner-1");
  old.set_time_ns(old.time_ns() - 7'200'000'000'000);  // two hours ago
  *batch.add_alerts() = old;
  auto other_kind = MakeAlert("k", "runner-1");
  other_kind.set_kind("credential-file-egress");
  *batch.add_alerts() = other_kind;
  ASSERT_TRUE(store_->PutAlerts(batch, NowNs(), "c1").ok());

  AlertFilter f;
  f.host = "runner-1";
  f.kind = "secret-egress";
  f.since_ns = NowNs() - 3'600'000'000'000;
  auto rows = store_->QueryAlerts(f);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, "h1");
  // The stored body is the whole alert as JSON, field names as in the proto.
  EXPECT_NE((*rows)[0].body_json.find("\"redacted\":\"sk-ant-…AA\""), std::string::npos);
}

TEST_F(StoreTest, Ipv6DestinationIsStoredAndReturned) {
  auto a = MakeAlert("v6-1", "runner-1");
  a.mutable_destination()->set_host("");
  a.mutable_destination()->set_ip("fd00:c5::1");
  a.mutable_destination()->set_port(80);
  v1::AlertBatch batch;
  *batch.add_alerts() = a;
  ASSERT_TRUE(store_->PutAlerts(batch, NowNs(), "c1").ok());
  auto rows = store_->QueryAlerts({});
  ASSERT_TRUE(rows.ok()) << rows.message();
  ASSERT_EQ(rows->size(), 1u);
  auto j = nlohmann::json::parse((*rows)[0].body_json);
  EXPECT_EQ(j["destination"]["ip"], "fd00:c5::1");
  EXPECT_EQ(j["destination"]["port"], 80);
}

TEST_F(StoreTest, InventorySnapshotReplacesTheHostsPreviousOne) {
  v1::Inventory inv;
  inv.set_host("runner-1");
  auto* c = inv.add_credentials();
  c->set_path("/home/ci/.aws/credentials");
  c->set_type("aws-secret-key");
  c->set_fingerprint("hmac-sha256:aws1");
  ASSERT_TRUE(store_->PutInventory(inv, NowNs()).ok());
  c->set_path("/home/ci/.config/gcloud/key.json");
  c->set_fingerprint("hmac-sha256:gcp1");
  ASSERT_TRUE(store_->PutInventory(inv, NowNs()).ok());

  auto rows = store_->Inventory("runner-1", "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].path, "/home/ci/.config/gcloud/key.json");
  EXPECT_FALSE(*store_->IsStoredOn("hmac-sha256:aws1", "runner-1"));
}

TEST_F(StoreTest, HeartbeatUpdatesHostAndKeepsFirstSeen) {
  v1::Heartbeat hb;
  hb.set_host("runner-1");
  hb.set_agent_version("0.1.0");
  (*hb.mutable_counters())["ringbuf_drops"] = 7;
  ASSERT_TRUE(store_->PutHeartbeat(hb, 1000).ok());
  hb.set_agent_version("0.2.0");
  ASSERT_TRUE(store_->PutHeartbeat(hb, 2000).ok());
  auto hosts = store_->Hosts();
  ASSERT_TRUE(hosts.ok());
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].agent_version, "0.2.0");
  EXPECT_EQ((*hosts)[0].first_seen_ns, 1000);
  EXPECT_EQ((*hosts)[0].last_heartbeat_ns, 2000);
  EXPECT_EQ((*hosts)[0].counters_json, R"({"ringbuf_drops":7})");

  v1::Heartbeat anonymous;
  EXPECT_EQ(store_->PutHeartbeat(anonymous, 3000).message(), "heartbeat without host");
}

TEST_F(StoreTest, ReopenKeepsDataAndDoesNotRemigrate) {
  ASSERT_TRUE(store_->PutCollectorAlert(MakeAlert("x", "h"), NowNs()).ok());
  EXPECT_EQ(store_->SchemaVersion(), 3);
  store_.reset();
  auto again = AlertStore::Open(dir_ / "collector.db");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ((*again)->SchemaVersion(), 3);
  EXPECT_EQ((*again)->QueryAlerts({})->size(), 1u);
}

// Alerts are kept as protobuf since schema v2; queries show the same JSON as before, for new
// rows and for rows a v1 collector stored as JSON text.
TEST_F(StoreTest, QueriesShowJsonForCompactAndForV1Rows) {
  v1::AlertBatch batch;
  *batch.add_alerts() = MakeAlert("compact-1", "runner-1");
  ASSERT_TRUE(store_->PutAlerts(batch, NowNs(), "c1").ok());
  auto v1_json = AlertToJson(MakeAlert("v1-row", "runner-1"));
  ASSERT_TRUE(store_->db()
                  .Exec("INSERT INTO alerts (id, time_ns, received_ns, host, kind, severity, "
                        "summary, secret_type, fingerprint, dest_host, collector, body) VALUES "
                        "('v1-row', 1, 1, 'runner-1', 'secret-egress', 3, '', '', '', '', 'c0', $1)",
                        {v1_json})
                  .ok());
  auto rows = store_->QueryAlerts({});
  ASSERT_TRUE(rows.ok()) << rows.message();
  ASSERT_EQ(rows->size(), 2u);
  for (const auto& row : *rows) {
    auto j = nlohmann::json::parse(row.body_json);
    EXPECT_EQ(j["id"], row.id);
    EXPECT_EQ(j["secret"]["redacted"], "sk-ant-…AA") << row.id;
    EXPECT_EQ(j["destination"]["host"], "paste.example") << row.id;
  }
  EXPECT_EQ(StoredBodyToJson("", "not base64!"), R"({"error":"unreadable stored alert"})");
}

TEST(StoreOpen, UnopenableDatabaseNamesThePath) {
  auto s = AlertStore::Open("/nonexistent-dir/x/collector.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x/collector.db"), std::string::npos);
}

TEST(StoreOpen, NewerSchemaIsRefused) {
  TempDir dir;
  {
    auto s = AlertStore::Open(dir / "c.db");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->db().Exec("INSERT INTO schema_migrations VALUES (99, 0)").ok());
  }
  auto s = AlertStore::Open(dir / "c.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema version 99 is newer"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace credsentry::collector
