// The HTTP forwarders in process against a real loopback server: the exact bytes Slack and Splunk
// HEC receive, their headers, retries on 503/429, none on 400, drops counted by why, TLS that
// verifies, and that no raw secret reaches a forwarded message.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "forward/forwarders.h"
#include "forward/http_client.h"
#include "forward/http_forwarder.h"
#include "forward/slack_message.h"
#include "forward/splunk_hec.h"
#include "forward/webhook_forwarder.h"
#include "http_receiver.h"
#include "store/alert_store.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

using collector::DeliveryOptions;
using collector::ForwardCounters;
using collector::HttpClient;
using collector::HttpFormat;
using collector::HttpForwarder;

v1::Alert FixedAlert(const std::string& id = "a-1") {
  v1::Alert a;
  a.set_id(id);
  a.set_time_ns(1764657000123456789ull);  // 2025-12-02 06:30:00.123 UTC
  a.set_kind("secret-egress");
  a.set_severity(v1::SEVERITY_HIGH);
  a.set_summary("anthropic key sent to paste.example");
  a.set_host("runner-1");
  a.mutable_process()->set_pid(4242);
  a.mutable_process()->set_comm("curl");
  a.mutable_secret()->set_type("anthropic-api-key");
  a.mutable_secret()->set_redacted("sk-ant-…Xa9f");
  a.mutable_secret()->set_fingerprint("hmac-sha256:1f2e3d4c");
  a.mutable_secret()->set_found_in("tls-write");
  a.mutable_destination()->set_host("paste.example");
  a.mutable_destination()->set_ip("203.0.113.7");
  a.mutable_destination()->set_port(443);
  a.mutable_destination()->set_transport("tls");
  a.mutable_destination()->set_name_source("sni");
  return a;
}

// Fast retries so a test of three attempts takes a fraction of a second.
DeliveryOptions Quick(size_t max_queue = 100) {
  DeliveryOptions d;
  d.max_queue = max_queue;
  d.attempts = 3;
  d.backoff_ms = 100;
  d.max_backoff_ms = 200;
  return d;
}

std::unique_ptr<HttpForwarder> Forwarder(const std::string& url, HttpFormat format,
                                         DeliveryOptions delivery, const std::string& ca = "") {
  auto parsed = collector::ParseHttpUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  auto client = HttpClient::Open(*parsed, ca);
  EXPECT_TRUE(client.ok()) << client.message();
  size_t batch = format.delivery.max_batch, batch_bytes = format.delivery.max_batch_bytes;
  format.delivery = delivery;
  format.delivery.max_batch = batch;
  format.delivery.max_batch_bytes = batch_bytes;
  return std::make_unique<HttpForwarder>(std::move(*client), std::move(format));
}

// Polls until `done(counters)` or two seconds pass; returns the last counters.
template <class Done>
ForwardCounters WaitCounters(const HttpForwarder& f, Done done) {
  for (int i = 0; i < 100 && !done(f.Counters()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f.Counters();
}

const char kSlackBody[] =
    R"~({"text":"[HIGH] anthropic key sent to paste.example on runner-1","blocks":[)~"
    R"~({"type":"section","text":{"type":"mrkdwn","text":":rotating_light: *HIGH*  anthropic key sent to paste.example"}},)~"
    R"~({"type":"section","fields":[{"type":"mrkdwn","text":"*Host*\nrunner-1"},)~"
    R"~({"type":"mrkdwn","text":"*Process*\n`curl` (pid 4242)"},)~"
    R"~({"type":"mrkdwn","text":"*Destination*\npaste.example (203.0.113.7:443) over TLS, named by SNI"},)~"
    R"~({"type":"mrkdwn","text":"*Secret*\nanthropic-api-key `sk-ant-…Xa9f`, in tls-write"},)~"
    R"~({"type":"mrkdwn","text":"*Fingerprint*\n`hmac-sha256:1f2e3d4c`"},)~"
    R"~({"type":"mrkdwn","text":"*Alert*\n`a-1` secret-egress"}]},)~"
    R"~({"type":"context","elements":[{"type":"mrkdwn","text":"credsentry · )~"
    R"~(<!date^1764657000^{date_short_pretty} {time_secs}|2025-12-02 06:30:00 UTC>"}]}]})~";

TEST(SlackForwarder, PostsOneReadableMessagePerAlert) {
  HttpReceiver slack({.fallback = HttpResponseText(200, "ok")});
  auto f = Forwarder(slack.Url("/services/T000/B000/XXXX"), collector::SlackFormat(), Quick());
  f->OnFreshAlert(FixedAlert());
  auto got = slack.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].RequestLine(), "POST /services/T000/B000/XXXX HTTP/1.1");
  EXPECT_EQ(got[0].Header("Content-Type"), "application/json");
  EXPECT_EQ(got[0].body, kSlackBody);
  EXPECT_TRUE(nlohmann::json::parse(got[0].body)["blocks"].is_array());
  EXPECT_EQ(WaitCounters(*f, [](auto c) { return c.sent == 1; }).sent, 1u);
}

TEST(SlackForwarder, EscapesControlCharactersInTextAProcessChose) {
  v1::Alert a = FixedAlert();
  a.set_summary("<!channel> & <https://evil.example|click>");
  a.mutable_process()->set_comm("x`<@U1>");
  std::string body = collector::SlackMessage(a);
  EXPECT_EQ(body.find("<!channel>"), std::string::npos) << body;
  EXPECT_EQ(body.find("<https://evil"), std::string::npos) << body;
  EXPECT_EQ(body.find("<@U1>"), std::string::npos) << body;
  auto msg = nlohmann::json::parse(body);
  EXPECT_EQ(msg["text"],
            "[HIGH] &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; on runner-1");
  EXPECT_EQ(msg["blocks"][1]["fields"][1]["text"], "*Process*\n`x'&lt;@U1&gt;` (pid 4242)");
}

TEST(SlackForwarder, FleetAlertWithoutProcessOrSecretKeepsOnlyWhatItHas) {
  v1::Alert a;
  a.set_id("fleet-1");
  a.set_kind("fleet-agent-silent");
  a.set_severity(v1::SEVERITY_MEDIUM);
  a.set_summary("no heartbeat from quiet-runner for 90s");
  a.set_host("quiet-runner");
  auto fields = nlohmann::json::parse(collector::SlackMessage(a))["blocks"][1]["fields"];
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0]["text"], "*Host*\nquiet-runner");
  EXPECT_EQ(fields[1]["text"], "*Alert*\n`fleet-1` fleet-agent-silent");
}

TEST(SlackForwarder, RetriesA429AfterItsRetryAfter) {
  HttpReceiver slack({.script = {HttpResponseText(429, "rate_limited", "Retry-After: 1\r\n")},
                      .fallback = HttpResponseText(200, "ok")});
  DeliveryOptions d = Quick();
  d.backoff_ms = 50;  // far below the server's second, so only Retry-After explains the wait
  d.max_backoff_ms = 3000;
  auto f = Forwarder(slack.Url("/services/T/B/X"), collector::SlackFormat(), d);
  f->OnFreshAlert(FixedAlert());
  auto got = slack.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, got[1].body);
  auto gap_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(got[1].at - got[0].at).count();
  EXPECT_GE(gap_ms, 950);
  EXPECT_LT(gap_ms, 2500);
  auto c = WaitCounters(*f, [](auto c) { return c.sent == 1; });
  EXPECT_EQ(c.sent, 1u);
  EXPECT_EQ(c.retries, 1u);
}

TEST(SlackForwarder, A404IsNotRetried) {
  HttpReceiver slack({.fallback = HttpResponseText(404, "no_service")});
  auto f = Forwarder(slack.Url("/services/T/B/X"), collector::SlackFormat(), Quick());
  f->OnFreshAlert(FixedAlert());
  auto c = WaitCounters(*f, [](auto c) { return c.dropped_rejected == 1; });
  EXPECT_EQ(c.dropped_rejected, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a retry would come by now
  EXPECT_EQ(slack.Requests().size(), 1u);
  EXPECT_EQ(f->Counters().retries, 0u);
}

std::unique_ptr<HttpForwarder> HecForwarder(const HttpReceiver& hec) {
  return Forwarder(hec.Url("/services/collector/event"), collector::SplunkHecFormat("t"), Quick());
}

const char kHecOk[] = R"~({"text":"Success","code":0})~";

TEST(SplunkHecForwarder, PostsHecEventsWithTheTokenHeader) {
  HttpReceiver hec({.fallback = HttpResponseText(200, kHecOk)});
  auto f = Forwarder(hec.Url("/services/collector/event"),
                     collector::SplunkHecFormat("11111111-2222-3333-4444-555555555555"), Quick());
  v1::Alert a = FixedAlert();
  f->OnFreshAlert(a);
  auto got = hec.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].RequestLine(), "POST /services/collector/event HTTP/1.1");
  EXPECT_EQ(got[0].Header("Authorization"), "Splunk 11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(
      got[0].body,
      R"~({"time":1764657000.123,"host":"runner-1","source":"credsentry",)~"
      R"~("sourcetype":"credsentry:alert","event":{"id":"a-1","time_ns":"1764657000123456789",)~"
      R"~("kind":"secret-egress","severity":"SEVERITY_HIGH",)~"
      R"~("summary":"anthropic key sent to paste.example","host":"runner-1",)~"
      R"~("process":{"pid":4242,"comm":"curl"},"secret":{"type":"anthropic-api-key",)~"
      R"~("redacted":"sk-ant-…Xa9f","fingerprint":"hmac-sha256:1f2e3d4c","found_in":"tls-write"},)~"
      R"~("destination":{"host":"paste.example","ip":"203.0.113.7","port":443,)~"
      R"~("transport":"tls","name_source":"sni"}}})~");
  EXPECT_EQ(WaitCounters(*f, [](auto c) { return c.sent == 1; }).sent, 1u);
}

TEST(SplunkHecForwarder, QueuedAlertsTravelTogetherInOnePost) {
  // The first POST is answered late, so the next two alerts wait in the queue meanwhile.
  HttpReceiver hec({.fallback = HttpResponseText(200, kHecOk), .hold_first_ms = 300});
  auto f = HecForwarder(hec);
  f->OnFreshAlert(FixedAlert("a-1"));
  ASSERT_EQ(hec.WaitFor(1).size(), 1u);
  f->OnFreshAlert(FixedAlert("a-2"));
  f->OnFreshAlert(FixedAlert("a-3"));
  auto got = hec.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, collector::HecEvent(FixedAlert("a-1")));
  EXPECT_EQ(got[1].body,
            collector::HecEvent(FixedAlert("a-2")) + "\n" + collector::HecEvent(FixedAlert("a-3")));
  EXPECT_EQ(WaitCounters(*f, [](auto c) { return c.sent == 3; }).sent, 3u);
}

TEST(SplunkHecForwarder, RetriesABusyServerAndStopsAtTheBound) {
  const std::string busy = HttpResponseText(503, R"~({"text":"Server is busy","code":9})~");
  {
    HttpReceiver hec({.script = {busy}, .fallback = HttpResponseText(200, kHecOk)});
    auto f = HecForwarder(hec);
    f->OnFreshAlert(FixedAlert());
    auto c = WaitCounters(*f, [](auto c) { return c.sent == 1; });
    EXPECT_EQ(c.sent, 1u);
    EXPECT_EQ(c.retries, 1u);
    auto got = hec.Requests();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].body, got[1].body);
  }
  HttpReceiver hec({.fallback = busy});
  auto f = HecForwarder(hec);
  f->OnFreshAlert(FixedAlert());
  auto c = WaitCounters(*f, [](auto c) { return c.dropped_gave_up == 1; });
  EXPECT_EQ(c.dropped_gave_up, 1u);
  EXPECT_EQ(c.retries, 2u);
  EXPECT_EQ(hec.Requests().size(), 3u);  // Quick(): three attempts
}

TEST(SplunkHecForwarder, BadDataOrBadTokenIsNotRetried) {
  for (const auto& response :
       {HttpResponseText(400, R"~({"text":"Invalid data format","code":6})~"),
        HttpResponseText(403, R"~({"text":"Invalid token","code":4})~"),
        HttpResponseText(200, "<html>a proxy's login page</html>")}) {
    HttpReceiver hec({.fallback = response});
    auto f = HecForwarder(hec);
    f->OnFreshAlert(FixedAlert());
    auto c = WaitCounters(*f, [](auto c) { return c.dropped_rejected == 1; });
    EXPECT_EQ(c.dropped_rejected, 1u) << response;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(hec.Requests().size(), 1u) << response;
    EXPECT_EQ(f->Counters().retries, 0u) << response;
    EXPECT_EQ(f->Counters().sent, 0u) << response;
  }
}

TEST(HttpForwarder, ServerDownAndQueueFullAreCountedAsDrops) {
  const std::string url = "http://127.0.0.1:" + std::to_string(FreePort()) + "/x";
  auto f = Forwarder(url, collector::SlackFormat(), Quick(/*max_queue=*/2));
  for (int i = 0; i < 6; ++i) f->OnFreshAlert(FixedAlert("a-" + std::to_string(i)));
  auto c = WaitCounters(*f, [](auto c) { return c.dropped_gave_up + c.dropped_queue_full == 6; });
  // Two fit the queue and one more may already be in flight; the rest find the queue full.
  EXPECT_EQ(c.dropped_gave_up + c.dropped_queue_full, 6u);
  EXPECT_GE(c.dropped_queue_full, 3u);
  EXPECT_GE(c.dropped_gave_up, 2u);
  EXPECT_EQ(c.retries, 2 * c.dropped_gave_up);  // each gave-up alert: three attempts
  EXPECT_EQ(c.sent, 0u);
}

TEST(HttpForwarder, AlertsStillQueuedAtStopAreCountedAsDroppedAtShutdown) {
  collector::ForwardSettings s;
  s.webhook_url = "http://127.0.0.1:" + std::to_string(FreePort()) + "/hook";  // nobody listens
  s.delivery = Quick();
  s.delivery.backoff_ms = s.delivery.max_backoff_ms = 10000;  // the first alert waits to retry
  auto fwd = collector::Forwarders::Open(s);
  ASSERT_TRUE(fwd.ok()) << fwd.message();
  for (int i = 0; i < 3; ++i) (*fwd)->OnFreshAlert(FixedAlert("q-" + std::to_string(i)));
  auto start = std::chrono::steady_clock::now();
  (*fwd)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ((*fwd)->Counters()["webhook_dropped_at_shutdown"], 3u);
  (*fwd)->OnFreshAlert(FixedAlert("late"));  // e.g. a fleet alert raised while stopping
  auto c = (*fwd)->Counters();
  EXPECT_EQ(c["webhook_dropped_at_shutdown"], 4u);
  EXPECT_EQ(c["webhook_sent"] + c["webhook_dropped_gave_up"], 0u);
}

TEST(HttpForwarder, AFullQueueDropsAlertsWithoutFormattingThem) {
  HttpReceiver slow({.hold_first_ms = 500});
  std::atomic<int> formatted{0};
  HttpFormat format = collector::WebhookFormat();
  format.payload = [&](const v1::Alert& a) {
    ++formatted;
    return a.id();
  };
  auto f = Forwarder(slow.Url("/hook"), std::move(format), Quick(/*max_queue=*/1));
  f->OnFreshAlert(FixedAlert("in-flight"));
  ASSERT_EQ(slow.WaitFor(1).size(), 1u);  // taken off the queue, its POST held
  for (int i = 0; i < 10; ++i) f->OnFreshAlert(FixedAlert("more-" + std::to_string(i)));
  EXPECT_EQ(f->Counters().dropped_queue_full, 9u);
  EXPECT_EQ(formatted.load(), 2);  // the in-flight one and the one that fit
}

TEST(HttpForwarder, CountersByForwarderAndTheFlatListAgree) {
  HttpReceiver hook;
  collector::ForwardSettings s;
  s.webhook_url = hook.Url("/hook");
  auto fwd = collector::Forwarders::Open(s);
  ASSERT_TRUE(fwd.ok()) << fwd.message();
  auto by = (*fwd)->CountersByForwarder();
  auto flat = (*fwd)->Counters();
  ASSERT_EQ(by.size(), 1u);
  EXPECT_EQ(by["webhook"].size(), flat.size());
  for (const auto& [name, value] : by["webhook"]) EXPECT_EQ(flat.at("webhook_" + name), value);
}

TEST(HttpForwarder, NoRawSecretReachesAnyFormat) {
  const std::string raw = SyntheticSecret();
  v1::Alert a = FixedAlert();
  // What the agent sends: a preview and a keyed fingerprint, never the value.
  a.mutable_secret()->set_redacted(raw.substr(0, 7) + "…" + raw.substr(raw.size() - 4));
  a.mutable_secret()->set_fingerprint("hmac-sha256:9c1d");
  HttpReceiver slack({.fallback = HttpResponseText(200, "ok")});
  HttpReceiver hec({.fallback = HttpResponseText(200, kHecOk)});
  HttpReceiver hook;
  collector::ForwardSettings s;
  s.slack_url = slack.Url("/services/T/B/X");
  s.webhook_url = hook.Url("/hook");
  s.splunk_url = hec.Url("/services/collector/event");
  TempDir dir;
  { std::ofstream(dir / "token") << "t0k3n\n"; }
  s.splunk_token_file = dir / "token";
  auto fwd = collector::Forwarders::Open(s);
  ASSERT_TRUE(fwd.ok()) << fwd.message();
  (*fwd)->OnFreshAlert(a);
  for (auto* r : {&slack, &hec, &hook}) {
    auto got = r->WaitFor(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].body.find(a.secret().redacted()), std::string::npos) << got[0].body;
    EXPECT_NE(got[0].body.find("hmac-sha256:9c1d"), std::string::npos);
    EXPECT_EQ(got[0].body.find(raw), std::string::npos);
    EXPECT_EQ(got[0].body.find(raw.substr(7, 20)), std::string::npos);
  }
  EXPECT_EQ(hec.Requests()[0].Header("Authorization"), "Splunk t0k3n");
  auto counters = (*fwd)->Counters();
  for (const char* name :
       {"webhook_sent", "slack_sent", "splunk_sent", "slack_retries", "splunk_dropped_queue_full",
        "webhook_dropped_gave_up", "slack_dropped_rejected", "splunk_dropped_at_shutdown"}) {
    EXPECT_TRUE(counters.count(name)) << name;
  }
}

TEST(HttpClient, HttpsVerifiesTheServerAgainstTheGivenCa) {
  TempDir dir;
  ASSERT_TRUE(MakePki(dir / "pki"));
  HttpReceiver tls({.tls_cert = dir / "pki/server.pem", .tls_key = dir / "pki/server.key"});
  auto url = collector::ParseHttpUrl(tls.Url("/hook"));
  ASSERT_TRUE(url.ok() && url->tls);
  auto trusted = HttpClient::Open(*url, dir / "pki/ca.pem");
  ASSERT_TRUE(trusted.ok()) << trusted.message();
  auto r = (*trusted)->Post("{}");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 204);

  for (const std::string& ca : {std::string(), dir / "pki/rogue-ca.pem"}) {
    auto untrusted = HttpClient::Open(*url, ca);  // "": the system's roots, which lack the test CA
    ASSERT_TRUE(untrusted.ok()) << untrusted.message();
    auto refused = (*untrusted)->Post("{}");
    ASSERT_FALSE(refused.ok()) << ca;
    EXPECT_NE(refused.message().find("certificate not trusted"), std::string::npos)
        << refused.message();
  }
  EXPECT_EQ(tls.Requests().size(), 1u);  // only the verified client sent its request
}

TEST(HttpClient, ParsesTheUrlsForwardersTake) {
  auto u = collector::ParseHttpUrl("https://hec.example:8088/services/collector/event");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "hec.example");
  EXPECT_EQ(u->port, 8088);
  EXPECT_EQ(u->path, "/services/collector/event");
  EXPECT_EQ(u->Origin(), "https://hec.example:8088");
  u = collector::ParseHttpUrl("https://[::1]/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 443);
  EXPECT_TRUE(u->IsLoopback());
  for (const char* host : {"http://127.0.0.2/", "http://localhost/", "http://[::ffff:127.0.0.1]/"})
    EXPECT_TRUE(collector::ParseHttpUrl(host)->IsLoopback()) << host;
  for (const char* host :
       {"http://10.0.0.1/", "http://[::ffff:10.0.0.1]/", "http://hooks.slack.com/"})
    EXPECT_FALSE(collector::ParseHttpUrl(host)->IsLoopback()) << host;
  for (const char* bad :
       {"ftp://x/", "https://:443/", "https://h:99999/", "https://u:p@h/", "http://h/a b"}) {
    EXPECT_FALSE(collector::ParseHttpUrl(bad).ok()) << bad;
  }
}

// A Slack incoming webhook's path is its credential, and a URL's user:password is one too: an
// error quotes only the scheme, host and port, whatever is wrong with the rest.
TEST(HttpClient, UrlErrorsQuoteOnlySchemeHostAndPort) {
  struct Case {
    std::string url, message;
  } cases[] = {
      {"ftp://hooks.slack.com/services/T0/B0/SeCrEtPaTh",
       "--slack URL 'ftp://hooks.slack.com' must start with http:// or https://"},
      {"https://hooks.slack.com:99999/services/T0/B0/SeCrEtPaTh",
       "--slack URL 'https://hooks.slack.com:99999' has a bad port"},
      {"https://hooks.slack.com:1x?SeCrEtPaTh",
       "--slack URL 'https://hooks.slack.com:1x' has a bad port"},
      {"https:///services/T0/B0/SeCrEtPaTh", "--slack URL 'https://' has no host"},
      {"https://[::1/services/T0/B0/SeCrEtPaTh", "--slack URL 'https://[::1' has an unclosed '['"},
      {"https://hooks.slack.com/services/T0/B0/SeCrEtPaTh x",
       "--slack URL 'https://hooks.slack.com' has a space or control character in its path"},
      {"https://user:SeCrEtPaTh@hooks.slack.com/services/T0",
       "--slack URL 'https://...@hooks.slack.com' carries credentials before the host"},
  };
  for (const auto& c : cases) {
    auto parsed = collector::ParseHttpUrl(c.url, "--slack URL");
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_NE(parsed.message().find(c.message), std::string::npos) << parsed.message();
    EXPECT_EQ(parsed.message().find("SeCrEtPaTh"), std::string::npos) << parsed.message();
    EXPECT_EQ(parsed.message().find("services"), std::string::npos) << parsed.message();
  }
  auto query = collector::ParseHttpUrl("http://127.0.0.1:8080?k=v");
  ASSERT_TRUE(query.ok()) << query.message();
  EXPECT_EQ(query->port, 8080);
  EXPECT_EQ(query->path, "/?k=v");
}

}  // namespace
}  // namespace credsentry::testing
