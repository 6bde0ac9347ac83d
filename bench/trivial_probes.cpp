// The trivial-probe floor for bench/run-bench.sh: attaches the empty, scope-checked programs of
// trivial_probes.bpf.c to every hook the agent attaches, waits for SIGTERM, then prints how many
// times they ran inside the scope.
//
// Usage: trivial_probes --cgroup DIR [--cgroup DIR]... [--hooks-from AGENT_BPF_OBJECT]
//                       [--uprobe LIBRARY:FUNCTION]... [--ready-file FILE] [--hits-file FILE]
//
// --hooks-from reads the tracepoint sections of the agent's own linked BPF object
// (build/bpf/credsentry.bpf.o), so the floor follows the agent's hook set without a second list
// to keep in step. Its uprobe sections name no target (the agent picks libraries at run time), so
// TLS hooks are given with --uprobe, which attaches both an entry and a return probe.
#include "trivial_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "trivial_probes.skel.h"

using credsentry::Error;
using credsentry::Result;
using credsentry::Status;

namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing/events";

struct Options {
  std::vector<std::string> cgroups;
  std::string hooks_from;
  std::vector<std::string> uprobes;  // LIBRARY:FUNCTION
  std::string ready_file;
  std::string hits_file;
};

// The hooks the agent attaches, as read from its object.
struct HookSet {
  std::vector<std::string> tracepoints;      // "category/name"
  std::vector<std::string> raw_tracepoints;  // "name"
};

struct SkeletonDeleter {
  void operator()(trivial_probes* s) const { trivial_probes__destroy(s); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct ObjectDeleter {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

// libbpf_strerror also names libbpf's own codes (a file that is not ELF, a BTF mismatch).
std::string Errno(int err) {
  char buf[128];
  libbpf_strerror(err < 0 ? -err : err, buf, sizeof(buf));
  return buf;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

int RouteLibbpf(libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  spdlog::warn("libbpf: {}", text);
  return 0;
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) return Error{"option " + std::string(a) + " needs a value"};
    std::string v = argv[++i];
    if (a == "--cgroup") {
      o.cgroups.push_back(v);
    } else if (a == "--hooks-from") {
      o.hooks_from = v;
    } else if (a == "--uprobe") {
      if (v.find(':') == std::string::npos || v.back() == ':') {
        return Error{"--uprobe " + v + ": expected LIBRARY:FUNCTION"};
      }
      o.uprobes.push_back(v);
    } else if (a == "--ready-file") {
      o.ready_file = v;
    } else if (a == "--hits-file") {
      o.hits_file = v;
    } else {
      return Error{"unknown option " + std::string(a)};
    }
  }
  // An unscoped floor would watch every process on a shared host: refuse, as the benchmark must.
  if (o.cgroups.empty()) return Error{"at least one --cgroup DIR is required"};
  if (o.cgroups.size() > TRIVIAL_MAX_SCOPES) {
    return Error{"at most " + std::to_string(TRIVIAL_MAX_SCOPES) + " --cgroup are supported"};
  }
  return o;
}

bool TracepointExists(const std::string& category_name) {
  struct stat st;
  return stat((std::string(kTracefs) + "/" + category_name).c_str(), &st) == 0;
}

Result<HookSet> HooksFromObject(const std::string& path) {
  std::unique_ptr<bpf_object, ObjectDeleter> obj(bpf_object__open_file(path.c_str(), nullptr));
  if (!obj) return Error{"opening BPF object " + path + ": " + Errno(errno)};
  HookSet hooks;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj.get()) {
    std::string_view sec = bpf_program__section_name(prog);
    if (StartsWith(sec, "uprobe") || StartsWith(sec, "uretprobe")) continue;
    // Prevent mode's connect4/6 and sendmsg4/6 programs run once per connect or unconnected
    // datagram, never on the loops' reads and writes: the floor leaves them out (counted here).
    if (StartsWith(sec, "cgroup/")) {
      spdlog::info("{} ({}) not mirrored: a cgroup sock_addr hook, not on the measured path",
                   bpf_program__name(prog), sec);
      continue;
    }
    std::string target;
    if (StartsWith(sec, "tp/")) {
      target = sec.substr(3);
    } else if (StartsWith(sec, "tracepoint/")) {
      target = sec.substr(11);
    } else if (StartsWith(sec, "raw_tp/")) {
      hooks.raw_tracepoints.emplace_back(sec.substr(7));
      continue;
    } else if (StartsWith(sec, "raw_tracepoint/")) {
      hooks.raw_tracepoints.emplace_back(sec.substr(15));
      continue;
    } else if (StartsWith(sec, "tp_btf/")) {
      // A BTF tracepoint runs from the same raw tracepoint hook: an empty raw_tp costs the same.
      if (TracepointExists("io_uring/" + std::string(sec.substr(7))) ||
          !StartsWith(sec, "tp_btf/io_uring_")) {
        hooks.raw_tracepoints.emplace_back(sec.substr(7));
      }
      continue;
    } else {
      return Error{path + ": program " + bpf_program__name(prog) + " in section " +
                   std::string(sec) + " has an attach kind the trivial floor cannot mirror"};
    }
    // The agent switches off programs for tracepoints this kernel lacks; so does the floor.
    if (!TracepointExists(target)) {
      spdlog::warn("tracepoint {} not on this kernel; not attached (the agent skips it too)",
                   target);
      continue;
    }
    hooks.tracepoints.push_back(target);
  }
  if (hooks.tracepoints.empty() && hooks.raw_tracepoints.empty()) {
    return Error{path + " has no tracepoint programs: is it the agent's credsentry.bpf.o?"};
  }
  return hooks;
}

class TrivialProbes {
 public:
  Status Load(const Options& options) {
    skel_.reset(trivial_probes__open());
    if (!skel_) return Error{"opening the trivial BPF object: " + Errno(errno)};
    skel_->rodata->scope_count = options.cgroups.size();
    if (int err = trivial_probes__load(skel_.get()); err) {
      return Error{"loading the trivial BPF programs: " + Errno(err)};
    }
    int map_fd = bpf_map__fd(skel_->maps.scope_cgroups);
    for (uint32_t i = 0; i < options.cgroups.size(); ++i) {
      int fd = open(options.cgroups[i].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Error{"--cgroup " + options.cgroups[i] + ": " + Errno(errno)};
      int err = bpf_map_update_elem(map_fd, &i, &fd, BPF_ANY);
      int saved = errno;
      close(fd);  // the map holds its own reference on the cgroup
      if (err) return Error{"--cgroup " + options.cgroups[i] + ": " + Errno(saved)};
    }
    return Status::Ok();
  }

  Status AttachHooks(const HookSet& hooks) {
    for (const auto& tp : hooks.tracepoints) {
      auto slash = tp.find('/');
      std::string category = tp.substr(0, slash), name = tp.substr(slash + 1);
      bpf_link* l = bpf_program__attach_tracepoint(skel_->progs.trivial_tracepoint,
                                                   category.c_str(), name.c_str());
      if (auto s = Keep(l, "tracepoint " + tp); !s) return s;
    }
    for (const auto& raw : hooks.raw_tracepoints) {
      bpf_link* l =
          bpf_program__attach_raw_tracepoint(skel_->progs.trivial_raw_tracepoint, raw.c_str());
      if (auto s = Keep(l, "raw tracepoint " + raw); !s) return s;
    }
    return Status::Ok();
  }

  Status AttachUprobe(const std::string& spec) {
    auto colon = spec.rfind(':');
    std::string library = spec.substr(0, colon), function = spec.substr(colon + 1);
    for (bool ret : {false, true}) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = function.c_str());
      bpf_program* prog = ret ? skel_->progs.trivial_uretprobe : skel_->progs.trivial_uprobe;
      // pid -1: every process mapping the library, as the agent attaches.
      bpf_link* l = bpf_program__attach_uprobe_opts(prog, -1, library.c_str(), 0, &opts);
      if (auto s = Keep(l, (ret ? "uretprobe " : "uprobe ") + spec); !s) return s;
    }
    return Status::Ok();
  }

  size_t link_count() const { return links_.size(); }

  // "tracepoint=N raw_tracepoint=N uprobe=N uretprobe=N", summed over CPUs.
  Result<std::string> HitsLine() const {
    static constexpr const char* kNames[TRIVIAL_HIT__COUNT] = {"tracepoint", "raw_tracepoint",
                                                               "uprobe", "uretprobe"};
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return Error{"counting CPUs: " + Errno(ncpu)};
    std::vector<uint64_t> per_cpu(ncpu);
    std::string line;
    for (uint32_t k = 0; k < TRIVIAL_HIT__COUNT; ++k) {
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.hits), &k, per_cpu.data())) {
        return Error{"reading the hit counters: " + Errno(errno)};
      }
      uint64_t sum = 0;
      for (uint64_t v : per_cpu) sum += v;
      line += (k ? " " : "") + std::string(kNames[k]) + "=" + std::to_string(sum);
    }
    return line;
  }

 private:
  Status Keep(bpf_link* link, const std::string& what) {
    if (!link) return Error{"attaching to " + what + ": " + Errno(errno)};
    links_.emplace_back(link);
    return Status::Ok();
  }

  // Declaration order: links are destroyed before the skeleton that owns their programs.
  std::unique_ptr<trivial_probes, SkeletonDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
};

Status WriteFile(const std::string& path, const std::string& text) {
  if (path.empty()) return Status::Ok();
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  out.close();
  if (!out) return Error{"writing " + path + ": " + Errno(errno)};
  return Status::Ok();
}

Status Run(const Options& options) {
  // Block the stop signals before anything else so sigwait() below receives them; nothing
  // happens in a handler.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  HookSet hooks;
  if (!options.hooks_from.empty()) {
    auto h = HooksFromObject(options.hooks_from);
    if (!h) return h.status();
    hooks = std::move(*h);
  }
  if (hooks.tracepoints.empty() && hooks.raw_tracepoints.empty() && options.uprobes.empty()) {
    return Error{"nothing to attach: give --hooks-from and/or --uprobe"};
  }
  TrivialProbes probes;
  if (auto s = probes.Load(options); !s) return s;
  if (auto s = probes.AttachHooks(hooks); !s) return s;
  for (const auto& spec : options.uprobes) {
    if (auto s = probes.AttachUprobe(spec); !s) return s;
  }
  spdlog::info(
      "trivial probes attached: {} tracepoints, {} raw tracepoints, {} uprobe pairs "
      "({} links)",
      hooks.tracepoints.size(), hooks.raw_tracepoints.size(), options.uprobes.size(),
      probes.link_count());
  if (auto s = WriteFile(options.ready_file, std::to_string(probes.link_count())); !s) return s;

  int sig = 0;
  sigwait(&stop, &sig);
  auto hits = probes.HitsLine();
  if (!hits) return hits.status();
  std::printf("trivial_probes hits: %s\n", hits->c_str());
  return WriteFile(options.hits_file, *hits);
}

}  // namespace

int main(int argc, char** argv) {
  libbpf_set_print(RouteLibbpf);
  auto options = ParseArgs(argc, argv);
  if (!options) {
    spdlog::error("trivial_probes: {}", options.message());
    return 2;
  }
  if (auto s = Run(*options); !s) {
    spdlog::error("trivial_probes: {}", s.message());
    return 1;
  }
  return 0;
}
