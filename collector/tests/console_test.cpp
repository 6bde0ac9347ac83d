// The console's pieces without HTTP: the token file, sessions, the login limiter, and the JSON
// API on a real store, SQLite and PostgreSQL alike (the PostgreSQL half is skipped with a
// message when postgresql-15 is missing).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "console/console_api.h"
#include "console/console_sessions.h"
#include "console/console_tokens.h"
#include "ingest/collector_service.h"
#include "postgres_server.h"
#include "test_support.h"

namespace credsentry::collector::console {
namespace {

using nlohmann::json;
using testing::MakeAlert;
using testing::TempDir;

constexpr const char* kGoodToken = "0123456789abcdef0123456789abcdef";

std::string WriteTokens(const TempDir& dir, const std::string& text, mode_t mode) {
  std::string path = dir / "tokens";
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(ConsoleTokens, MatchesByNameAndRefusesEverythingElse) {
  TempDir dir;
  auto tokens = ConsoleTokens::Load(WriteTokens(
      dir, std::string("# SOC team\n\nalice:") + kGoodToken + "\nbob : " + kGoodToken + "ff\n",
      0600));
  ASSERT_TRUE(tokens.ok()) << tokens.message();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->Match(kGoodToken), "alice");
  EXPECT_EQ(tokens->Match(std::string(kGoodToken) + "ff"), "bob");
  EXPECT_FALSE(tokens->Match(""));
  EXPECT_FALSE(tokens->Match(std::string(kGoodToken).substr(1)));
  EXPECT_FALSE(tokens->Match("alice"));
}

TEST(ConsoleTokens, FileOthersCanReadIsRefusedWithTheFix) {
  TempDir dir;
  auto tokens = ConsoleTokens::Load(WriteTokens(dir, std::string("a:") + kGoodToken, 0644));
  ASSERT_FALSE(tokens.ok());
  EXPECT_NE(tokens.message().find("mode 0644"), std::string::npos) << tokens.message();
  EXPECT_NE(tokens.message().find("chmod o-rwx"), std::string::npos) << tokens.message();
  EXPECT_EQ(tokens.message().find(kGoodToken), std::string::npos);
}

TEST(ConsoleTokens, BadLinesNameTheLineAndNeverTheToken) {
  const std::string secretish = "s3cr3t-but-short";
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"alice " + std::string(kGoodToken), "line 1: want NAME:TOKEN"},
      {"# c\nalice:short", "line 2: the token of 'alice' must have 16 to 512"},
      {":" + std::string(kGoodToken), "the name must have 1 to 64"},
      {"al ice:" + std::string(kGoodToken), "the name may hold only"},
      {"a:" + std::string(kGoodToken) + "\na:" + kGoodToken + "1", "line 2: name 'a' appears twice"},
      {"# nothing\n", "holds no NAME:TOKEN line"},
      {"x:" + secretish.substr(0, 10), "line 1"},
  };
  for (const auto& c : cases) {
    auto tokens = ConsoleTokens::Parse(c.text, "test file");
    ASSERT_FALSE(tokens.ok()) << c.text;
    EXPECT_NE(tokens.message().find(c.expect), std::string::npos) << tokens.message();
    EXPECT_EQ(tokens.message().find(kGoodToken), std::string::npos) << tokens.message();
    EXPECT_EQ(tokens.message().find(secretish.substr(0, 10)), std::string::npos);
  }
  EXPECT_FALSE(ConsoleTokens::Load("/nonexistent/tokens").ok());
}

TEST(ConsoleSessions, SessionsExpireAndTheTableIsBounded) {
  SessionTable table;
  uint64_t evicted = 0;
  auto first = table.Create("alice", 1000, &evicted);
  EXPECT_EQ(first.cookie.size(), 64u);
  EXPECT_NE(first.cookie, first.session.csrf);
  auto found = table.Find(first.cookie, 2000);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->csrf, first.session.csrf);
  EXPECT_FALSE(table.Find(first.cookie + "0", 2000));
  EXPECT_FALSE(table.Find(first.cookie, 1000 + SessionTable::kLifetimeNs));  // expired
  EXPECT_EQ(table.size(), 0u);

  auto oldest = table.Create("old", 0, &evicted);
  for (size_t i = 1; i < SessionTable::kMaxSessions; ++i) table.Create("n", 10, &evicted);
  EXPECT_EQ(evicted, 0u);
  auto newest = table.Create("new", 20, &evicted);
  EXPECT_EQ(evicted, 1u);
  EXPECT_EQ(table.size(), SessionTable::kMaxSessions);
  EXPECT_FALSE(table.Find(oldest.cookie, 30));  // the one closest to expiry went
  EXPECT_TRUE(table.Find(newest.cookie, 30));
  table.Remove(newest.cookie);
  EXPECT_FALSE(table.Find(newest.cookie, 30));
}

TEST(ConsoleSessions, FailedLoginsAreLimitedPerClientAndInBoundedMemory) {
  LoginLimiter limiter;
  for (int i = 0; i < LoginLimiter::kMaxFailures; ++i) {
    EXPECT_TRUE(limiter.Allowed("10.0.0.1", 100));
    limiter.Failed("10.0.0.1", 100);
  }
  EXPECT_FALSE(limiter.Allowed("10.0.0.1", 200));
  EXPECT_TRUE(limiter.Allowed("10.0.0.2", 200));  // another client is not affected
  EXPECT_TRUE(limiter.Allowed("10.0.0.1", 100 + LoginLimiter::kWindowNs));  // window passed

  // Past kMaxClients, new addresses share one entry: many addresses still get few guesses.
  LoginLimiter full;
  for (size_t i = 0; i < LoginLimiter::kMaxClients; ++i) {
    full.Failed("192.168." + std::to_string(i), 300);
  }
  int allowed = 0;
  for (int i = 0; i < 50; ++i) {
    std::string client = "172.16.0." + std::to_string(i);
    if (full.Allowed(client, 400)) ++allowed;
    full.Failed(client, 400);
  }
  EXPECT_EQ(allowed, LoginLimiter::kMaxFailures);
}

// The API on a store: SQLite, or a throw-away PostgreSQL.
class ConsoleApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {}
  void SetUp() override {
    std::string url = dir_ / "collector.db";
    if (GetParam() == "postgres") {
      if (!testing::PostgresServer::Installed()) {
        GTEST_SKIP() << "postgresql-15 is not installed (scripts/install-deps.sh)";
      }
      pg_ = std::make_unique<testing::PostgresServer>();
      std::string why;
      url = pg_->Start(dir_ / "pg", &why);
      ASSERT_FALSE(url.empty()) << why;
    }
    auto s = AlertStore::Open(url);
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = std::move(*s);
    api_ = std::make_unique<ConsoleApi>(*store_, ApiOptions{});
  }

  void Put(const std::vector<v1::Alert>& alerts, int64_t received_ns) {
    v1::AlertBatch batch;
    for (const auto& a : alerts) *batch.add_alerts() = a;
    ASSERT_TRUE(store_->PutAlerts(batch, received_ns, "c1").ok());
  }

  static v1::Alert At(v1::Alert a, int64_t time_ns) {
    a.set_time_ns(time_ns);
    return a;
  }

  json Get(const ApiReply& r, int status = 200) {
    EXPECT_EQ(r.status, status) << r.body;
    return json::parse(r.body);
  }

  static std::vector<std::string> Ids(const json& page) {
    std::vector<std::string> ids;
    for (const auto& a : page["alerts"]) ids.push_back(a["id"]);
    return ids;
  }

  TempDir dir_;
  std::unique_ptr<testing::PostgresServer> pg_;
  std::unique_ptr<AlertStore> store_;
  std::unique_ptr<ConsoleApi> api_;
};

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24
constexpr int64_t kSec = 1'000'000'000;

TEST_P(ConsoleApiTest, TimelineIsNewestFirstAndFilters) {
  auto low = At(MakeAlert("a-low", "runner-2", "hmac-sha256:bb", v1::SEVERITY_LOW), kT0 + kSec);
  low.mutable_secret()->set_provider("openai");
  Put({At(MakeAlert("a-old", "runner-1"), kT0), low,
       At(MakeAlert("a-new", "runner-1", "hmac-sha256:00aa11bb", v1::SEVERITY_CRITICAL),
          kT0 + 2 * kSec)},
      kT0 + 10 * kSec);
  const int64_t now = kT0 + 60 * kSec;
  EXPECT_EQ(Ids(Get(api_->Alerts({}, now))),
            (std::vector<std::string>{"a-new", "a-low", "a-old"}));
  EXPECT_EQ(Ids(Get(api_->Alerts({{"host", "runner-2"}}, now))),
            (std::vector<std::string>{"a-low"}));
  EXPECT_EQ(Ids(Get(api_->Alerts({{"severity", "high"}}, now))),
            (std::vector<std::string>{"a-new", "a-old"}));
  EXPECT_EQ(Ids(Get(api_->Alerts({{"provider", "openai"}}, now))),
            (std::vector<std::string>{"a-low"}));
  EXPECT_EQ(Ids(Get(api_->Alerts({{"kind", "fleet-agent-silent"}}, now))),
            std::vector<std::string>{});
  EXPECT_EQ(Ids(Get(api_->Alerts({{"since", std::to_string(kT0 + kSec)},
                                  {"until", std::to_string(kT0 + 2 * kSec)}},
                                 now))),
            (std::vector<std::string>{"a-low"}));
  EXPECT_EQ(Ids(Get(api_->Alerts({{"since", "2025-11-24T16:00:01Z"}}, now))).size(), 2u)
      << "RFC 3339 since";
  EXPECT_EQ(Ids(Get(api_->Alerts({{"since", "30s"}}, now))).size(), 0u) << "relative since";

  json first = Get(api_->Alerts({}, now));
  EXPECT_EQ(first["alerts"][0]["severity"], "critical");
  EXPECT_EQ(first["alerts"][0]["redacted"], "sk-ant-…AA");
  EXPECT_EQ(first["alerts"][0]["time"], "2025-11-24T16:00:02.000Z");

  for (auto [name, value] : {std::pair{"severity", "urgent"}, {"since", "yesterday"},
                             {"limit", "0"}, {"limit", "x"}, {"before", "nope"},
                             {"after", "12"}}) {
    json e = Get(api_->Alerts({{name, value}}, now), 400);
    EXPECT_FALSE(e["error"].get<std::string>().empty()) << name;
  }
  Get(api_->Alerts({{"host", std::string(4096, 'h')}}, now), 400);
}

TEST_P(ConsoleApiTest, PagesBackAndPollsOnlyWhatArrivedLater) {
  std::vector<v1::Alert> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(At(MakeAlert("p-" + std::to_string(i), "r"), kT0 + i));
  Put(batch, kT0 + 100);
  json page1 = Get(api_->Alerts({{"limit", "2"}}, kT0));
  EXPECT_EQ(Ids(page1), (std::vector<std::string>{"p-4", "p-3"}));
  ASSERT_TRUE(page1["next_before"].is_string());
  json page2 = Get(api_->Alerts({{"limit", "2"}, {"before", page1["next_before"]}}, kT0));
  EXPECT_EQ(Ids(page2), (std::vector<std::string>{"p-2", "p-1"}));

  const std::string cursor = page1["poll_after"];
  EXPECT_EQ(Ids(Get(api_->Alerts({{"after", cursor}}, kT0))), std::vector<std::string>{});
  // A late alert with an old time (an agent's spool, resent) still shows in the poll.
  Put({At(MakeAlert("late", "r"), kT0 - 1000)}, kT0 + 200);
  json poll = Get(api_->Alerts({{"after", cursor}}, kT0));
  EXPECT_EQ(Ids(poll), (std::vector<std::string>{"late"}));
  EXPECT_NE(poll["poll_after"], cursor);
  EXPECT_EQ(Ids(Get(api_->Alerts({{"after", poll["poll_after"]}}, kT0))),
            std::vector<std::string>{});
}

TEST_P(ConsoleApiTest, DetailHoldsEverythingStored) {
  auto a = MakeAlert("d-1", "runner-1");
  a.mutable_process()->set_systemd_unit("ci-runner.service");
  a.mutable_process()->mutable_pod()->set_name("build-7");
  auto* anc = a.mutable_process()->add_ancestors();
  anc->set_pid(100);
  anc->set_comm("npm");
  a.mutable_ci()->set_provider("github-actions");
  a.mutable_ci()->set_repository("acme/web");
  a.mutable_destination()->set_name_source("sni");
  a.mutable_evidence()->add_decoding("http1");
  a.mutable_evidence()->add_decoding("base64");
  auto* read = a.mutable_evidence()->add_credential_reads();
  read->set_path("/home/ci/.anthropic");
  Put({a}, kT0);
  json d = Get(api_->Alert("d-1"));
  EXPECT_EQ(d["fingerprint"], "hmac-sha256:00aa11bb");
  EXPECT_EQ(d["alert"]["secret"]["redacted"], "sk-ant-…AA");
  EXPECT_EQ(d["alert"]["process"]["systemd_unit"], "ci-runner.service");
  EXPECT_EQ(d["alert"]["process"]["pod"]["name"], "build-7");
  EXPECT_EQ(d["alert"]["process"]["ancestors"][0]["comm"], "npm");
  EXPECT_EQ(d["alert"]["ci"]["repository"], "acme/web");
  EXPECT_EQ(d["alert"]["destination"]["name_source"], "sni");
  EXPECT_EQ(d["alert"]["evidence"]["decoding"], json::array({"http1", "base64"}));
  EXPECT_EQ(d["alert"]["evidence"]["credential_reads"][0]["path"], "/home/ci/.anthropic");
  EXPECT_TRUE(d["acknowledged"].is_null());
  Get(api_->Alert("missing"), 404);
}

TEST_P(ConsoleApiTest, AckAndRotationRecordWhoAndWhenOnceAndAuditEveryClick) {
  Put({MakeAlert("k-1", "runner-1", "hmac-sha256:fp1")}, kT0);
  ASSERT_TRUE(store_->PutInventory(testing::MakeInventory("runner-2"), kT0).ok());
  Actor alice{"alice", "127.0.0.1", "c1"}, bob{"bob", "10.1.1.1", "c2"};
  json ack = Get(api_->Ack("k-1", alice, kT0 + kSec));
  EXPECT_EQ(ack["acknowledged"]["by"], "alice");
  EXPECT_EQ(ack["acknowledged"]["at"], "2025-11-24T16:00:01.000Z");
  // A second click (or another collector) keeps the first acknowledgement.
  EXPECT_EQ(Get(api_->Ack("k-1", bob, kT0 + 2 * kSec))["acknowledged"]["by"], "alice");
  EXPECT_EQ(Get(api_->Alert("k-1"))["acknowledged"]["by"], "alice");
  EXPECT_EQ(Get(api_->Alerts({}, kT0))["alerts"][0]["acknowledged"]["by"], "alice");
  Get(api_->Ack("missing", alice, kT0), 404);

  json rotated = Get(api_->Rotated("hmac-sha256:aws1", bob, kT0 + 3 * kSec));
  EXPECT_EQ(rotated["rotated"]["by"], "bob");
  Get(api_->Rotated("hmac-sha256:unknown", bob, kT0), 404);

  json audit = Get(api_->Audit({}));
  ASSERT_EQ(audit["audit"].size(), 3u);
  EXPECT_EQ(audit["audit"][0]["action"], "credential-rotated");
  EXPECT_EQ(audit["audit"][0]["actor"], "bob");
  EXPECT_EQ(audit["audit"][0]["target"], "hmac-sha256:aws1");
  EXPECT_EQ(audit["audit"][0]["collector"], "c2");
  EXPECT_EQ(audit["audit"][2]["action"], "alert-acknowledged");
  EXPECT_EQ(audit["audit"][2]["actor"], "alice");
  EXPECT_EQ(audit["audit"][2]["client"], "127.0.0.1");
  EXPECT_EQ(Get(api_->Audit({{"limit", "1"}}))["audit"].size(), 1u);
}

TEST_P(ConsoleApiTest, CredentialsShowWhereStoredWhereSentAndWhen) {
  auto a = At(MakeAlert("c-1", "runner-1", "hmac-sha256:aws1"), kT0);
  auto b = At(MakeAlert("c-2", "runner-3", "hmac-sha256:aws1"), kT0 + 5 * kSec);
  b.mutable_destination()->set_host("evil.example");
  Put({a, b}, kT0);
  ASSERT_TRUE(store_->PutInventory(testing::MakeInventory("runner-1"), kT0).ok());
  ASSERT_TRUE(store_->PutInventory(testing::MakeInventory("runner-2"), kT0).ok());
  json list = Get(api_->Credentials());
  ASSERT_EQ(list["credentials"].size(), 1u);
  const json& c = list["credentials"][0];
  EXPECT_EQ(c["fingerprint"], "hmac-sha256:aws1");
  EXPECT_EQ(c["storing_hosts"], 2);
  EXPECT_EQ(c["sending_hosts"], 2);
  EXPECT_EQ(c["first_seen"], "2025-11-24T16:00:00.000Z");
  EXPECT_EQ(c["last_seen"], "2025-11-24T16:00:05.000Z");
  EXPECT_EQ(c["redacted"], "wJal…KEY");

  json one = Get(api_->Credential("hmac-sha256:aws1"));
  ASSERT_EQ(one["stored_on"].size(), 2u);
  EXPECT_EQ(one["stored_on"][0]["path"], "/home/ci/.aws/credentials");
  ASSERT_EQ(one["sent"].size(), 2u);
  EXPECT_EQ(one["sent"][1]["host"], "runner-3");
  EXPECT_EQ(one["sent"][1]["destination"], "evil.example");
  Get(api_->Credential("hmac-sha256:none"), 404);
}

TEST_P(ConsoleApiTest, HostsShowSilenceVersionsAndOnlyNonZeroDrops) {
  v1::Heartbeat hb;
  hb.set_host("runner-1");
  hb.set_agent_version("0.9.0");
  hb.set_rules_version("rules-42");
  (*hb.mutable_counters())["ringbuf_dropped_events"] = 7;
  (*hb.mutable_counters())["tls_dropped_writes"] = 0;
  (*hb.mutable_counters())["events"] = 1000;
  ASSERT_TRUE(store_->PutHeartbeat(hb, kT0).ok());
  json hosts = Get(api_->Hosts(kT0 + kSec));
  ASSERT_EQ(hosts["hosts"].size(), 1u);
  EXPECT_EQ(hosts["hosts"][0]["agent_version"], "0.9.0");
  EXPECT_EQ(hosts["hosts"][0]["rules_version"], "rules-42");
  EXPECT_EQ(hosts["hosts"][0]["silent"], false);
  EXPECT_EQ(hosts["hosts"][0]["drops"], json({{"ringbuf_dropped_events", 7}}));
  EXPECT_EQ(Get(api_->Hosts(kT0 + 91 * kSec))["hosts"][0]["silent"], true);
}

INSTANTIATE_TEST_SUITE_P(Stores, ConsoleApiTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace credsentry::collector::console
