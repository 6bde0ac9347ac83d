#include "loader/exe_attach.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>

#include "common/clock.h"
#include "common/log.h"

namespace credsentry::loader {
namespace {

bool IsElf(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  char magic[4] = {};
  bool elf = read(fd, magic, sizeof magic) == sizeof magic && magic[0] == 0x7f && magic[1] == 'E' &&
             magic[2] == 'L' && magic[3] == 'F';
  close(fd);
  return elf;
}

bool SameFile(const std::string& path, uint64_t dev, uint64_t ino) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev &&
         st.st_ino == ino;
}

// A path naming the file (dev, ino) that `pid` sees as `path_in_process`: the same path when the
// process shares our mount namespace, else through its root (containers). Empty when neither
// names that inode any more (replaced or deleted since).
std::string ReachablePath(uint32_t pid, const std::string& path_in_process, uint64_t dev,
                          uint64_t ino) {
  if (path_in_process.empty() || path_in_process.front() != '/') return "";
  if (SameFile(path_in_process, dev, ino)) return path_in_process;
  std::string via_root = "/proc/" + std::to_string(pid) + "/root" + path_in_process;
  if (SameFile(via_root, dev, ino)) return via_root;
  return "";
}

// The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), which with
// the pid names one process: pids are reused.
std::optional<uint64_t> StartTime(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  size_t pos = stat.rfind(')');  // comm may hold spaces and parentheses
  if (pos == std::string::npos) return std::nullopt;
  // After ") " come fields 3, 4, ...: skip to field 22.
  for (int field = 3; field <= 22; ++field) {
    pos = stat.find(' ', pos + 1);
    if (pos == std::string::npos) return std::nullopt;
  }
  uint64_t ticks = 0;
  auto r = std::from_chars(stat.data() + pos + 1, stat.data() + stat.size(), ticks);
  if (r.ec != std::errc()) return std::nullopt;
  return ticks;
}

bool HexField(std::string_view s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::optional<MappedFileEntry> ParseMapsLine(std::string_view line) {
  // "start-end perms offset major:minor inode   path"; the path may contain spaces.
  std::string_view fields[5];
  size_t pos = 0;
  for (auto& f : fields) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) return std::nullopt;
    f = line.substr(pos, end - pos);
    pos = end;
  }
  while (pos < line.size() && line[pos] == ' ') ++pos;
  std::string_view path = line.substr(pos);
  if (path.empty() || path.front() != '/' || path.ends_with(" (deleted)")) return std::nullopt;
  auto colon = fields[3].find(':');
  uint64_t major = 0, minor = 0, ino = 0;
  if (fields[1].size() < 4 || colon == std::string_view::npos ||
      !HexField(fields[3].substr(0, colon), major) ||
      !HexField(fields[3].substr(colon + 1), minor)) {
    return std::nullopt;
  }
  auto r = std::from_chars(fields[4].data(), fields[4].data() + fields[4].size(), ino);
  if (r.ec != std::errc() || ino == 0) return std::nullopt;
  MappedFileEntry e;
  e.dev = makedev(major, minor);
  e.ino = ino;
  e.executable = fields[1][2] == 'x';
  e.path = std::string(path);
  return e;
}

ExeAttacher::ExeAttacher(ExeAttachOptions options, UprobeAttacher& uprobes)
    : options_(std::move(options)), uprobes_(uprobes) {
  for (const char* c :
       {"files_inspected", "files_hooked", "files_skipped_bound", "files_skipped_seen_full",
        "attach_failures", "inspect_errors", "rescans_dropped", "exec_to_attach_us_last",
        "exec_to_attach_us_max", "scan_files", "scan_ms", "known_marks_failed"}) {
    counters_[c] = 0;
  }
}

void ExeAttacher::AddInspector(std::unique_ptr<ExecutableInspector> inspector) {
  inspectors_.push_back(std::move(inspector));
}

void ExeAttacher::MarkSeen(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) AddSeen(st.st_dev, st.st_ino);
}

void ExeAttacher::AddSeen(uint64_t dev, uint64_t ino) {
  seen_.emplace(dev, ino);
  if (known_sink_ && !known_sink_(dev, ino)) ++counters_["known_marks_failed"];
}

bool ExeAttacher::Inspect(const ExecutableFile& file, uint64_t exec_mono_ns) {
  if (seen_.count({file.dev, file.ino})) return false;
  if (seen_.size() >= options_.max_seen_files) {
    // Without room to remember it, the file would be read again at every exec: skip instead.
    ++counters_["files_skipped_seen_full"];
    return false;
  }
  AddSeen(file.dev, file.ino);
  ++counters_["files_inspected"];
  const uint64_t inspect_start = MonotonicNs();

  bool hooked = false;
  auto tls = FindTlsStack(file.path);
  if (!tls) {
    ++counters_["inspect_errors"];
    spdlog::debug("not inspecting {}: {}", file.path, tls.message());
    return false;
  }
  bool carries_tls = tls->stack != TlsStack::kNone;
  if (attached_ >= options_.max_attached_files) {
    // Go (and other inspectors') files cannot be told apart without inspecting them: only the
    // files known to carry a stack are counted as skipped.
    if (carries_tls) {
      ++counters_["files_skipped_bound"];
      spdlog::warn("not hooking {} ({}): {} files hooked already (max_attached_files)", file.path,
                   TlsStackName(tls->stack), attached_);
    }
    return false;
  }
  if (carries_tls) {
    auto attached = uprobes_.AttachTlsStack(file.path, *tls);
    if (!attached) {
      ++counters_["attach_failures"];
      spdlog::warn("TLS plaintext capture unavailable for {}: {}", file.path, attached.message());
    }
    hooked = attached && *attached;
  } else {
    for (const auto& inspector : inspectors_) {
      auto r = inspector->OnNewExecutable(file, uprobes_);
      if (!r) {
        ++counters_["attach_failures"];
        spdlog::warn("{}: hooking {} failed: {}", inspector->Name(), file.path, r.message());
      } else if (*r) {
        hooked = true;
        break;
      }
    }
  }
  if (!hooked) return false;
  ++attached_;
  ++counters_["files_hooked"];
  if (file.pid != 0 && exec_mono_ns != 0) {
    const uint64_t now = MonotonicNs();
    uint64_t us = (now - std::min(exec_mono_ns, now)) / 1000;
    counters_["exec_to_attach_us_last"] = us;
    counters_["exec_to_attach_us_max"] = std::max(counters_["exec_to_attach_us_max"], us);
    // The rest of the delay is the exec record's way through the ring buffer and the queue.
    spdlog::info(
        "TLS probes on {} ({}) active {:.1f} ms after pid {} exec'd ({:.1f} ms reading "
        "and attaching)",
        file.path, carries_tls ? TlsStackName(tls->stack) : "inspector", us / 1000.0, file.pid,
        (now - inspect_start) / 1e6);
  } else {
    spdlog::info("TLS probes on {} ({})", file.path,
                 carries_tls ? TlsStackName(tls->stack) : "inspector");
  }
  return true;
}

void ExeAttacher::InspectExe(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns) {
  std::string proc_exe = "/proc/" + std::to_string(pid) + "/exe";
  struct stat st {};
  ExecutableFile f;
  f.pid = pid;
  if (stat(proc_exe.c_str(), &st) == 0) {
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    if (seen_.count({f.dev, f.ino})) return;
    char target[PATH_MAX];
    ssize_t n = readlink(proc_exe.c_str(), target, sizeof target - 1);
    f.path = n > 0 ? ReachablePath(pid, std::string(target, n), f.dev, f.ino) : "";
    // Last resort while the process lives: the kernel resolves the magic link to the inode.
    if (f.path.empty()) f.path = proc_exe;
  } else if (stat(filename.c_str(), &st) == 0 && S_ISREG(st.st_mode) && filename[0] == '/') {
    // Already gone (a short-lived process): its file still gets hooked for the next run.
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    f.path = filename;
  } else {
    return;
  }
  Inspect(f, exec_mono_ns);
}

void ExeAttacher::InspectMaps(uint32_t pid, uint64_t exec_mono_ns) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  for (size_t n = 0; n < options_.max_maps_lines && std::getline(maps, line); ++n) {
    auto e = ParseMapsLine(line);
    if (!e || !e->executable || seen_.count({e->dev, e->ino})) continue;
    ExecutableFile f;
    f.dev = e->dev;
    f.ino = e->ino;
    f.pid = pid;
    f.main_executable = false;
    f.path = ReachablePath(pid, e->path, e->dev, e->ino);
    if (f.path.empty()) continue;
    Inspect(f, exec_mono_ns);
  }
}

void ExeAttacher::OnExec(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns) {
  InspectExe(pid, filename, exec_mono_ns);
  // At exec only the loader's first mappings may be there; libraries loaded by LD_LIBRARY_PATH
  // or dlopen() (Python's _ssl) show up a little later, so the maps are read again.
  InspectMaps(pid, exec_mono_ns);
  auto start_time = StartTime(pid);
  if (!start_time) return;  // gone already
  uint64_t now = MonotonicNs();
  for (uint64_t delay : options_.rescan_delays_ns) {
    if (rescans_.size() >= options_.max_pending_rescans) {
      ++counters_["rescans_dropped"];
      continue;
    }
    rescans_.emplace(now + delay, Rescan{pid, *start_time, exec_mono_ns});
  }
}

void ExeAttacher::Tick(uint64_t now_mono_ns) {
  while (!rescans_.empty() && rescans_.begin()->first <= now_mono_ns) {
    Rescan r = rescans_.begin()->second;
    rescans_.erase(rescans_.begin());
    // Only the process that exec'd in scope: a pid reused since is someone else's.
    if (StartTime(r.pid) == r.start_time) InspectMaps(r.pid, r.exec_mono_ns);
  }
}

void ExeAttacher::ScanDir(const std::string& dir, int depth, uint64_t deadline_ns, size_t& files) {
  bool top = std::find(options_.scan_dirs.begin(), options_.scan_dirs.end(), dir) !=
             options_.scan_dirs.end();
  bool read_files = (top && depth == 0) || dir.ends_with("/bin");
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (dirent* ent = readdir(d)) {
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (files >= options_.max_scan_files || MonotonicNs() > deadline_ns) break;
    std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(path);
      continue;
    }
    if (!read_files) continue;
    // Symlinks are skipped: their targets are regular files found on their own (or not ours to
    // look at). Tiny files cannot hold a TLS stack.
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111) || st.st_size < 64 * 1024) continue;
    if (seen_.count({st.st_dev, st.st_ino}) || !IsElf(path)) continue;
    ++files;
    ExecutableFile f;
    f.path = path;
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    Inspect(f, 0);
  }
  closedir(d);
  // Below /opt, only */bin and */*/bin: vendor trees (/opt/node/bin, /opt/google/chrome) can be
  // huge, and what runs from them is caught at exec anyway.
  for (const auto& sub : subdirs) {
    if (depth <= 0) continue;
    std::string_view base = std::string_view(sub).substr(sub.rfind('/') + 1);
    if (depth == 1 && base != "bin") continue;
    ScanDir(sub, depth - 1, deadline_ns, files);
  }
}

void ExeAttacher::ScanAtStart() {
  uint64_t start = MonotonicNs();
  uint64_t deadline = start + options_.scan_budget_ns;
  size_t files = 0;
  for (const auto& dir : options_.scan_dirs) {
    ScanDir(dir, dir == "/opt" ? 3 : 0, deadline, files);
  }
  uint64_t ms = (MonotonicNs() - start) / 1'000'000;
  counters_["scan_files"] = files;
  counters_["scan_ms"] = ms;
  bool cut = files >= options_.max_scan_files || MonotonicNs() > deadline;
  spdlog::info("start-up scan: {} executables read in {} ms, {} hooked{}", files, ms, attached_,
               cut ? " (stopped at its bound; the rest are inspected when they run)" : "");
}

}  // namespace credsentry::loader
