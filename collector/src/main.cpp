// credsentry-collector: `serve` runs the gRPC service; `alerts`, `hosts`, `inventory` query the
// store. Start-up is a short ordered list: flags, store, observers, server, wait for a signal.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "correlate/fleet_correlator.h"
#include "common/metrics_server.h"
#include "console/console_server.h"
#include "forward/forwarders.h"
#include "ingest/collector_metrics.h"
#include "ingest/collector_service.h"
#include "query/flags.h"
#include "query/query_cli.h"

using namespace credsentry::collector;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

constexpr const char* kUsage = R"(usage:
  credsentry-collector serve --listen HOST:PORT --db PATH|postgres://... --ca CA --cert CERT --key KEY
      [--insecure] [--webhook URL] [--slack URL] [--splunk URL --splunk-token-file PATH]
      [--forward-ca PEM] [--syslog] [--heartbeat-timeout 90s]
      [--shared-hosts 3] [--id NAME] [--port-file PATH] [--log-level info]
      [--commit group|per-batch] [--metrics-listen HOST:PORT [--metrics-allow-remote]]
      [--allow-shared-identity]
      [--console-listen HOST:PORT --console-token-file PATH [--console-port-file PATH]]
  credsentry-collector alerts [--db DB] [--since 1h] [--host H] [--kind K] [--fingerprint F] [--json]
  credsentry-collector hosts [--db DB] [--json]
  credsentry-collector inventory [--db DB] [--host H] [--fingerprint F] [--json]
)";

int Fail(const std::string& msg, int code = 1) {
  std::cerr << "credsentry-collector serve: " << msg << "\n";
  return code;
}

int Serve(const std::vector<std::string>& args) {
  auto flags = ParseFlags(args,
                          {"listen", "db", "ca", "cert", "key", "webhook", "heartbeat-timeout",
                           "shared-hosts", "id", "port-file", "log-level", "sweep-interval",
                           "commit", "slack", "splunk", "splunk-token-file", "forward-ca",
                           "metrics-listen", "console-listen", "console-token-file",
                           "console-port-file"},
                          {"insecure", "syslog", "metrics-allow-remote", "allow-shared-identity"});
  if (!flags.ok()) return Fail(flags.message(), 2);
  // The forwarders' TLS writes go through SSL_write on a socket BIO, which cannot pass
  // MSG_NOSIGNAL: an https endpoint that closes mid-write would otherwise kill the collector.
  signal(SIGPIPE, SIG_IGN);
  std::optional<credsentry::metrics::MetricsEndpoint> metrics_at;
  if (auto addr = flags->Get("metrics-listen"); !addr.empty()) {
    auto ep = credsentry::metrics::ParseMetricsListen(addr, flags->Has("metrics-allow-remote"),
                                                      "--metrics-allow-remote");
    if (!ep.ok()) return Fail("--metrics-listen " + ep.message(), 2);
    metrics_at = *ep;
  }
  spdlog::set_level(spdlog::level::from_str(flags->Get("log-level", "info")));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CorrelationOptions corr;
  auto timeout = ParseDuration(flags->Get("heartbeat-timeout", "90s"));
  if (!timeout.ok()) return Fail("--heartbeat-timeout: " + timeout.message(), 2);
  corr.heartbeat_timeout_ns = *timeout;
  auto sweep = ParseDuration(flags->Get("sweep-interval", "5s"));
  if (!sweep.ok()) return Fail("--sweep-interval: " + sweep.message(), 2);
  corr.sweep_interval_ns = *sweep;
  try {
    corr.shared_host_threshold = std::stoll(flags->Get("shared-hosts", "3"));
  } catch (...) {
    return Fail("--shared-hosts must be a number", 2);
  }

  std::string db = flags->Get("db", "/var/lib/credsentry/collector.db");
  auto store = AlertStore::Open(db);
  if (!store.ok()) return Fail(store.message());

  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  std::string id = flags->Get("id", std::string(hostname) + ":" + std::to_string(getpid()));
  IngestOptions ingest;
  if (auto mode = flags->Get("commit", "group"); mode == "per-batch") {
    ingest.group_commit = false;  // one transaction per RPC batch: comparisons only
  } else if (mode != "group") {
    return Fail("--commit must be 'group' or 'per-batch', not '" + mode + "'", 2);
  }
  ingest.allow_shared_identity = flags->Has("allow-shared-identity");
  CollectorService service(**store, id, ingest);

  ForwardSettings forward;
  forward.webhook_url = flags->Get("webhook");
  forward.slack_url = flags->Get("slack");
  forward.splunk_url = flags->Get("splunk");
  forward.splunk_token_file = flags->Get("splunk-token-file");
  forward.ca_file = flags->Get("forward-ca");
  forward.syslog = flags->Has("syslog");
  auto forwarders = Forwarders::Open(forward);
  if (!forwarders.ok()) return Fail(forwarders.message(), 2);
  service.AddObserver(forwarders->get());
  FleetCorrelator correlator(**store, corr, [&](const credsentry::v1::Alert& a) {
    (*forwarders)->OnFreshAlert(a);
  });
  service.AddObserver(&correlator);

  std::unique_ptr<console::ConsoleServer> console_server;
  if (auto at = flags->Get("console-listen"); !at.empty()) {
    console::ConsoleOptions copts{at, flags->Get("console-token-file"), flags->Get("cert"),
                                  flags->Get("key"), id, flags->Get("console-port-file"),
                                  {corr.heartbeat_timeout_ns}};
    auto started = console::ConsoleServer::Start(copts, db);
    if (!started.ok()) return Fail(started.message(), 2);
    console_server = std::move(*started);
  }

  ServerOptions server_opts;
  server_opts.listen = flags->Get("listen", server_opts.listen);
  server_opts.ca_file = flags->Get("ca");
  server_opts.cert_file = flags->Get("cert");
  server_opts.key_file = flags->Get("key");
  server_opts.insecure = flags->Has("insecure");
  int port = 0;
  auto server = StartServer(server_opts, &service, &port);
  if (!server.ok()) return Fail(server.message());
  correlator.StartSweeper();
  spdlog::info("collector {} listening on port {} ({}, schema v{})", id, port,
               (*store)->db().Dialect(), (*store)->SchemaVersion());
  // Each scrape copies the counters (atomics, and the committer's and forwarders' locks for a
  // few integers): no ingest path waits on it for longer than that.
  std::unique_ptr<credsentry::metrics::MetricsServer> metrics;
  if (metrics_at) {
    auto started = credsentry::metrics::MetricsServer::Start(*metrics_at, [&] {
      auto by_forwarder = (*forwarders)->CountersByForwarder();
      auto counters = service.Counters();
      if (console_server) console_server->AddCounters(counters);
      return CollectorMetrics(counters, service.CommitLatencies(), by_forwarder).Text();
    });
    if (!started.ok()) return Fail(started.message());
    metrics = std::move(*started);
    spdlog::info("metrics on http://{}:{}/metrics", metrics_at->host, metrics->port());
  }
  if (auto pf = flags->Get("port-file"); !pf.empty()) {
    // Written after the server listens, so a test that sees the file can connect.
    std::string tmp = pf + ".tmp";
    if (FILE* f = fopen(tmp.c_str(), "w")) {
      fprintf(f, "%d\n", port);
      fclose(f);
      rename(tmp.c_str(), pf.c_str());
    }
  }

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("collector stopping");
  (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  (*forwarders)->Stop();  // before the counters: what was still queued is counted then
  for (const auto& [name, value] : service.Counters()) spdlog::info("{} = {}", name, value);
  for (const auto& [name, value] : (*forwarders)->Counters()) spdlog::info("{} = {}", name, value);
  if (console_server) {
    CounterMap console_counters;
    console_server->AddCounters(console_counters);
    for (const auto& [name, value] : console_counters) spdlog::info("{} = {}", name, value);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "credsentry-collector " << CREDSENTRY_VERSION << "\n";
    return 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return Serve(args);
  if (command == "alerts" || command == "hosts" || command == "inventory") {
    return RunQueryCommand(command, args, std::cout, std::cerr);
  }
  std::cerr << "credsentry-collector: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
