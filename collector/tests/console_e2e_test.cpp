// The real collector serving the console over HTTPS: login, sessions, CSRF, headers, limits,
// counters on /metrics, and acknowledgements that survive a restart. A client that verifies
// the collector's certificate (the test CA) talks to it as a browser would.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace credsentry::testing {
namespace {

using nlohmann::json;

class ConsoleE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakePki(dir_ / "pki"));
    token_ = RandomHex();
    std::ofstream(dir_ / "tokens") << "# the SOC\nsoc-alice:" << token_ << "\n";
    chmod((dir_ / "tokens").c_str(), 0600);
  }

  static std::string RandomHex() {
    return RunCommand("openssl rand -hex 24").substr(0, 48);
  }

  std::unique_ptr<CollectorProcess> Start() {
    unlink((dir_ / "console.port").c_str());
    auto c = std::make_unique<CollectorProcess>(
        dir_ / "collector.db", dir_ / "pki", dir_ / "collector.log",
        std::vector<std::string>{"--console-listen", "127.0.0.1:0", "--console-token-file",
                                 dir_ / "tokens", "--console-port-file", dir_ / "console.port",
                                 "--metrics-listen", "127.0.0.1:0"});
    EXPECT_TRUE(c->Start()) << ReadFile(dir_ / "collector.log");
    std::ifstream(dir_ / "console.port") >> console_port_;
    EXPECT_GT(console_port_, 0) << ReadFile(dir_ / "collector.log");
    return c;
  }

  std::unique_ptr<httplib::SSLClient> Client() {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", console_port_);
    c->set_ca_cert_path((dir_ / "pki/ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5);
    c->set_read_timeout(5);
    return c;
  }

  httplib::Result Login(httplib::SSLClient& c, const std::string& body) {
    return c.Post("/api/v1/login", body, "application/json");
  }

  // Logs in; returns the session's Cookie header and its CSRF token.
  std::pair<std::string, std::string> Session(httplib::SSLClient& c) {
    auto r = Login(c, json{{"token", token_}}.dump());
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    std::string set_cookie = r->get_header_value("Set-Cookie");
    return {set_cookie.substr(0, set_cookie.find(';')), json::parse(r->body)["csrf_token"]};
  }

  std::string Metrics() {
    std::string log = ReadFile(dir_ / "collector.log");
    auto at = log.rfind("metrics on http://127.0.0.1:");
    if (at == std::string::npos) return "";
    int port = std::stoi(log.substr(at + 28));
    httplib::Client m("127.0.0.1", port);
    auto r = m.Get("/metrics");
    return r ? r->body : "";
  }

  TempDir dir_;
  std::string token_;
  int console_port_ = 0;
};

TEST_F(ConsoleE2E, LoginGivesAStrictCookieAndTheApiRefusesEveryoneElse) {
  auto collector = Start();
  auto c = Client();
  auto anon = c->Get("/api/v1/alerts");
  ASSERT_TRUE(anon) << "TLS with the collector's certificate";
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(c->Get("/api/v1/hosts", {{"Cookie", "cs_session=forged"}})->status, 401);

  auto none = Login(*c, "{}");
  EXPECT_EQ(none->status, 401);
  EXPECT_NE(none->body.find("a token is required"), std::string::npos) << none->body;
  EXPECT_EQ(Login(*c, "not json")->status, 401);
  auto bad = Login(*c, json{{"token", token_ + "x"}}.dump());
  EXPECT_EQ(bad->status, 401);
  EXPECT_NE(bad->body.find("not valid"), std::string::npos) << bad->body;
  EXPECT_TRUE(bad->get_header_value("Set-Cookie").empty());

  auto good = Login(*c, json{{"token", token_}}.dump());
  ASSERT_EQ(good->status, 200) << good->body;
  std::string cookie = good->get_header_value("Set-Cookie");
  for (const char* attr : {"cs_session=", "; HttpOnly", "; Secure", "; SameSite=Strict"}) {
    EXPECT_NE(cookie.find(attr), std::string::npos) << cookie;
  }
  EXPECT_EQ(json::parse(good->body)["name"], "soc-alice");
  EXPECT_EQ(good->body.find(token_), std::string::npos);

  auto [session, csrf] = Session(*c);
  httplib::Headers with_session = {{"Cookie", session}};
  auto alerts = c->Get("/api/v1/alerts", with_session);
  EXPECT_EQ(alerts->status, 200) << alerts->body;
  EXPECT_EQ(c->Get("/api/v1/session", with_session)->status, 200);

  // State changes need the CSRF token as well as the cookie.
  EXPECT_EQ(c->Post("/api/v1/alerts/x/ack", with_session, "{}", "application/json")->status, 403);
  httplib::Headers wrong = {{"Cookie", session}, {"X-CSRF-Token", csrf + "0"}};
  EXPECT_EQ(c->Post("/api/v1/alerts/x/ack", wrong, "{}", "application/json")->status, 403);
  httplib::Headers right = {{"Cookie", session}, {"X-CSRF-Token", csrf}};
  EXPECT_EQ(c->Post("/api/v1/alerts/x/ack", right, "{}", "application/json")->status, 404);
  EXPECT_EQ(c->Post("/api/v1/alerts/x/ack", {{"X-CSRF-Token", csrf}}, "{}",
                    "application/json")->status, 401);

  // Logging out ends the session for every later request.
  EXPECT_EQ(c->Post("/api/v1/logout", right, "{}", "application/json")->status, 200);
  EXPECT_EQ(c->Get("/api/v1/alerts", with_session)->status, 401);

  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("credsentry_collector_console_logins_total{outcome=\"ok\"} 2"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("credsentry_collector_console_logins_total{outcome=\"failed\"} 3"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find(
                "credsentry_collector_console_requests_refused_total{reason=\"csrf\"} 2"),
            std::string::npos) << metrics;
  EXPECT_EQ(ReadFile(dir_ / "collector.log").find(token_), std::string::npos);
}

TEST_F(ConsoleE2E, PagesCarryStrictHeadersAndHugeOrBrokenRequestsAreRefused) {
  auto collector = Start();
  auto c = Client();
  for (const char* path : {"/", "/console.js", "/console.css", "/api/v1/alerts", "/nope"}) {
    auto r = c->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->get_header_value("Content-Security-Policy").rfind("default-src 'self'", 0), 0u)
        << path;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY") << path;
  }
  auto page = c->Get("/");
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"/console.js\""), std::string::npos);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "no inline script under the CSP";
  EXPECT_EQ(c->Get("/console.js")->get_header_value("Content-Type"),
            "text/javascript; charset=utf-8");
  EXPECT_EQ(c->Get("/nope")->status, 404);
  EXPECT_EQ(c->Get("/api/v1/nope")->status, 404);

  auto huge = Login(*c, json{{"token", std::string(1 << 20, 'a')}}.dump());
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  // Still serving after it.
  EXPECT_EQ(c->Get("/")->status, 200);
  EXPECT_NE(Metrics().find(
                "credsentry_collector_console_requests_refused_total{reason=\"too_large\"} 1"),
            std::string::npos);
}

TEST_F(ConsoleE2E, FailedLoginsAreRateLimitedEvenForTheRightToken) {
  auto collector = Start();
  auto c = Client();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Login(*c, json{{"token", "wrong-token-" + std::to_string(i) + "-padding"}}.dump())
                  ->status,
              401);
  }
  auto limited = Login(*c, json{{"token", token_}}.dump());
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "60");
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("credsentry_collector_console_logins_total{outcome=\"rate_limited\"} 1"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("credsentry_collector_console_logins_total{outcome=\"failed\"} 5"),
            std::string::npos) << metrics;
}

TEST_F(ConsoleE2E, AcknowledgementNamesTheTokenAndSurvivesARestart) {
  auto collector = Start();
  {
    auto stub = MakeStub(collector->address(), dir_ / "pki", AgentCert("runner-1"));
    grpc::ClientContext ctx;
    v1::AlertBatch batch;
    *batch.add_alerts() = MakeAlert("e2e-ack", "runner-1");
    v1::AlertAck ack;
    ASSERT_TRUE(stub->SendAlerts(&ctx, batch, &ack).ok());
  }
  auto c = Client();
  auto [session, csrf] = Session(*c);
  httplib::Headers h = {{"Cookie", session}, {"X-CSRF-Token", csrf}};
  auto ack = c->Post("/api/v1/alerts/e2e-ack/ack", h, "{}", "application/json");
  ASSERT_EQ(ack->status, 200) << ack->body;
  EXPECT_EQ(json::parse(ack->body)["acknowledged"]["by"], "soc-alice");

  collector->Stop();
  collector = Start();
  c = Client();
  auto again = Session(*c);
  auto detail = c->Get("/api/v1/alerts/e2e-ack", {{"Cookie", again.first}});
  ASSERT_EQ(detail->status, 200);
  json d = json::parse(detail->body);
  EXPECT_EQ(d["acknowledged"]["by"], "soc-alice");
  EXPECT_FALSE(d["acknowledged"]["at"].get<std::string>().empty());
  auto audit = c->Get("/api/v1/audit", {{"Cookie", again.first}});
  json entries = json::parse(audit->body)["audit"];
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["action"], "alert-acknowledged");
  EXPECT_EQ(entries[0]["target"], "e2e-ack");
  EXPECT_EQ(entries[0]["client"], "127.0.0.1");
}

TEST_F(ConsoleE2E, BadConsoleSettingsStopServeWithAClearMessage) {
  const std::string base = "serve --listen 127.0.0.1:0 --db " + (dir_ / "c.db") + " --ca " +
                           (dir_ / "pki/ca.pem") + " --cert " + (dir_ / "pki/server.pem") +
                           " --key " + (dir_ / "pki/server.key") + " --console-listen 127.0.0.1:0";
  chmod((dir_ / "tokens").c_str(), 0644);
  auto open = RunCollectorCli(base + " --console-token-file " + (dir_ / "tokens"));
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.out.find("accessible to others (mode 0644)"), std::string::npos) << open.out;
  EXPECT_EQ(open.out.find(token_), std::string::npos);
  chmod((dir_ / "tokens").c_str(), 0600);

  auto missing = RunCollectorCli(base);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.out.find("needs --console-token-file"), std::string::npos) << missing.out;

  std::ofstream(dir_ / "short") << "alice:" << "abc\n";
  chmod((dir_ / "short").c_str(), 0600);
  auto bad = RunCollectorCli(base + " --console-token-file " + (dir_ / "short"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("line 1: the token of 'alice' must have 16 to 512"), std::string::npos)
      << bad.out;

  auto insecure = RunCollectorCli("serve --listen 127.0.0.1:0 --insecure --db " + (dir_ / "c.db") +
                                  " --console-listen 127.0.0.1:0 --console-token-file " +
                                  (dir_ / "tokens"));
  EXPECT_EQ(insecure.exit_code, 2);
  EXPECT_NE(insecure.out.find("HTTPS only"), std::string::npos) << insecure.out;

  auto port = RunCollectorCli(base + "x --console-token-file " + (dir_ / "tokens"));
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_NE(port.out.find("--console-listen"), std::string::npos) << port.out;
}

}  // namespace
}  // namespace credsentry::testing
