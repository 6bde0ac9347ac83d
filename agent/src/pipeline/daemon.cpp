#include "pipeline/daemon.h"

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "loader/exe_attach.h"
#include "loader/go_tls.h"
#include "loader/probes.h"
#include "pipeline/credential_watch.h"
#include "pipeline/daemon_steps.h"
#include "pipeline/inventory.h"
#include "pipeline/pipeline.h"
#include "pipeline/privileges.h"
#include "pipeline/stats_file.h"
#include "pipeline/stats_metrics.h"
#include "state/scope.h"

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

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class ProbesControl : public KernelControl {
 public:
  ProbesControl(loader::WatchedFdTable& fds, loader::PreventTable& prevent,
                loader::EgressTable& egress)
      : fds_(fds), prevent_(prevent), egress_(egress) {}
  void SetEgressAllowed(const detect::EgressUpdate& u) override {
    loader::EgressAddress addr;
    if (!loader::ParseEgressAddress(u.ip, &addr)) return;
    auto s = u.creds ? egress_.Allow(addr, u.creds, u.expires_mono_ns) : egress_.Forget(addr);
    if (!s) {
      // A tainted process then finds the address refused: counted, and said once in a while.
      if (egress_failures_++ % 100 == 0) spdlog::warn("prevent: {}", s.message());
    }
  }
  uint64_t egress_failures() const { return egress_failures_; }
  bool KillHeld(uint32_t pid) override {
    auto s = prevent_.Kill(pid);
    if (!s) spdlog::warn("prevent: {}", s.message());
    return s.ok();
  }
  void ReleaseHeld(uint32_t pid) override {
    if (auto s = prevent_.Release(pid); !s) spdlog::debug("prevent: {}", s.message());
  }
  void SetPreventAnchors(const PreventAnchorSet& anchors) override {
    size_t bits = prevent_.SetAnchors(anchors.text, anchors.huffman);
    spdlog::debug("prevent: {} text and {} HPACK anchors, {} bits", anchors.text.size(),
                  anchors.huffman.size(), bits);
  }
  void UnwatchFd(uint32_t pid, int32_t fd) override {
    // A stale entry stays in the bounded map until its pid and fd are reused: counted.
    if (!fds_.Unwatch(pid, fd)) ++unwatch_failures_;
  }
  uint64_t unwatch_failures() const { return unwatch_failures_; }
  void OnExec(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns,
              bool held) override {
    if (exe_attacher_) exe_attacher_->OnExec(pid, filename, exec_mono_ns);
    if (!held) return;
    // Inspected and hooked (or found to carry nothing to hook): its later execs go on at once,
    // and this one goes on now unless the guardian's bound came first.
    bool mark_failed = false;
    auto end = prevent_.EndExecHold(pid, &mark_failed);
    exec_hold_.mark_failures += mark_failed;
    if (end != loader::PreventTable::ExecRelease::kReleased) {
      ++exec_hold_.timeouts;
      return;
    }
    ++exec_hold_.released;
    const uint64_t now = MonotonicNs();
    exec_hold_.last_us = (now - std::min(now, exec_mono_ns)) / 1000;
    exec_hold_.max_us = std::max(exec_hold_.max_us, exec_hold_.last_us);
  }
  struct ExecHoldCounts {
    uint64_t released = 0;       // continued by the agent once inspected
    uint64_t timeouts = 0;       // gone before: the guardian's bound, or the process died
    uint64_t mark_failures = 0;  // known_exes refused the file: its execs stay held
    uint64_t last_us = 0, max_us = 0;  // exec to release
  };
  const ExecHoldCounts& exec_hold() const { return exec_hold_; }
  void SetExeAttacher(loader::ExeAttacher* a) { exe_attacher_ = a; }

 private:
  loader::WatchedFdTable& fds_;
  loader::PreventTable& prevent_;
  loader::EgressTable& egress_;
  uint64_t egress_failures_ = 0;
  loader::ExeAttacher* exe_attacher_ = nullptr;
  ExecHoldCounts exec_hold_;
  uint64_t unwatch_failures_ = 0;
};

// The agent as a service. Each start-up step builds on the ones before it and fails with a
// message that names what is wrong; reload (SIGHUP) takes the catalogue steps again.
class Daemon {
 public:
  explicit Daemon(const config::AgentConfig& cfg) : cfg_(cfg) {}

  Status LoadCatalogue();
  Status OpenOutputs();
  Status AttachProbes();
  Status PrimeState();
  Status DropPrivileges();
  Status ServeMetrics();
  Status Run();

 private:
  const std::string& rules_version() const { return catalogue_->rules().digest; }
  // The credential files of the catalogue in force, into the kernel's tables.
  Result<CredentialWatchCount> WatchCredentialFiles();
  // What the collector says about this agent: the rules in force, the kernel features and, in
  // whole-host mode, `inventory`.
  void PublishCatalogue(std::vector<report::StoredCredential> inventory);
  void Reload();
  void ReloadCatalogue();
  void PublishCounters();
  // detect or prevent, at start and on SIGHUP. Prevent needs the guardian first: without it a
  // crash could leave a held process stopped, so the agent stays in detect mode instead.
  void ApplyMode(config::Mode mode, const config::AgentConfig& cfg);
  // The exec hold (exec_hold:, --no-exec-hold), in either mode: needs attach on exec, and the
  // guardian, so that no process stays stopped at exec if the agent stops.
  void StartExecHold();
  // The guardian (prevent_table.h), started once for prevent mode or the exec hold.
  bool EnsureGuardian();

  const config::AgentConfig& cfg_;
  // Members are torn down in reverse: the pipeline before what it refers to, the collector's
  // threads before the snapshot they read.
  StatsSnapshot stats_;
  StatsFileWriter stats_file_;
  Catalogue catalogue_;
  std::optional<Outputs> outputs_;
  std::optional<state::Scope> scope_;
  std::unique_ptr<loader::Probes> probes_;
  CredentialWatchCount watched_;
  std::unique_ptr<loader::ExeAttacher> exe_attacher_;
  bool attach_on_exec_ = false;
  std::unique_ptr<ProbesControl> control_;
  // Before the pipeline, which writes to it: destroyed after it.
  std::unique_ptr<std::FILE, FileCloser> trace_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<loader::PreventGuardian> guardian_;
  config::Mode mode_ = config::Mode::kDetect;
  std::vector<std::string> features_;  // kernel features as the collector is told them
  // The server's threads read the page: the server goes first.
  MetricsPage metrics_page_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
};

Status Daemon::LoadCatalogue() {
  auto db = CompileCatalogue(cfg_);
  if (!db) return Error{"rules: " + db.message()};
  catalogue_ = std::move(*db);
  spdlog::info("rules {}: {} credential kinds, {} credential files, compiled in {:.1f} ms",
               rules_version(), catalogue_->rules().kinds.size(), catalogue_->rules().files.size(),
               catalogue_->compile_ms());
  return Status::Ok();
}

Status Daemon::OpenOutputs() {
  auto outputs = pipeline::OpenOutputs(cfg_, stats_);
  if (!outputs) return outputs.status();
  outputs_ = std::move(*outputs);
  return Status::Ok();
}

// Scope, then the probes (scope is in the kernel before any program runs), then attach on exec:
// executables carrying a TLS stack (node) found now, the rest as in-scope processes exec them.
Status Daemon::AttachProbes() {
  auto scope = state::Scope::Create(cfg_.cgroups);
  if (!scope) return scope.status();
  scope_ = std::move(*scope);
  loader::ProbeOptions po;
  po.cgroup_paths = cfg_.cgroups;
  po.control_ringbuf_bytes = cfg_.control_ringbuf_bytes;
  po.data_ringbuf_bytes = cfg_.data_ringbuf_bytes;
  po.capture_budget_bytes = cfg_.capture_budget_bytes;
  po.capture_head_bytes = cfg_.capture_head_bytes;
  po.extra_tls_libraries = cfg_.extra_tls_libraries;
  auto probes = loader::Probes::Open(po);
  if (!probes) return Error{"probes: " + probes.message() + " (run --check for details)"};
  probes_ = std::move(*probes);
  auto watched = WatchCredentialFiles();
  if (!watched) return Error{"credential files: " + watched.message()};
  watched_ = *watched;

  loader::ExeAttachOptions attach_opts;
  attach_opts.max_attached_files = cfg_.max_attached_files;
  exe_attacher_ = std::make_unique<loader::ExeAttacher>(attach_opts, *probes_);
  for (const auto& lib : probes_->TlsLibraries()) exe_attacher_->MarkSeen(lib);
  for (const auto& lib : probes_->TlsLibrariesFailed()) exe_attacher_->MarkSeen(lib);
  auto go_tls = std::make_unique<loader::GoTlsInspector>();
  const loader::GoTlsInspector* go_tls_counters = go_tls.get();
  exe_attacher_->AddInspector(std::move(go_tls));
  probes_->AddCounterSource("", [go_tls_counters] { return go_tls_counters->Counters(); });
  // Every file inspected is one whose execs need no hold: the start-up scan's too.
  loader::PreventTable& prevent = probes_->prevent();
  exe_attacher_->SetKnownSink([&prevent](uint64_t dev, uint64_t ino) {
    return prevent.MarkExecutableKnown(dev, ino);
  });
  if (cfg_.max_attached_files > 0) exe_attacher_->ScanAtStart();
  loader::ExeAttacher& attacher = *exe_attacher_;
  probes_->AddCounterSource("exe_attach_", [&attacher] { return attacher.Counters(); });
  // The helper keeps the capabilities attaching needs, for after DropPrivileges.
  attach_on_exec_ = cfg_.max_attached_files > 0;
  if (!attach_on_exec_) {
    spdlog::info("attach on exec off (max_attached_files: 0)");
  } else if (auto s = probes_->StartAttachHelper(); !s) {
    attach_on_exec_ = false;
    spdlog::warn("attach on exec disabled: {}", s.message());
  }
  return Status::Ok();
}

Result<CredentialWatchCount> Daemon::WatchCredentialFiles() {
  return pipeline::WatchCredentialFiles(probes_->tables(), catalogue_->rules());
}

// State from /proc, so processes and sockets that predate the agent are known.
Status Daemon::PrimeState() {
  control_ = std::make_unique<ProbesControl>(probes_->tables(), probes_->prevent(),
                                             probes_->egress());
  if (attach_on_exec_) control_->SetExeAttacher(exe_attacher_.get());
  const ProbesControl& control = *control_;
  probes_->AddCounterSource("exec_hold_", [&control] {
    const auto& c = control.exec_hold();
    return std::map<std::string, uint64_t>{
        {"released", c.released}, {"timeouts", c.timeouts}, {"mark_failures", c.mark_failures},
        {"exec_to_release_us_last", c.last_us}, {"exec_to_release_us_max", c.max_us}};
  });
  std::vector<report::AlertSink*> sinks;
  for (auto& s : outputs_->sinks) sinks.push_back(s.get());
  PipelineOptions opts;
  opts.hostname = Hostname();
  opts.provenance.taint_ns = uint64_t{cfg_.taint_window_s} * 1'000'000'000;
  pipeline_ = std::make_unique<Pipeline>(opts, *scope_, catalogue_, outputs_->fingerprinter, sinks,
                                         control_.get());
  if (!cfg_.trace_events_file.empty()) {
    trace_.reset(std::fopen(cfg_.trace_events_file.c_str(), "a"));
    if (!trace_) spdlog::warn("cannot open trace file {}", cfg_.trace_events_file);
    pipeline_->SetTrace(trace_.get());
  }
  auto inventory = pipeline::PrimeState(*pipeline_, *scope_, probes_->tables(), catalogue_,
                                        outputs_->fingerprinter);
  features_ = {"tracepoints", "uprobes"};
  for (const auto& lib : probes_->TlsLibraries()) features_.push_back("tls:" + lib);
  PublishCatalogue(std::move(inventory));
  return Status::Ok();
}

void Daemon::PublishCatalogue(std::vector<report::StoredCredential> inventory) {
  report::CollectorSink* collector = outputs_->collector;
  if (!collector) return;
  collector->SetAgentInfo(rules_version(), features_);
  if (scope_->whole_host()) collector->SetInventory(std::move(inventory));
}

// Probes are attached: give up what only loading and attaching needed.
Status Daemon::DropPrivileges() {
  if (auto dropped = DropLoadOnlyCapabilities(); !dropped) {
    spdlog::warn("could not drop capabilities: {}", dropped.message());
  } else if (!dropped->empty()) {
    spdlog::info("dropped {} after attaching probes", fmt::join(*dropped, ", "));
  }
  // The collector's threads are born without what was dropped.
  if (outputs_->collector) outputs_->collector->Start();
  return Status::Ok();
}

// --metrics-listen: its threads are born after the capability drop, like the collector's, and
// the first page is there before the first scrape can come.
Status Daemon::ServeMetrics() {
  if (cfg_.metrics_listen.empty()) return Status::Ok();
  auto endpoint = metrics::ParseMetricsListen(cfg_.metrics_listen, cfg_.metrics_allow_remote,
                                              "--metrics-allow-remote");
  if (!endpoint) return Error{"--metrics-listen " + endpoint.message()};
  metrics_page_.Set(StatsMetrics(StatsDocument(rules_version(), probes_->Counters(),
                                               pipeline_->Counters(), outputs_->sinks))
                        .Text());
  auto server = metrics::MetricsServer::Start(*endpoint, [this] { return metrics_page_.Get(); });
  if (!server) return server.status();
  metrics_server_ = std::move(*server);
  spdlog::info("metrics on http://{}:{}/metrics", endpoint->host, metrics_server_->port());
  return Status::Ok();
}

// Ready, the loop until SIGTERM/SIGINT, then the drain: what is already in the ring buffers
// still gets matched and reported.
Status Daemon::Run() {
  spdlog::info(
      "ready: {} processes in scope{}, {} credential inodes and {} names watched, "
      "TLS libraries: {}",
      pipeline_->processes().size(), scope_->whole_host() ? " (whole host)" : "", watched_.inodes,
      watched_.names, fmt::join(probes_->TlsLibraries(), ", "));
  StartExecHold();
  ApplyMode(cfg_.mode, cfg_);
  if (!cfg_.ready_file.empty()) std::ofstream(cfg_.ready_file) << "ready\n";
  NotifySystemd("READY=1");

  const std::function<void(std::span<const uint8_t>)> handle =
      [this](std::span<const uint8_t> rec) { pipeline_->Handle(rec); };
  uint64_t last_tick = MonotonicNs();
  while (!g_stop) {
    auto polled = probes_->Poll(200, handle);
    if (!polled && !g_stop) spdlog::warn("ring buffer poll: {}", polled.message());
    if (g_reload.exchange(false)) Reload();
    uint64_t now = MonotonicNs();
    exe_attacher_->Tick(now);
    pipeline_->Tick(now);
    if (now - last_tick >= 1000000000ull) {
      last_tick = now;
      pipeline_->Housekeeping(now);
      PublishCounters();
    }
  }

  NotifySystemd("STOPPING=1");
  probes_->prevent().SetEnabled(false);  // nothing new is held; what is held is released below
  probes_->prevent().SetExecHold(false);
  probes_->Poll(0, handle);
  pipeline_->Drain();
  for (auto& s : outputs_->sinks) s->Flush();
  PublishCounters();
  pipeline_->SetTrace(nullptr);
  trace_.reset();
  spdlog::info("stopped");
  return Status::Ok();
}

// Without either, a process stopped by a hold could stay stopped.
constexpr const char* kHoldNeeds = "a hold needs CAP_KILL (add it to the unit) and the guardian";
bool Daemon::EnsureGuardian() {
  if (guardian_) return true;
  // Past the agent's own bound (200 ms), the guardian lets a held write go by itself, and an
  // exec hold sooner (ExecHoldBoundMs).
  auto guardian = loader::PreventGuardian::Start(probes_->prevent().held_map_fd(), 300'000'000);
  if (!guardian) {
    spdlog::error("the prevent guardian did not start: {}", guardian.message());
    return false;
  }
  guardian_ = std::move(*guardian);
  spdlog::info("prevent guardian pid {} releases held processes if the agent stops",
               guardian_->pid());
  return true;
}

void Daemon::StartExecHold() {
  if (!cfg_.exec_hold || !attach_on_exec_ || !CanSignalAnyProcess() || !EnsureGuardian()) {
    spdlog::warn("exec hold off ({}): a new binary's first TLS writes may precede its probes",
                 !cfg_.exec_hold ? "exec_hold: false" : !attach_on_exec_ ? "no attach on exec"
                                                                          : kHoldNeeds);
    return;
  }
  probes_->prevent().SetExecHold(true);
  spdlog::info("exec hold on: an in-scope exec of a binary never inspected waits (at most {} ms) "
               "until its TLS stack is hooked",
               loader::PreventTable::ExecHoldBoundMs());
}

void Daemon::ApplyMode(config::Mode mode, const config::AgentConfig& cfg) {
  const auto& allow = cfg.prevent_allow;
  if (mode == config::Mode::kPrevent && (!CanSignalAnyProcess() || !EnsureGuardian())) {
    spdlog::error("mode prevent refused, staying in detect mode: {}", kHoldNeeds);
    mode = config::Mode::kDetect;
  }
  std::vector<PreventAllow> rules;
  for (const auto& r : allow) rules.push_back({r.process, r.destination, r.kind});
  const bool prevent = mode == config::Mode::kPrevent;
  pipeline_->SetPrevent(prevent, std::move(rules));
  pipeline_->SetEgressAllowNames(cfg.egress_allow_names);
  std::vector<loader::EgressCidr> cidrs;
  for (const auto& text : cfg.egress_allow_cidrs) {
    loader::EgressCidr c;
    if (loader::ParseEgressCidr(text, &c)) cidrs.push_back(c);  // the config checked each one
  }
  if (auto s = probes_->egress().SetCidrs(cidrs); !s) spdlog::error("prevent: {}", s.message());
  if (prevent && !probes_->EgressBlockAttached()) {
    spdlog::warn("prevent: connects of tainted processes cannot be blocked here (the cgroup "
                 "connect hooks did not attach); TLS writes are still held");
  }
  probes_->prevent().SetEnabled(prevent);
  if (mode != mode_ || prevent) {
    spdlog::info("mode {}{}", config::ModeName(mode),
                 prevent ? ": TLS writes carrying a credential to a destination not expected for "
                           "it are held and their sender killed, and processes tainted by a "
                           "credential read may connect only where it is expected (" +
                               std::to_string(allow.size()) + " allow rules, " +
                               std::to_string(cfg.egress_allow_names.size() +
                                              cfg.egress_allow_cidrs.size()) +
                               " egress.allow entries)"
                         : "");
  }
  mode_ = mode;
}

// The new catalogue is built whole before it replaces the one in force; a bad one is refused.
// agent.yaml's mode: and prevent: are read again (--mode on the command line wins).
void Daemon::Reload() {
  NotifySystemd("RELOADING=1");
  ReloadCatalogue();
  // After the catalogue: the compile stalls the loop, and a write held meanwhile would only be
  // let go by the guardian.
  if (!cfg_.mode_from_flag && !cfg_.config_path.empty() &&
      std::filesystem::exists(cfg_.config_path)) {
    config::AgentConfig fresh;
    if (auto s = config::LoadAgentConfigFile(cfg_.config_path, fresh); !s) {
      spdlog::error("reload: keeping mode {}: {}", config::ModeName(mode_), s.message());
    } else {
      ApplyMode(fresh.mode, fresh);
    }
  }
  NotifySystemd("READY=1");
}

void Daemon::ReloadCatalogue() {
  auto fresh = CompileCatalogue(cfg_);
  if (!fresh) {
    spdlog::error("reload failed, keeping rules {}: {}", rules_version(), fresh.message());
  } else {
    pipeline_->SwapRules(*fresh);
    catalogue_ = std::move(*fresh);
    auto watched = WatchCredentialFiles();
    bool inventory = outputs_->collector && scope_->whole_host();
    PublishCatalogue(inventory ? BuildInventory(catalogue_, outputs_->fingerprinter)
                               : std::vector<report::StoredCredential>{});
    spdlog::info("reloaded rules {}: {} credential kinds{}", rules_version(),
                 catalogue_->rules().kinds.size(),
                 watched ? "" : ", credential watches failed: " + watched.message());
  }
}

// The heartbeats' snapshot, --stats-file and the metrics page, from one reading of every
// counter.
void Daemon::PublishCounters() {
  auto kernel = probes_->Counters();
  auto pipeline_counters = pipeline_->Counters();
  pipeline_counters["stats_file_write_failures"] = stats_file_.failures();
  if (control_) pipeline_counters["watched_fd_unwatch_failures"] = control_->unwatch_failures();
  if (control_) pipeline_counters["block_allow_write_failures"] = control_->egress_failures();
  stats_.Set(FlatCounters(kernel, pipeline_counters));
  nlohmann::json document =
      StatsDocument(rules_version(), kernel, pipeline_counters, outputs_->sinks);
  if (metrics_server_) metrics_page_.Set(StatsMetrics(document).Text());
  stats_file_.Write(cfg_.stats_file, document);
}

}  // namespace

int RunDaemon(const config::AgentConfig& cfg) {
  InstallSignalHandlers();
  Daemon daemon(cfg);
  // In order: rules first, so a bad catalogue stops start-up before anything is attached.
  for (auto step : {&Daemon::LoadCatalogue, &Daemon::OpenOutputs, &Daemon::AttachProbes,
                    &Daemon::PrimeState, &Daemon::DropPrivileges, &Daemon::ServeMetrics,
                    &Daemon::Run}) {
    if (Status s = (daemon.*step)(); !s) {
      spdlog::critical("{}", s.message());
      return 1;
    }
  }
  return 0;
}

}  // namespace credsentry::pipeline
