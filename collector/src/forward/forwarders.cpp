#include "forward/forwarders.h"

#include <spdlog/spdlog.h>

#include "common/counters.h"
#include "forward/slack_message.h"
#include "forward/splunk_hec.h"
#include "forward/webhook_forwarder.h"

namespace credsentry::collector {

namespace {

// A Slack URL's path and a HEC token are credentials: they travel over TLS, except to this host.
Result<HttpUrl> ParseEndpoint(const std::string& url, const std::string& flag, bool secret) {
  auto parsed = ParseHttpUrl(url, flag + " URL");
  if (!parsed.ok()) return parsed;
  if (secret && !parsed->tls && !parsed->IsLoopback()) {
    return Error{flag + " URL '" + parsed->Origin() +
                 "' must be https:// (it carries a credential); plain http:// is for loopback"};
  }
  return parsed;
}

}  // namespace

Result<std::unique_ptr<Forwarders>> Forwarders::Open(const ForwardSettings& s) {
  struct Endpoint {
    std::string url, flag;
    HttpFormat format;
    bool secret;  // the URL's path or a header is a credential
  };
  std::vector<Endpoint> endpoints;
  if (!s.webhook_url.empty())
    endpoints.push_back({s.webhook_url, "--webhook", WebhookFormat(), false});
  if (!s.slack_url.empty()) endpoints.push_back({s.slack_url, "--slack", SlackFormat(), true});
  if (s.splunk_url.empty() != s.splunk_token_file.empty()) {
    return Error{"--splunk and --splunk-token-file go together"};
  }
  if (!s.splunk_url.empty()) {
    auto token = ReadHecToken(s.splunk_token_file);
    if (!token.ok()) return token.error();
    std::string url = s.splunk_url;
    if (auto p = ParseHttpUrl(url, "--splunk URL"); p.ok() && p->path == "/") {
      url = p->Origin() + "/services/collector/event";  // the endpoint HEC documents
    }
    endpoints.push_back({url, "--splunk", SplunkHecFormat(*token), true});
  }

  auto out = std::make_unique<Forwarders>();
  for (auto& e : endpoints) {
    auto parsed = ParseEndpoint(e.url, e.flag, e.secret);
    if (!parsed.ok()) return parsed.error();
    auto client = HttpClient::Open(*parsed, s.ca_file);
    if (!client.ok()) return Error{e.flag + ": " + client.message()};
    DeliveryOptions& d = e.format.delivery;  // the format's batch size stays
    d.max_queue = s.delivery.max_queue;
    d.attempts = s.delivery.attempts;
    d.backoff_ms = s.delivery.backoff_ms;
    d.max_backoff_ms = s.delivery.max_backoff_ms;
    spdlog::info("forwarding fresh alerts to {} ({})", parsed->Origin(), e.format.name);
    out->http_.push_back(std::make_unique<HttpForwarder>(std::move(*client), std::move(e.format)));
  }
  if (s.syslog) out->others_.push_back(std::make_unique<SyslogForwarder>());
  return out;
}

void Forwarders::OnFreshAlert(const v1::Alert& alert) {
  for (auto& f : http_) f->OnFreshAlert(alert);
  for (auto& f : others_) f->OnFreshAlert(alert);
}

void Forwarders::Stop() {
  for (auto& f : http_) f->Stop();
}

std::map<std::string, std::map<std::string, uint64_t>> Forwarders::CountersByForwarder() const {
  std::map<std::string, std::map<std::string, uint64_t>> out;
  for (const auto& f : http_) ExportCounters(f->Counters(), "", out[f->name()]);
  return out;
}

std::map<std::string, uint64_t> Forwarders::Counters() const {
  std::map<std::string, uint64_t> out;
  for (const auto& [forwarder, counters] : CountersByForwarder()) {
    for (const auto& [name, value] : counters) out[forwarder + "_" + name] = value;
  }
  return out;
}

}  // namespace credsentry::collector
