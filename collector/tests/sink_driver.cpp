// A stand-in agent for the SIGKILL test: spools `--count` synthetic alerts through the real
// CollectorSink, says "written", then waits until the collector acknowledged everything.
// Restarted with --count 0 it only drains what the killed run left in the spool.
#include <iostream>
#include <string>

#include "report/collector_sink.h"

using namespace credsentry::report;

int main(int argc, char** argv) {
  CollectorOptions opts;
  int count = 0;
  std::string prefix = "alert";
  std::string pki;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--collector") opts.address = value;
    else if (flag == "--pki") pki = value;
    else if (flag == "--spool") opts.spool_dir = value;
    else if (flag == "--host") opts.agent_host = value;
    else if (flag == "--count") count = std::stoi(value);
    else if (flag == "--prefix") prefix = value;
    else if (flag == "--batch") opts.batch_max = std::stoi(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (!pki.empty()) {  // the collector accepts only the certificate issued for --host
    std::string cert = opts.agent_host.empty() ? "client" : "agent-" + opts.agent_host;
    opts.ca_file = pki + "/ca.pem";
    opts.cert_file = pki + "/" + cert + ".pem";
    opts.key_file = pki + "/" + cert + ".key";
  }
  opts.backoff_initial_ms = 50;
  opts.backoff_max_ms = 500;
  auto sink = CollectorSink::Create(opts);
  if (!sink.ok()) {
    std::cerr << sink.message() << "\n";
    return 1;
  }
  for (int i = 0; i < count; ++i) {
    credsentry::alert::Alert a;
    a.id = prefix + "-" + std::to_string(i);
    a.time_ns = 1;
    a.kind = "secret-egress";
    a.severity = credsentry::alert::Severity::kHigh;
    a.summary = "synthetic";
    a.host = opts.agent_host;
    a.secret.redacted = "sk-ant-…AA";
    a.secret.fingerprint = "test-fp:1";
    if (auto st = (*sink)->Write(a); !st.ok()) {
      std::cerr << st.message() << "\n";
      return 1;
    }
  }
  std::cout << "written " << count << std::endl;
  bool drained = (*sink)->WaitDrained(60'000);
  std::cout << (drained ? "drained" : "not drained") << std::endl;
  return drained ? 0 : 1;
}
