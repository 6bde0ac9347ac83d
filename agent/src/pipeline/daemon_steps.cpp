#include "pipeline/daemon_steps.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "catalogue/rules.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "pipeline/inventory.h"
#include "report/file_sink.h"

namespace credsentry::pipeline {

Result<Catalogue> CompileCatalogue(const config::AgentConfig& cfg) {
  auto rules = catalogue::LoadRules(cfg.rules_dirs);
  if (!rules) return Error{rules.message()};
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  if (!db) return Error{db.message()};
  return Catalogue(*db);
}

Result<Outputs> OpenOutputs(const config::AgentConfig& cfg, const StatsSnapshot& heartbeat_stats) {
  if (auto dir = std::filesystem::path(cfg.fingerprint_key_file).parent_path(); !dir.empty()) {
    std::error_code ec;  // the state directory is ours alone: 0700
    if (std::filesystem::create_directories(dir, ec)) {
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
  }
  auto fp = report::Fingerprinter::FromKeyFile(cfg.fingerprint_key_file, true);
  if (!fp) return Error{"fingerprint key: " + fp.message()};
  Outputs out{std::move(*fp), {}, nullptr};
  const auto format = cfg.alert_format == "text"   ? report::AlertFormat::kText
                     : cfg.alert_format == "json" ? report::AlertFormat::kJson
                                                  : report::AlertFormat::kAuto;
  auto file_sink = report::FileSink::Open(cfg.alerts_file, format);
  if (!file_sink) return Error{file_sink.message()};
  out.sinks.push_back(std::move(*file_sink));
  if (cfg.collector.address.empty()) return out;

  report::CollectorOptions co;
  co.address = cfg.collector.address;
  co.ca_file = cfg.collector.ca_file;
  co.cert_file = cfg.collector.cert_file;
  co.key_file = cfg.collector.key_file;
  co.spool_dir = cfg.collector.spool_dir;
  co.spool_max_bytes = cfg.collector.spool_max_bytes;
  co.agent_host = Hostname();
  co.defer_start = true;
  auto collector = report::CollectorSink::Create(co);
  if (!collector) return Error{"collector: " + collector.message()};
  out.collector = collector->get();
  // The sender thread reads the snapshot the loop publishes.
  out.collector->SetStatsProvider([&heartbeat_stats] { return heartbeat_stats.Get(); });
  out.sinks.push_back(std::move(*collector));
  return out;
}

std::vector<report::StoredCredential> PrimeState(Pipeline& pipeline, const state::Scope& scope,
                                                 loader::WatchedFdTable& fds,
                                                 const Catalogue& catalogue,
                                                 const report::Fingerprinter& fp) {
  pipeline.processes().LoadFromProc();
  // Only processes in scope are in the table, so only their sockets are looked at.
  size_t unwatched = 0;
  std::string first_error;
  for (const auto& s : pipeline.connections().LoadFromProc(scope, pipeline.processes().Pids())) {
    auto st =
        fds.WatchSocket(s.pid, s.fd, s.udp ? loader::SocketKind::kUdp : loader::SocketKind::kTcp);
    if (st) continue;
    if (unwatched++ == 0) first_error = st.message();
  }
  if (unwatched != 0) {
    // Their later writes are not captured: say so once, with the first reason.
    spdlog::warn("{} sockets open before start-up are not watched; the first: {}", unwatched,
                 first_error);
  }
  if (!scope.whole_host()) return {};
  auto inventory = BuildInventory(catalogue, fp);
  for (const auto& c : inventory) pipeline.AddKnownSecret(c.fingerprint, c.path);
  spdlog::info("inventory: {} stored credentials in the catalogue's files", inventory.size());
  return inventory;
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void NotifySystemd(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  sendto(fd.get(), state, std::strlen(state), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
}

}  // namespace credsentry::pipeline
