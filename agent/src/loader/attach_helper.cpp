#include "loader/attach_helper.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace credsentry::loader {
namespace {

// One request, fixed size: the child never allocates or parses anything variable.
struct AttachRequest {
  char program[64];
  char path[PATH_MAX];
  uint64_t file_offset;
  uint32_t retprobe;
  uint32_t _pad;
};
struct AttachReply {
  int32_t err;  // 0, or the errno that failed
  int32_t _pad;
};

// The uprobe PMU's type and the config bit that makes it a return probe (sysfs, read before the
// fork so the child needs no file access).
struct UprobePmu {
  int type = -1;
  int retprobe_bit = 0;
};

UprobePmu ReadUprobePmu() {
  UprobePmu pmu;
  std::ifstream("/sys/bus/event_source/devices/uprobe/type") >> pmu.type;
  std::string fmt;  // "config:0"
  std::ifstream("/sys/bus/event_source/devices/uprobe/format/retprobe") >> fmt;
  if (auto colon = fmt.find(':'); colon != std::string::npos) {
    pmu.retprobe_bit = std::atoi(fmt.c_str() + colon + 1);
  }
  return pmu;
}

// What libbpf's perf-event attach does, with the program fd we inherited. Returns the fd that
// keeps the probe attached (a BPF link, or the perf event on kernels without perf links).
int MakeUprobeLink(const UprobePmu& pmu, int prog_fd, const AttachRequest& req, int* err) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = static_cast<uint32_t>(pmu.type);
  attr.config = req.retprobe ? (1ull << pmu.retprobe_bit) : 0;
  attr.config1 = reinterpret_cast<uint64_t>(req.path);
  attr.config2 = req.file_offset;
  // pid -1, cpu 0: every process, the way libbpf attaches system-wide uprobes.
  int pfd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (pfd < 0) {
    *err = errno;
    return -1;
  }
  int link = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, nullptr);
  if (link < 0) {
    // Kernels before 5.15 have no perf links: the perf event itself holds the program.
    if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0) {
      *err = errno;
      close(pfd);
      return -1;
    }
    link = pfd;
    pfd = -1;
  }
  if (ioctl(pfd < 0 ? link : pfd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
    *err = errno;
    close(link);
    if (pfd >= 0) close(pfd);
    return -1;
  }
  if (pfd >= 0) close(pfd);  // the BPF link holds its own reference to the perf event
  return link;
}

[[noreturn]] void ServeAttachRequests(int sock, const UprobePmu& pmu,
                                      const std::vector<std::pair<std::string, int>>& programs) {
  prctl(PR_SET_NAME, "cs-attach", 0, 0, 0);
  // Keep only the socket and the programs: not the agent's ring buffers, logs or alert files.
  std::vector<int> keep{sock};
  for (const auto& p : programs) keep.push_back(p.second);
  std::sort(keep.begin(), keep.end());
  unsigned next = 3;
  for (int fd : keep) {
    if (fd > static_cast<int>(next)) close_range(next, fd - 1, 0);
    next = std::max(next, static_cast<unsigned>(fd) + 1);
  }
  close_range(next, ~0u, 0);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) signal(sig, SIG_DFL);
  AttachRequest req;
  for (;;) {
    ssize_t n = recv(sock, &req, sizeof req, 0);
    if (n == 0) _exit(0);  // the agent closed its end: it is stopping
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    AttachReply reply{};
    int link = -1;
    req.program[sizeof req.program - 1] = '\0';
    req.path[sizeof req.path - 1] = '\0';
    int prog_fd = -1;
    for (const auto& [name, fd] : programs) {
      if (std::strcmp(name.c_str(), req.program) == 0) prog_fd = fd;
    }
    if (n != sizeof req || pmu.type < 0 || prog_fd < 0) {
      reply.err = n != sizeof req ? EINVAL : pmu.type < 0 ? ENODEV : ENOENT;
    } else {
      int err = 0;
      link = MakeUprobeLink(pmu, prog_fd, req, &err);
      reply.err = link < 0 ? err : 0;
    }
    iovec iov{&reply, sizeof reply};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (link >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &link, sizeof link);
    }
    ssize_t sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (link >= 0) close(link);  // the agent holds it now (or is gone)
    if (sent < 0) _exit(1);
  }
}

}  // namespace

Result<std::unique_ptr<UprobeAttachHelper>> UprobeAttachHelper::Start(
    std::vector<std::pair<std::string, int>> programs) {
  UprobePmu pmu = ReadUprobePmu();
  if (pmu.type < 0) return Error{"no uprobe PMU in /sys/bus/event_source/devices/uprobe"};
  int sv[2];
  // SEQPACKET: one request, one reply, message boundaries kept.
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error{std::string("attach helper socketpair: ") + std::strerror(errno)};
  }
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(sv[0]);
    close(sv[1]);
    return Error{std::string("attach helper fork: ") + std::strerror(saved)};
  }
  if (pid == 0) {
    close(sv[0]);
    // Dies with the agent, whatever kills it.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) _exit(0);
    ServeAttachRequests(sv[1], pmu, programs);
  }
  close(sv[1]);
  timeval timeout{.tv_sec = 5, .tv_usec = 0};  // a wedged helper must not wedge the agent
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return std::unique_ptr<UprobeAttachHelper>(new UprobeAttachHelper(pid, sv[0]));
}

UprobeAttachHelper::~UprobeAttachHelper() {
  sock_ = UniqueFd();
  int status = 0;
  waitpid(pid_, &status, 0);
}

Result<UniqueFd> UprobeAttachHelper::Attach(std::string_view program, const std::string& path,
                                            uint64_t file_offset, bool retprobe) {
  AttachRequest req{};
  if (program.size() >= sizeof req.program || path.size() >= sizeof req.path) {
    return Error{"attach request too long: " + std::string(program) + " on " + path};
  }
  std::memcpy(req.program, program.data(), program.size());
  std::memcpy(req.path, path.data(), path.size());
  req.file_offset = file_offset;
  req.retprobe = retprobe;
  if (send(sock_.get(), &req, sizeof req, MSG_NOSIGNAL) != sizeof req) {
    return Error{std::string("attach helper: ") + std::strerror(errno)};
  }
  AttachReply reply{};
  iovec iov{&reply, sizeof reply};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof reply) {
    return Error{std::string("attach helper did not answer: ") +
                 (n < 0 ? std::strerror(errno) : "short reply")};
  }
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
  }
  UniqueFd link(fd);
  if (reply.err != 0) return Error{std::strerror(reply.err)};
  if (link.get() < 0) return Error{"attach helper sent no link"};
  return link;
}

}  // namespace credsentry::loader
