// credsentry-agent: start-up steps in order. Everything else lives in the stages under src/.
#include <openssl/rand.h>

#include <iostream>

#include "common/log.h"
#include "config/agent_config.h"
#include "catalogue/rules.h"
#include "loader/libbpf_log.h"
#include "loader/probes.h"
#include "pipeline/daemon.h"
#include "report/fingerprint.h"
#include "scan/scan.h"
#include "match/matcher.h"

using namespace credsentry;

namespace {

int RunScanCommand(const config::CommandLine& cl) {
  auto rules = catalogue::LoadRules(cl.config.rules_dirs);
  if (!rules) {
    std::cerr << "credsentry-agent: rules: " << rules.message() << "\n";
    return 2;
  }
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  if (!db) {
    std::cerr << "credsentry-agent: rules: " << db.message() << "\n";
    return 2;
  }
  // A scan on a host without the agent's key still gets stable-within-run fingerprints.
  auto fp = report::Fingerprinter::FromKeyFile(cl.config.fingerprint_key_file, false);
  std::string ephemeral(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(ephemeral.data()), static_cast<int>(ephemeral.size()));
  report::Fingerprinter fingerprinter = fp ? *fp : report::Fingerprinter(ephemeral);
  return scan::RunScan(cl.scan_paths, **db, fingerprinter, std::cout, std::cerr);
}

int RunCheck(const config::AgentConfig& cfg) {
  loader::ProbeOptions po;
  po.cgroup_paths = cfg.cgroups;
  po.extra_tls_libraries = cfg.extra_tls_libraries;
  auto report = loader::ProbeFeatures(po);
  std::cout << "mode: " << config::ModeName(cfg.mode) << "\n";
  std::cout << report.ToText();
  auto rules = catalogue::LoadRules(cfg.rules_dirs);
  if (rules) {
    std::cout << "rules: " << rules->kinds.size() << " credential kinds from "
              << rules->loaded_files.size() << " files (" << rules->digest << ")\n";
  } else {
    std::cout << "rules: ERROR " << rules.message() << "\n";
  }
  if (!rules) std::cout << "result: the agent CANNOT run with these rules\n";
  return report.can_run && rules ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto cl = config::ParseCommandLine(argc, argv);
  if (!cl) {
    std::cerr << "credsentry-agent: " << cl.message() << "\n";
    return 2;
  }
  switch (cl->command) {
    case config::Command::kVersion:
      std::cout << "credsentry-agent " << CREDSENTRY_VERSION << "\n";
      return 0;
    case config::Command::kHelp:
      std::cout << cl->help_text;
      return 0;
    case config::Command::kScan:
      return RunScanCommand(*cl);
    default:
      break;
  }
  if (auto st = log::Init(cl->config.log_level, cl->config.log_file); !st) {
    std::cerr << "credsentry-agent: " << st.message() << "\n";
    return 2;
  }
  loader::RouteLibbpf();
  if (cl->command == config::Command::kCheck) return RunCheck(cl->config);
  return pipeline::RunDaemon(cl->config);
}
