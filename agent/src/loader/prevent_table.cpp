#include "loader/prevent_table.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "credsentry_abi.h"
#include "loader/host.h"
#include "loader/skeleton.h"

namespace credsentry::loader {
namespace {

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// The guardian's one pass over the held table: SIGCONT to every tgid held since before
// `older_than` (0: all). Only system calls and a fixed array: the guardian may have been forked
// from a process with threads, where the heap may be locked.
void ReleaseHeld(int map_fd, uint64_t now_ns, uint64_t older_than_ns) {
  static uint32_t keys[CS_MAX_HELD];
  size_t n = 0;
  uint32_t key = 0;
  const void* prev = nullptr;
  while (n < CS_MAX_HELD && bpf_map_get_next_key(map_fd, prev, &key) == 0) {
    keys[n] = key;
    prev = &keys[n];
    ++n;
  }
  for (size_t i = 0; i < n; ++i) {
    cs_prevent_hold hold{};
    if (bpf_map_lookup_elem(map_fd, &keys[i], &hold) != 0) continue;
    // An exec hold waits only for probes to attach: it has the shorter bound.
    const uint64_t bound = hold.reason == CS_HOLD_EXEC
                               ? std::min<uint64_t>(older_than_ns, CS_EXEC_HOLD_NS)
                               : older_than_ns;
    if (older_than_ns != 0 && now_ns - hold.ts_ns < bound) continue;
    kill(static_cast<pid_t>(keys[i]), SIGCONT);
    bpf_map_delete_elem(map_fd, &keys[i]);
  }
}

[[noreturn]] void Guard(int pipe_fd, int map_fd, uint64_t backstop_ns) {
  prctl(PR_SET_NAME, "cs-guardian", 0, 0, 0);
  // Keep the pipe and the table: not the agent's links, which would keep the probes attached
  // (and holding) after the agent died.
  const int lo = std::min(pipe_fd, map_fd), hi = std::max(pipe_fd, map_fd);
  if (lo > 3) close_range(3, lo - 1, 0);
  if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
  close_range(hi + 1, ~0u, 0);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) signal(sig, SIG_IGN);
  for (;;) {
    pollfd p{pipe_fd, POLLIN, 0};
    // 10 ms: an exec hold is let go within CS_EXEC_HOLD_NS + 10 ms of its start (bound 100).
    int r = poll(&p, 1, 10);
    bool agent_gone = false;
    if (r > 0) {
      char byte;
      agent_gone = read(pipe_fd, &byte, 1) <= 0;
    } else if (r < 0 && errno != EINTR) {
      agent_gone = true;
    }
    ReleaseHeld(map_fd, MonotonicNs(), agent_gone ? 0 : backstop_ns);
    if (agent_gone) _exit(0);
  }
}

}  // namespace

uint32_t AnchorSlot(const uint8_t* p) {
  return cs_anchor_slot(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16);
}

void PreventTable::SetEnabled(bool on) {
  std::atomic_ref<uint32_t>(skel_.bss->cs_prevent_on).store(on ? 1 : 0);
}

bool PreventTable::enabled() const {
  return std::atomic_ref<uint32_t>(skel_.bss->cs_prevent_on).load() != 0;
}

size_t PreventTable::SetAnchors(const std::vector<std::string>& text,
                               const std::vector<std::string>& huffman) {
  std::vector<uint64_t> bits(CS_ANCHOR_WORDS, 0), huff(CS_ANCHOR_WORDS, 0),
      next(CS_HUFF_NEXT_WORDS, 0), any(CS_ANCHOR_ANY_WORDS, 0);
  auto set = [](std::vector<uint64_t>& v, uint32_t slot) {
    v[slot / 64] |= uint64_t{1} << (slot % 64);
  };
  for (const auto& a : text) {
    if (a.size() < 3) continue;
    const uint32_t slot = AnchorSlot(reinterpret_cast<const uint8_t*>(a.data()));
    set(bits, slot);
    set(any, cs_anchor_any_slot(slot));
  }
  for (const auto& a : huffman) {
    if (a.size() < 5) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(a.data());
    set(huff, AnchorSlot(p));
    set(any, cs_anchor_any_slot(AnchorSlot(p)));
    set(next, uint32_t(p[3]) | uint32_t(p[4]) << 8);
  }
  size_t n = 0;
  auto store = [&](__u64* dst, const std::vector<uint64_t>& src) {
    for (size_t i = 0; i < src.size(); ++i) {
      std::atomic_ref<__u64>(dst[i]).store(src[i]);
      n += __builtin_popcountll(src[i]);
    }
  };
  // The big bitmaps first: while the stage-zero bits are rewritten, a hit finds its stage.
  store(skel_.bss->cs_anchor_bits, bits);
  store(skel_.bss->cs_huff_bits, huff);
  store(skel_.bss->cs_huff_next, next);
  store(skel_.bss->cs_anchor_any, any);
  return n;
}

void PreventTable::SetExecHold(bool on) {
  std::atomic_ref<uint32_t>(skel_.bss->cs_exec_hold_on).store(on ? 1 : 0);
}

bool PreventTable::MarkExecutableKnown(uint64_t user_dev, uint64_t ino) {
  cs_inode_key key{KernelDev(static_cast<dev_t>(user_dev)), ino};
  uint8_t one = 1;
  return bpf_map__update_elem(skel_.maps.known_exes, &key, sizeof key, &one, sizeof one,
                              BPF_ANY) == 0;
}

PreventTable::ExecRelease PreventTable::ReleaseExecHold(uint32_t pid) {
  cs_prevent_hold hold{};
  // Taken out in one step: the guardian may release the exec hold at any moment, and the process
  // may then be held again for a TLS write, whose entry must stay.
  if (bpf_map_lookup_and_delete_elem(held_map_fd(), &pid, &hold) != 0) return ExecRelease::kTooLate;
  if (hold.reason != CS_HOLD_EXEC) {
    // Put back at once: while it is out the process stays stopped, only unguarded.
    bpf_map_update_elem(held_map_fd(), &pid, &hold, BPF_NOEXIST);
    return ExecRelease::kTooLate;
  }
  ::kill(static_cast<pid_t>(pid), SIGCONT);
  return ExecRelease::kReleased;
}

PreventTable::ExecRelease PreventTable::EndExecHold(uint32_t pid, bool* mark_failed) {
  struct stat st {};
  const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
  *mark_failed = stat(exe.c_str(), &st) == 0 && !MarkExecutableKnown(st.st_dev, st.st_ino);
  return ReleaseExecHold(pid);
}

uint64_t PreventTable::ExecHoldBoundMs() { return CS_EXEC_HOLD_NS / 1'000'000 + 20; }

int PreventTable::held_map_fd() const { return bpf_map__fd(skel_.maps.prevent_held); }

Status PreventTable::Kill(uint32_t pid) {
  // Killed first, forgotten after: the guardian must never see a gap in which it could let the
  // process run.
  int err = ::kill(static_cast<pid_t>(pid), SIGKILL) == 0 ? 0 : errno;
  bpf_map_delete_elem(held_map_fd(), &pid);
  if (err) return Error{"SIGKILL to pid " + std::to_string(pid) + ": " + Errno(err)};
  return Status::Ok();
}

Status PreventTable::Release(uint32_t pid) {
  int err = ::kill(static_cast<pid_t>(pid), SIGCONT) == 0 ? 0 : errno;
  bpf_map_delete_elem(held_map_fd(), &pid);
  if (err) return Error{"SIGCONT to pid " + std::to_string(pid) + ": " + Errno(err)};
  return Status::Ok();
}

Result<std::unique_ptr<PreventGuardian>> PreventGuardian::Start(int held_map_fd,
                                                                uint64_t backstop_ns) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error{std::string("guardian pipe: ") + Errno(errno)};
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(p[0]);
    close(p[1]);
    return Error{std::string("guardian fork: ") + Errno(saved)};
  }
  if (pid == 0) {
    close(p[1]);
    // A new process group: a terminal's ^C or a kill of the agent's group does not reach it.
    setpgid(0, 0);
    Guard(p[0], held_map_fd, backstop_ns);
  }
  close(p[0]);
  return std::unique_ptr<PreventGuardian>(new PreventGuardian(pid, p[1]));
}

PreventGuardian::~PreventGuardian() {
  pipe_ = UniqueFd();
  // It releases and exits at once; a guardian that does not is left to init, not waited for.
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != 0) return;
    usleep(10'000);
  }
}

}  // namespace credsentry::loader
