#include "pipeline/daemon.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/unique_fd.h"
#include "catalogue/rules.h"
#include "loader/exe_attach.h"
#include "loader/go_tls.h"
#include "loader/probes.h"
#include "pipeline/credential_watch.h"
#include "pipeline/inventory.h"
#include "pipeline/privileges.h"
#include "pipeline/pipeline.h"
#include "report/collector_sink.h"
#include "report/file_sink.h"
#include "report/fingerprint.h"
#include "state/scope.h"
#include "match/matcher.h"

namespace credsentry::pipeline {
namespace {

// Signal handlers only flip these; the loop does the work.
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void OnSignal(int sig) {
  if (sig == SIGHUP) g_reload = true;
  else g_stop = true;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// systemd Type=notify without linking libsystemd: one datagram to $NOTIFY_SOCKET.
void NotifySystemd(const char* state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  sendto(fd.get(), state, std::strlen(state), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

Result<std::shared_ptr<const match::MatcherDatabase>> LoadMatcher(const config::AgentConfig& cfg) {
  auto rules = catalogue::LoadRules(cfg.rules_dirs);
  if (!rules) return Error{rules.message()};
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  if (!db) return Error{db.message()};
  return *db;
}

// Counters as last published by the main loop, for readers on other threads.
class StatsSnapshot {
 public:
  void Set(std::map<std::string, uint64_t> m) {
    std::lock_guard lock(mu_);
    counters_ = std::move(m);
  }
  std::map<std::string, uint64_t> Get() const {
    std::lock_guard lock(mu_);
    return counters_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> counters_;
};

std::map<std::string, uint64_t> FlatCounters(const loader::Probes& probes, const Pipeline& p) {
  std::map<std::string, uint64_t> out;
  for (const auto& [k, v] : probes.Counters()) out["kernel_" + k] = v;
  for (const auto& [k, v] : p.Counters()) out[k] = v;
  return out;
}

class ProbesControl : public KernelControl {
 public:
  explicit ProbesControl(loader::WatchedFdTable& fds) : fds_(fds) {}
  void UnwatchFd(uint32_t pid, int32_t fd) override { fds_.Unwatch(pid, fd); }
  void OnExec(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns) override {
    if (exe_attacher_) exe_attacher_->OnExec(pid, filename, exec_mono_ns);
  }
  void SetExeAttacher(loader::ExeAttacher* a) { exe_attacher_ = a; }

 private:
  loader::WatchedFdTable& fds_;
  loader::ExeAttacher* exe_attacher_ = nullptr;
};

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void WriteStats(const std::string& path, const loader::Probes& probes, const Pipeline& pipeline,
                const std::vector<std::unique_ptr<report::AlertSink>>& sinks,
                const std::string& rules_version) {
  nlohmann::json j;
  j["rules_version"] = rules_version;
  j["kernel"] = probes.Counters();
  j["pipeline"] = pipeline.Counters();
  for (const auto& s : sinks) j["sinks"][s->Name()] = s->Counters();
  if (path.empty()) {
    spdlog::info("counters: {}", j.dump());
    return;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      spdlog::warn("cannot write stats file {}", tmp);
      return;
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int RunDaemon(const config::AgentConfig& cfg) {
  InstallSignalHandlers();

  // 1. Rules first: a bad catalogue stops start-up before anything is attached.
  auto db = LoadMatcher(cfg);
  if (!db) {
    spdlog::critical("rules: {}", db.message());
    return 1;
  }
  std::string rules_version = (*db)->rules().digest;
  spdlog::info("rules {}: {} credential kinds, {} credential files, compiled in {:.1f} ms",
               rules_version, (*db)->rules().kinds.size(), (*db)->rules().files.size(),
               (*db)->compile_ms());

  // 2. Fingerprint key and outputs.
  if (auto dir = std::filesystem::path(cfg.fingerprint_key_file).parent_path(); !dir.empty()) {
    std::error_code ec;  // the state directory is ours alone: 0700
    if (std::filesystem::create_directories(dir, ec)) {
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
  }
  auto fp = report::Fingerprinter::FromKeyFile(cfg.fingerprint_key_file, true);
  if (!fp) {
    spdlog::critical("fingerprint key: {}", fp.message());
    return 1;
  }
  std::vector<std::unique_ptr<report::AlertSink>> sinks;
  report::CollectorSink* collector = nullptr;
  StatsSnapshot stats;
  auto file_sink = report::FileSink::Open(cfg.alerts_file);
  if (!file_sink) {
    spdlog::critical("{}", file_sink.message());
    return 1;
  }
  sinks.push_back(std::move(*file_sink));
  if (!cfg.collector.address.empty()) {
    report::CollectorOptions co;
    co.address = cfg.collector.address;
    co.ca_file = cfg.collector.ca_file;
    co.cert_file = cfg.collector.cert_file;
    co.key_file = cfg.collector.key_file;
    co.spool_dir = cfg.collector.spool_dir;
    co.spool_max_bytes = cfg.collector.spool_max_bytes;
    co.agent_host = Hostname();
    co.defer_start = true;  // after the capability drop (step 5)
    auto cs = report::CollectorSink::Create(co);
    if (!cs) {
      spdlog::critical("collector: {}", cs.message());
      return 1;
    }
    collector = cs->get();
    // Heartbeats carry the counters; the sender thread reads the snapshot the loop publishes.
    collector->SetStatsProvider([&stats] { return stats.Get(); });
    sinks.push_back(std::move(*cs));
  }

  // 3. Scope, then the probes (scope is in the kernel before any program runs).
  auto scope = state::Scope::Create(cfg.cgroups);
  if (!scope) {
    spdlog::critical("{}", scope.message());
    return 1;
  }
  loader::ProbeOptions po;
  po.cgroup_paths = cfg.cgroups;
  po.control_ringbuf_bytes = cfg.control_ringbuf_bytes;
  po.data_ringbuf_bytes = cfg.data_ringbuf_bytes;
  po.capture_budget_bytes = cfg.capture_budget_bytes;
  po.capture_head_bytes = cfg.capture_head_bytes;
  po.extra_tls_libraries = cfg.extra_tls_libraries;
  auto probes = loader::Probes::Open(po);
  if (!probes) {
    spdlog::critical("probes: {} (run --check for details)", probes.message());
    return 1;
  }
  loader::Probes& kernel = **probes;
  auto watched = WatchCredentialFiles(kernel.tables(), (*db)->rules());
  if (!watched) {
    spdlog::critical("credential files: {}", watched.message());
    return 1;
  }

  // Attach on exec: executables carrying a TLS stack (node) found now, the rest as
  // in-scope processes exec them. The helper keeps the capabilities attaching needs.
  loader::ExeAttachOptions attach_opts;
  attach_opts.max_attached_files = cfg.max_attached_files;
  loader::ExeAttacher exe_attacher(attach_opts, kernel);
  for (const auto& lib : kernel.TlsLibraries()) exe_attacher.MarkSeen(lib);
  for (const auto& lib : kernel.TlsLibrariesFailed()) exe_attacher.MarkSeen(lib);
  auto go_tls = std::make_unique<loader::GoTlsInspector>();
  const loader::GoTlsInspector* go_tls_counters = go_tls.get();
  exe_attacher.AddInspector(std::move(go_tls));
  kernel.AddCounterSource("", [go_tls_counters] { return go_tls_counters->Counters(); });
  if (cfg.max_attached_files > 0) exe_attacher.ScanAtStart();
  kernel.AddCounterSource("exe_attach_", [&exe_attacher] { return exe_attacher.Counters(); });
  bool attach_on_exec = cfg.max_attached_files > 0;
  if (!attach_on_exec) {
    spdlog::info("attach on exec off (max_attached_files: 0)");
  } else if (auto s = kernel.StartAttachHelper(); !s) {
    attach_on_exec = false;
    spdlog::warn("attach on exec disabled: {}", s.message());
  }

  // 4. State from /proc, so processes and sockets that predate the agent are known.
  ProbesControl control(kernel.tables());
  if (attach_on_exec) control.SetExeAttacher(&exe_attacher);
  std::vector<report::AlertSink*> sink_ptrs;
  for (auto& s : sinks) sink_ptrs.push_back(s.get());
  PipelineOptions opts;
  opts.hostname = Hostname();
  opts.provenance.taint_ns = uint64_t{cfg.taint_window_s} * 1'000'000'000;
  Pipeline pipeline(opts, *scope, *db, *fp, sink_ptrs, &control);
  std::unique_ptr<std::FILE, FileCloser> trace;
  if (!cfg.trace_events_file.empty()) {
    trace.reset(std::fopen(cfg.trace_events_file.c_str(), "a"));
    if (!trace) spdlog::warn("cannot open trace file {}", cfg.trace_events_file);
    pipeline.SetTrace(trace.get());
  }
  pipeline.processes().LoadFromProc();
  // Only processes in scope are in the table, so only their sockets are looked at.
  for (const auto& s : pipeline.connections().LoadFromProc(*scope, pipeline.processes().Pids())) {
    kernel.tables().WatchSocket(s.pid, s.fd,
                                s.udp ? loader::SocketKind::kUdp : loader::SocketKind::kTcp);
  }

  std::vector<std::string> features{"tracepoints", "uprobes"};
  for (const auto& lib : kernel.TlsLibraries()) features.push_back("tls:" + lib);
  if (scope->whole_host()) {
    auto inventory = BuildInventory(*db, *fp);
    for (const auto& c : inventory) pipeline.AddKnownSecret(c.fingerprint, c.path);
    spdlog::info("inventory: {} stored credentials in the catalogue's files", inventory.size());
    if (collector) collector->SetInventory(std::move(inventory));
  }
  if (collector) collector->SetAgentInfo(rules_version, features);

  // 5. Probes are attached: give up what only loading and attaching needed.
  if (auto dropped = DropLoadOnlyCapabilities(); !dropped) {
    spdlog::warn("could not drop capabilities: {}", dropped.message());
  } else if (!dropped->empty()) {
    spdlog::info("dropped {} after attaching probes", fmt::join(*dropped, ", "));
  }
  if (collector) collector->Start();  // its threads are born without what was dropped

  // 6. Ready.
  spdlog::info("ready: {} processes in scope{}, {} credential inodes and {} names watched, TLS libraries: {}",
               pipeline.processes().size(), scope->whole_host() ? " (whole host)" : "",
               watched->inodes, watched->names, fmt::join(kernel.TlsLibraries(), ", "));
  if (!cfg.ready_file.empty()) std::ofstream(cfg.ready_file) << "ready\n";
  NotifySystemd("READY=1");

  // 7. The loop.
  uint64_t last_tick = MonoNs();
  while (!g_stop) {
    auto polled = kernel.Poll(200, [&](std::span<const uint8_t> rec) { pipeline.Handle(rec); });
    if (!polled && !g_stop) spdlog::warn("ring buffer poll: {}", polled.message());
    if (g_reload.exchange(false)) {
      NotifySystemd("RELOADING=1");
      auto fresh = LoadMatcher(cfg);
      if (!fresh) {
        spdlog::error("reload failed, keeping rules {}: {}", rules_version, fresh.message());
      } else {
        pipeline.SwapRules(*fresh);
        rules_version = (*fresh)->rules().digest;
        db = std::move(fresh);
        auto w = WatchCredentialFiles(kernel.tables(), (*db)->rules());
        if (collector) {
          collector->SetAgentInfo(rules_version, features);
          if (scope->whole_host()) collector->SetInventory(BuildInventory(*db, *fp));
        }
        spdlog::info("reloaded rules {}: {} credential kinds{}", rules_version,
                     (*db)->rules().kinds.size(), w ? "" : ", credential watches failed: " + w.message());
      }
      NotifySystemd("READY=1");
    }
    uint64_t now = MonoNs();
    exe_attacher.Tick(now);
    pipeline.Tick(now);
    if (now - last_tick >= 1000000000ull) {
      last_tick = now;
      pipeline.Housekeeping(now);
      stats.Set(FlatCounters(kernel, pipeline));
      WriteStats(cfg.stats_file, kernel, pipeline, sinks, rules_version);
    }
  }

  // 8. Drain: what is already in the ring buffers still gets matched and reported.
  NotifySystemd("STOPPING=1");
  kernel.Poll(0, [&](std::span<const uint8_t> rec) { pipeline.Handle(rec); });
  pipeline.Drain();
  for (auto& s : sinks) s->Flush();
  WriteStats(cfg.stats_file, kernel, pipeline, sinks, rules_version);
  pipeline.SetTrace(nullptr);
  trace.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace credsentry::pipeline
