// Attach on exec: TLS stacks linked into executables (node's OpenSSL) and libraries
// loaded from unusual places (a libssl in a virtualenv or a wheel) get the same uprobes as the
// system libraries. Files are inspected once per (dev, inode): at start from a bounded scan of
// the usual binary directories, then whenever an in-scope process execs a file not seen before,
// together with what it maps (/proc/<pid>/maps, read at exec and a few more times in the next
// seconds, as the dynamic loader and early dlopen()s map libraries).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "loader/tls_libraries.h"

namespace credsentry::loader {

// One file (main executable or mapped shared object) seen for the first time, by (dev, inode).
struct ExecutableFile {
  // A path the agent can open and attach to: absolute, possibly /proc/<pid>/root/... .
  std::string path;
  uint64_t dev = 0;  // st_dev from stat(2) (user-space encoding)
  uint64_t ino = 0;
  uint32_t pid = 0;             // process that revealed it; 0 = start-up scan
  bool main_executable = true;  // false: a shared object found in /proc/<pid>/maps
};

// Attaches programs of the one BPF skeleton (every bpf/*.bpf.c) to a file. Links are owned by the
// implementation and live until the agent stops.
class UprobeAttacher {
 public:
  virtual ~UprobeAttacher() = default;
  // `program`: the BPF program's C function name (e.g. "cs_ssl_write"); `file_offset`: file
  // offset of the probed instruction (not its virtual address).
  virtual Status AttachUprobe(std::string_view program, const std::string& path,
                              uint64_t file_offset, bool retprobe) = 0;
  // Hooks the OpenSSL or GnuTLS stack `symbols` (from FindTlsStack) names in the file. true:
  // hooked now; false: that inode is already hooked. Error: attaching failed (nothing left half
  // attached).
  virtual Result<bool> AttachTlsStack(const std::string& path, const TlsStackSymbols& symbols) = 0;
};

// Another kind of TLS stack (Go crypto/tls) registered on the ExeAttacher. Called once per new
// file after the OpenSSL/GnuTLS check, on the agent's main thread, never concurrently: keep it
// fast, it delays the time from exec to probes active.
class ExecutableInspector {
 public:
  virtual ~ExecutableInspector() = default;
  virtual std::string_view Name() const = 0;  // short, for logs and counters: "go_tls"
  // true: it attached probes (the file counts against the attached-files bound); false: not its
  // kind of file; Error: its kind, but attaching failed (counted, logged once per file).
  virtual Result<bool> OnNewExecutable(const ExecutableFile& file, UprobeAttacher& uprobes) = 0;
};

struct ExeAttachOptions {
  size_t max_attached_files = 64;     // files hooked on top of the system libraries
  size_t max_seen_files = 16384;      // (dev, inode) cache; when full, new files are not inspected
  size_t max_pending_rescans = 1024;  // maps reads waiting for their time
  // When the maps are read again after the exec: libraries dlopen()ed early (Python's _ssl, a
  // wheel's bundled libssl) are hooked before most first connections.
  std::vector<uint64_t> rescan_delays_ns = {20'000'000, 100'000'000, 500'000'000, 2'000'000'000};
  size_t max_maps_lines = 4096;  // per /proc/<pid>/maps read
  // Start-up scan: regular files directly in these directories (and /opt/*/bin, /opt/*/*/bin).
  std::vector<std::string> scan_dirs = {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/opt"};
  size_t max_scan_files = 8192;
  uint64_t scan_budget_ns = 3'000'000'000;
};

// One line of /proc/<pid>/maps that maps a file: its (dev, inode) and path.
struct MappedFileEntry {
  uint64_t dev = 0;  // makedev(major, minor) as printed by the kernel
  uint64_t ino = 0;
  bool executable = false;  // 'x' in the permissions: code, where uprobes go
  std::string path;
};
// Parses a maps line; nullopt for anonymous, pseudo ([heap]) or deleted mappings and bad lines.
std::optional<MappedFileEntry> ParseMapsLine(std::string_view line);

class ExeAttacher {
 public:
  ExeAttacher(ExeAttachOptions options, UprobeAttacher& uprobes);

  void AddInspector(std::unique_ptr<ExecutableInspector> inspector);
  // Files already hooked elsewhere (the system libraries): never inspected again.
  void MarkSeen(const std::string& path);
  // Told of every file once it is seen (inspected, or marked), with stat(2)'s (dev, inode): the
  // kernel's exec hold lets its execs go unheld. False: not recorded (counted).
  void SetKnownSink(std::function<bool(uint64_t dev, uint64_t ino)> sink) {
    known_sink_ = std::move(sink);
  }
  // The bounded start-up scan. Logs how many files it read and how long it took.
  void ScanAtStart();
  // An in-scope process exec'd `filename` (as passed to execve; used when the process is already
  // gone); `exec_mono_ns`: the kernel's CLOCK_MONOTONIC time of the exec.
  void OnExec(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns);
  // Second maps reads that are due. Cheap when none is; call from the main loop.
  void Tick(uint64_t now_mono_ns);
  // files_inspected, files_hooked, files_skipped_bound, files_skipped_seen_full, attach_failures,
  // inspect_errors, rescans_dropped, exec_to_attach_us_last/_max, scan_files, scan_ms.
  std::map<std::string, uint64_t> Counters() const { return counters_; }

 private:
  void InspectExe(uint32_t pid, const std::string& filename, uint64_t exec_mono_ns);
  void InspectMaps(uint32_t pid, uint64_t exec_mono_ns);
  // Returns true when the file got probes.
  bool Inspect(const ExecutableFile& file, uint64_t exec_mono_ns);
  void ScanDir(const std::string& dir, int depth, uint64_t deadline_ns, size_t& files);
  void AddSeen(uint64_t dev, uint64_t ino);

  ExeAttachOptions options_;
  UprobeAttacher& uprobes_;
  std::vector<std::unique_ptr<ExecutableInspector>> inspectors_;
  std::function<bool(uint64_t, uint64_t)> known_sink_;
  std::set<std::pair<uint64_t, uint64_t>> seen_;  // (dev, inode), bounded by max_seen_files
  size_t attached_ = 0;
  struct Rescan {
    uint32_t pid;
    uint64_t start_time;  // /proc/<pid>/stat field 22: a reused pid is not the process we meant
    uint64_t exec_mono_ns;
  };
  std::multimap<uint64_t, Rescan> rescans_;  // by due time
  std::map<std::string, uint64_t> counters_;
};

}  // namespace credsentry::loader
