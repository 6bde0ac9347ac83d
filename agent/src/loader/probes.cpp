#include "loader/probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

#include "common/log.h"
#include "common/unique_fd.h"
#include "credsentry_abi.h"
#include "loader/attach_helper.h"
#include "loader/counters.h"
#include "loader/host.h"
#include "loader/libbpf_log.h"
#include "loader/ring_reader.h"
#include "loader/skeleton.h"
#include "loader/tls_libraries.h"

namespace credsentry::loader {
namespace {

struct SkeletonDeleter {
  void operator()(gen::credsentry* s) const { gen::credsentry__destroy(s); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

// Ring buffer sizes must be a power of two and a multiple of the page size (kernel rule).
Status CheckRingSize(const char* what, uint32_t bytes) {
  auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  if (bytes < page || (bytes & (bytes - 1)) != 0) {
    return Error{std::string(what) + " ring buffer size " + std::to_string(bytes) +
                 " must be a power of two of at least " + std::to_string(page) + " bytes"};
  }
  return Status::Ok();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// One TLS library function and the programs that probe its entry and return.
struct TlsHook {
  std::string_view function;
  bpf_program* entry;
  bpf_program* ret;  // nullptr when only the entry matters
};

}  // namespace

struct Probes::State {
  // Declaration order is teardown order reversed: rings, then links, then the skeleton.
  std::unique_ptr<gen::credsentry, SkeletonDeleter> skel;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  std::unique_ptr<RingReader> rings;
  std::vector<std::string> tls_libraries;  // hooked
  std::vector<std::string> tls_failed;     // found, but the host refused their uprobes

  Status Attach(bpf_program* prog, bpf_link* link, std::string_view what) {
    if (!link) {
      return Error{"attaching " + std::string(bpf_program__name(prog)) + " to " +
                   std::string(what) + " failed: " + Errno(errno)};
    }
    links.emplace_back(link);
    return Status::Ok();
  }
  Status AttachTracepoints();
  // Prevent mode's connect block (bpf/egress.bpf.c) on each scope cgroup, or the cgroup v2
  // root. Not fatal: without it the agent still detects and holds TLS writes.
  void AttachEgressBlock(const std::vector<std::string>& cgroups);
  size_t egress_block_cgroups = 0;  // cgroups all four programs are attached to
  std::string egress_block_error;   // why not, when 0
  Status AttachTls(const std::string& library, TlsStack stack, bool required);
  Result<bool> AttachStack(const std::string& path, const TlsStackSymbols& symbols);
  Status AttachUprobeAt(bpf_program* prog, const std::string& path, uint64_t offset, bool ret,
                        std::string_view what);
  // After start: uprobes are made by the privileged helper, their links kept here.
  std::unique_ptr<UprobeAttachHelper> helper;
  std::vector<UniqueFd> helper_links;
  std::vector<std::pair<std::string, std::function<std::map<std::string, uint64_t>()>>>
      counter_sources;
  std::set<std::pair<uint64_t, uint64_t>> hooked_inodes;  // (st_dev, st_ino) of hooked files
  std::unique_ptr<KernelTables> tables;  // over skel's maps, so gone before it
  std::unique_ptr<PreventTable> prevent;
  std::unique_ptr<EgressTable> egress;
};

void Probes::State::AttachEgressBlock(const std::vector<std::string>& cgroups) {
  std::vector<std::string> dirs = cgroups;
  if (dirs.empty()) dirs.push_back(CgroupV2Mount());
  bpf_program* progs[] = {skel->progs.cs_block_connect4, skel->progs.cs_block_connect6,
                          skel->progs.cs_block_sendmsg4, skel->progs.cs_block_sendmsg6};
  for (const auto& dir : dirs) {
    UniqueFd fd(dir.empty() ? -1 : open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) {
      egress_block_error = (dir.empty() ? std::string("cgroup v2 not mounted") : dir + ": " +
                                                                                    Errno(errno));
      continue;
    }
    size_t first = links.size();
    bool all = true;
    for (bpf_program* prog : progs) {
      bpf_link* link = bpf_program__attach_cgroup(prog, fd.get());
      if (!link) {
        egress_block_error = std::string(bpf_program__name(prog)) + " on " + dir + ": " +
                             Errno(errno);
        all = false;
        break;
      }
      links.emplace_back(link);
    }
    if (!all) {
      links.resize(first);  // half the hooks would block TCP and let UDP go: none then
      spdlog::warn("prevent mode cannot block connects in {}: {}", dir, egress_block_error);
      continue;
    }
    ++egress_block_cgroups;
  }
}

Status Probes::State::AttachTracepoints() {
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string_view sec = bpf_program__section_name(prog);
    if (!bpf_program__autoload(prog) || StartsWith(sec, "uprobe") || StartsWith(sec, "uretprobe") ||
        StartsWith(sec, "cgroup/")) {
      continue;
    }
    if (auto s = Attach(prog, bpf_program__attach(prog), sec); !s) return s;
  }
  return Status::Ok();
}

Status Probes::State::AttachTls(const std::string& library, TlsStack stack, bool required) {
  auto found = FindTlsStack(library);
  if (found && found->stack != stack) {
    found = Error{library + " does not export " +
                  std::string(stack == TlsStack::kOpenSsl ? "SSL_write" : "gnutls_record_send")};
  }
  if (!found) {
    if (required) return Error{"TLS library " + found.message()};
    spdlog::warn("not hooking TLS library: {}", found.message());
    return Status::Ok();
  }
  auto hooked = AttachStack(library, *found);
  if (!hooked) {
    // Not fatal: a host that refuses uprobes (no CAP_SYS_ADMIN, perf_event_paranoid, an LSM)
    // still gets all the tracepoints see.
    spdlog::warn(
        "TLS plaintext capture unavailable for {}: {}; destinations are still named from the "
        "ClientHello SNI",
        library, hooked.message());
    tls_failed.push_back(library);
  }
  return Status::Ok();
}

Result<bool> Probes::State::AttachStack(const std::string& path, const TlsStackSymbols& symbols) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error{path + ": " + Errno(errno)};
  // Two links on one inode would capture every write twice.
  if (hooked_inodes.count({st.st_dev, st.st_ino})) return false;
  bool openssl = symbols.stack == TlsStack::kOpenSsl;
  // The first hook is the one without which the file is not worth hooking.
  std::vector<TlsHook> hooks;
  if (openssl) {
    hooks = {
        {"SSL_write", skel->progs.cs_ssl_write, skel->progs.cs_ssl_write_ret},
        {"SSL_write_ex", skel->progs.cs_ssl_write_ex, skel->progs.cs_ssl_write_ex_ret},
        {"SSL_ctrl", skel->progs.cs_ssl_ctrl, nullptr},
        {"SSL_set_fd", skel->progs.cs_ssl_set_fd, nullptr},
    };
  } else if (symbols.stack == TlsStack::kGnuTls) {
    hooks = {{"gnutls_record_send", skel->progs.cs_gnutls_record_send,
              skel->progs.cs_gnutls_record_send_ret}};
  }
  if (hooks.empty() || !symbols.offsets.count(std::string(hooks.front().function))) {
    return Error{path + " carries no TLS stack the probes know"};
  }
  size_t first_link = links.size();
  size_t first_helper_link = helper_links.size();
  for (const TlsHook& hook : hooks) {
    auto at = symbols.offsets.find(std::string(hook.function));
    if (at == symbols.offsets.end()) {
      spdlog::warn("{} has no {}: those calls are not captured", path, hook.function);
      continue;
    }
    for (bpf_program* prog : {hook.entry, hook.ret}) {
      if (!prog) continue;
      // By file offset, read once from the ELF (libbpf's by-name lookup re-reads the file for
      // each function: seconds on a 100 MB node). pid -1: every process mapping this file,
      // including ones started later; the programs apply the --cgroup scope themselves.
      if (auto s = AttachUprobeAt(prog, path, at->second, prog == hook.ret,
                                  path + ":" + std::string(hook.function));
          !s) {
        // Half a file's hooks would capture some writes and miss others: remove them all.
        links.resize(first_link);
        helper_links.resize(first_helper_link);
        return Error{s.message()};
      }
    }
  }
  hooked_inodes.emplace(st.st_dev, st.st_ino);
  tls_libraries.push_back(path);
  return true;
}

Status Probes::State::AttachUprobeAt(bpf_program* prog, const std::string& path, uint64_t offset,
                                     bool ret, std::string_view what) {
  if (!helper) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);
    return Attach(prog, bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), offset, &opts),
                  what);
  }
  auto link = helper->Attach(bpf_program__name(prog), path, offset, ret);
  if (!link) {
    return Error{"attaching " + std::string(bpf_program__name(prog)) + " to " + std::string(what) +
                 " failed: " + link.message()};
  }
  helper_links.push_back(std::move(*link));
  return Status::Ok();
}

Result<std::unique_ptr<Probes>> Probes::Open(const ProbeOptions& options) {
  RouteLibbpf();
  if (auto s = CheckRingSize("control", options.control_ringbuf_bytes); !s)
    return Error{s.message()};
  if (auto s = CheckRingSize("data", options.data_ringbuf_bytes); !s) return Error{s.message()};
  if (options.cgroup_paths.size() > CS_MAX_SCOPE_CGROUPS) {
    return Error{"--cgroup given " + std::to_string(options.cgroup_paths.size()) +
                 " times; at most " + std::to_string(CS_MAX_SCOPE_CGROUPS) + " are supported"};
  }
  for (const auto& path : options.cgroup_paths) {
    if (auto s = CheckCgroupV2Dir(path); !s) return Error{s.message()};
  }
  bool mounted = false;
  if (auto s = EnsureTracefs(&mounted); !s) return Error{s.message()};
  if (mounted) spdlog::info("mounted tracefs at {}", kTracefsDir);

  auto state = std::make_unique<State>();
  state->skel.reset(gen::credsentry__open());
  if (!state->skel) return Error{"opening the BPF object failed: " + Errno(errno)};
  gen::credsentry* skel = state->skel.get();
  skel->rodata->scope_count = options.cgroup_paths.size();
  skel->rodata->agent_tgid = getpid();
  skel->rodata->conn_capture_budget = options.capture_budget_bytes;
  skel->rodata->call_capture_head = options.capture_head_bytes;
  // A quarter of the data ring: the reader's period drains far less than that in normal load.
  skel->rodata->data_wakeup_bytes = options.data_ringbuf_bytes / 4;
  bpf_map__set_max_entries(skel->maps.control_rb, options.control_ringbuf_bytes);
  bpf_map__set_max_entries(skel->maps.data_rb, options.data_ringbuf_bytes);

  // Programs for tracepoints this kernel lacks are switched off rather than failing the load
  // (see core_fixes.bpf.h for which ones may be missing).
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string_view sec = bpf_program__section_name(prog);
    std::string_view group, name;
    if (StartsWith(sec, "tp/")) {
      auto rest = sec.substr(3);
      auto slash = rest.find('/');
      if (slash == std::string_view::npos) continue;
      group = rest.substr(0, slash);
      name = rest.substr(slash + 1);
    } else if (StartsWith(sec, "tp_btf/io_uring_")) {
      // A kernel built without io_uring has neither its tracepoints nor struct io_kiocb.
      group = "io_uring";
      name = sec.substr(7);
    } else {
      continue;
    }
    if (!TracepointExists(group, name)) {
      auto rest = sec.substr(sec.find('/') + 1);
      spdlog::warn("tracepoint {} not available on this kernel; {} disabled", rest,
                   bpf_program__name(prog));
      bpf_program__set_autoload(prog, false);
    }
  }

  if (int err = gen::credsentry__load(skel); err) {
    return Error{"loading the BPF programs failed: " + Errno(err) +
                 " (libbpf's messages above name the program; run with log level debug for the"
                 " verifier log)"};
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    // Verifier cost per program (1M instructions at most): what to watch when a probe grows.
    bpf_object__for_each_program(prog, skel->obj) {
      if (!bpf_program__autoload(prog)) continue;
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
        spdlog::debug("program {}: {} instructions, {} verified", bpf_program__name(prog),
                      info.xlated_prog_len / 8, info.verified_insns);
      }
    }
  }
  state->tables = std::make_unique<KernelTables>(*skel);
  state->prevent = std::make_unique<PreventTable>(*skel);
  state->egress = std::make_unique<EgressTable>(*skel);
  if (auto s = state->tables->FillScope(options.cgroup_paths); !s) return Error{s.message()};
  if (auto s = state->AttachTracepoints(); !s) return Error{s.message()};
  state->AttachEgressBlock(options.cgroup_paths);

  std::set<std::string> libs;
  for (const auto& lib : FindSystemLibssl()) {
    if (libs.insert(lib).second) {
      if (auto s = state->AttachTls(lib, TlsStack::kOpenSsl, false); !s) {
        return Error{s.message()};
      }
    }
  }
  for (const auto& lib : FindSystemLibgnutls()) {
    if (libs.insert(lib).second) {
      if (auto s = state->AttachTls(lib, TlsStack::kGnuTls, false); !s) {
        return Error{s.message()};
      }
    }
  }
  for (const auto& lib : options.extra_tls_libraries) {
    char real[PATH_MAX];
    std::string path = realpath(lib.c_str(), real) ? real : lib;
    if (libs.insert(path).second) {
      if (auto s = state->AttachTls(path, TlsStack::kOpenSsl, true); !s) {
        return Error{s.message()};
      }
    }
  }
  if (state->tls_libraries.empty() && state->tls_failed.empty()) {
    spdlog::warn("no TLS library found to hook: TLS plaintext will not be captured");
  }

  auto rings = RingReader::Open(bpf_map__fd(skel->maps.control_rb),
                                bpf_map__fd(skel->maps.data_rb));
  if (!rings) return Error{rings.message()};
  state->rings = std::move(*rings);
  spdlog::info("probes attached: {} programs, scope {}, TLS libraries {}", state->links.size(),
               options.cgroup_paths.empty()
                   ? std::string("whole host")
                   : std::to_string(options.cgroup_paths.size()) + " cgroup(s)",
               state->tls_libraries.size());
  return std::unique_ptr<Probes>(new Probes(std::move(state)));
}

Probes::Probes(std::unique_ptr<State> state) : state_(std::move(state)) {}
Probes::~Probes() = default;

Result<int> Probes::Poll(int timeout_ms,
                         const std::function<void(std::span<const uint8_t>)>& sink) {
  return state_->rings->Poll(timeout_ms, sink);
}

KernelTables& Probes::tables() { return *state_->tables; }

PreventTable& Probes::prevent() { return *state_->prevent; }

EgressTable& Probes::egress() { return *state_->egress; }

bool Probes::EgressBlockAttached() const { return state_->egress_block_cgroups > 0; }

std::map<std::string, uint64_t> Probes::Counters() const {
  std::map<std::string, uint64_t> out;
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return out;
  std::vector<uint64_t> per_cpu(ncpus);
  for (uint32_t i = 0; i < CounterCount(); ++i) {
    uint64_t sum = 0;
    if (bpf_map__lookup_elem(state_->skel->maps.cs_counters, &i, sizeof i, per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) == 0) {
      for (uint64_t v : per_cpu) sum += v;
    }
    out.emplace(CounterName(i), sum);
  }
  out.emplace("tls_libraries_hooked", state_->tls_libraries.size());
  out.emplace("tls_libraries_failed", state_->tls_failed.size());
  // How much of the watched-fd gate is in use. It follows the watched fds down as they close; a
  // figure that only grows would mean lost accounting, and read/write/close then pay the hash
  // lookup more often (never a missed fd).
  out.emplace("watched_fd_slots_in_use", state_->tables->WatchedFdSlotsInUse());
  out.emplace("block_cgroups_attached", state_->egress_block_cgroups);
  for (const auto& [prefix, source] : state_->counter_sources) {
    for (const auto& [k, v] : source()) out.emplace(prefix + k, v);
  }
  return out;
}

std::vector<std::string> Probes::TlsLibraries() const { return state_->tls_libraries; }

std::vector<std::string> Probes::TlsLibrariesFailed() const { return state_->tls_failed; }

Status Probes::AttachUprobe(std::string_view program, const std::string& path, uint64_t file_offset,
                            bool retprobe) {
  std::string name(program);
  bpf_program* prog = bpf_object__find_program_by_name(state_->skel->obj, name.c_str());
  if (!prog) return Error{"no BPF program named " + name};
  if (!bpf_program__autoload(prog)) return Error{"BPF program " + name + " is not loaded"};
  return state_->AttachUprobeAt(prog, path, file_offset, retprobe,
                                path + "+" + std::to_string(file_offset));
}

void Probes::AddCounterSource(std::string prefix,
                              std::function<std::map<std::string, uint64_t>()> source) {
  state_->counter_sources.emplace_back(std::move(prefix), std::move(source));
}

Status Probes::StartAttachHelper() {
  std::vector<std::pair<std::string, int>> programs;
  bpf_program* prog;
  bpf_object__for_each_program(prog, state_->skel->obj) {
    std::string_view sec = bpf_program__section_name(prog);
    if (bpf_program__autoload(prog) &&
        (StartsWith(sec, "uprobe") || StartsWith(sec, "uretprobe"))) {
      programs.emplace_back(bpf_program__name(prog), bpf_program__fd(prog));
    }
  }
  auto helper = UprobeAttachHelper::Start(std::move(programs));
  if (!helper) return Error{helper.message()};
  spdlog::info("attach helper pid {} keeps the attach capabilities for attach on exec",
               (*helper)->pid());
  state_->helper = std::move(*helper);
  return Status::Ok();
}

Result<bool> Probes::AttachTlsStack(const std::string& path, const TlsStackSymbols& symbols) {
  auto r = state_->AttachStack(path, symbols);
  if (!r) state_->tls_failed.push_back(path);
  return r;
}

}  // namespace credsentry::loader
