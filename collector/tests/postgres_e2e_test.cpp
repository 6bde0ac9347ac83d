// PostgreSQL store: a real server from Debian's postgresql package, started by the test on
// 127.0.0.1 in a temp dir (initdb/pg_ctl as the postgres user); two collectors share it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "store/alert_store.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class PostgresServer {
 public:
  static bool Installed() {
    return getpwnam("postgres") && access((std::string(kPgBin) + "/initdb").c_str(), X_OK) == 0;
  }
  // Empty string when it could not start; `why` says what failed.
  std::string Start(const std::string& dir, std::string* why) {
    passwd* pg = getpwnam("postgres");
    dir_ = dir;
    fs::create_directories(dir_);
    // The postgres user must be able to walk into our private temp dir.
    chmod(fs::path(dir_).parent_path().c_str(), 0711);
    chown(dir_.c_str(), pg->pw_uid, pg->pw_gid);
    chmod(dir_.c_str(), 0700);
    port_ = FreePort();
    auto as_pg = [&](const std::string& cmd) {
      return RunCommand("runuser -u postgres -- " + cmd + "; echo rc=$?");
    };
    std::string out = as_pg(std::string(kPgBin) + "/initdb -D " + dir_ +
                            "/data -A trust -U postgres --no-sync -E UTF8 2>&1 >/dev/null");
    if (out.find("rc=0") == std::string::npos) {
      *why = "initdb failed: " + out;
      return "";
    }
    out = as_pg(std::string(kPgBin) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                "/pg.log -w -o \"-p " + std::to_string(port_) + " -k " + dir_ +
                " -h 127.0.0.1 -c fsync=off\" start >/dev/null");
    if (out.find("rc=0") == std::string::npos) {
      *why = "pg_ctl start failed: " + out + ReadFile(dir_ + "/pg.log");
      return "";
    }
    started_ = true;
    out = as_pg(std::string(kPgBin) + "/createdb -h 127.0.0.1 -p " + std::to_string(port_) +
                " credsentry");
    if (out.find("rc=0") == std::string::npos) {
      *why = "createdb failed: " + out;
      return "";
    }
    return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/credsentry";
  }
  ~PostgresServer() {
    if (started_) {
      RunCommand("runuser -u postgres -- " + std::string(kPgBin) + "/pg_ctl -D " + dir_ +
                 "/data -m immediate -w stop");
    }
  }

 private:
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
};

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
    auto stub = MakeStub(c.address(), dir / "pki", "client");
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
  EXPECT_EQ((*store)->SchemaVersion(), 1);
}

TEST(PostgresStore, UnreachableServerIsAClearErrorWithoutTheUrlsPassword) {
  auto r = RunCollectorCli("alerts --db postgres://u:s3cretpw@127.0.0.1:1/x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("cannot connect to PostgreSQL"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cretpw"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace credsentry::testing
