// cs-events: loads the credsentry probes and prints one line per ring-buffer record, for
// developers checking the kernel side. Payload bytes are never printed: only their length and a
// SHA-256 prefix, so a test can compare what was captured without the bytes leaving memory.
//
//   cs-events --cgroup /sys/fs/cgroup/unified/t1 [--cred-file PATH[=ID]]...
//             [--cred-name PARENT/NAME[=ID]]... [--tls-lib PATH]... [--duration SEC] [--check]
#include <openssl/evp.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/log.h"
#include "credsentry_abi.h"
#include "loader/host.h"
#include "loader/probes.h"

namespace {

using credsentry::loader::KernelDev;
using credsentry::loader::ProbeOptions;
using credsentry::loader::Probes;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

const char* TypeName(uint16_t type) {
  switch (type) {
    case CS_EV_EXEC:
      return "EXEC";
    case CS_EV_FORK:
      return "FORK";
    case CS_EV_EXIT:
      return "EXIT";
    case CS_EV_CRED_OPEN:
      return "CRED_OPEN";
    case CS_EV_CRED_READ:
      return "CRED_READ";
    case CS_EV_CONNECT:
      return "CONNECT";
    case CS_EV_SOCK_DATA:
      return "SOCK_DATA";
    case CS_EV_TLS_DATA:
      return "TLS_DATA";
    case CS_EV_TLS_SNI:
      return "TLS_SNI";
    case CS_EV_TLS_FD:
      return "TLS_FD";
    case CS_EV_CLOSE:
      return "CLOSE";
  }
  return "UNKNOWN";
}

std::string Sha256Prefix(const uint8_t* data, size_t len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(data, len, md, &md_len, EVP_sha256(), nullptr);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return hex;
}

std::string Bounded(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

std::string Addr(uint16_t family, const uint8_t* addr) {
  char buf[64] = "-";
  if (family == 2) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", addr[0], addr[1], addr[2], addr[3]);
  } else if (family == 10) {
    std::snprintf(buf, sizeof buf, "ipv6:%02x%02x..%02x%02x", addr[0], addr[1], addr[14], addr[15]);
  }
  return buf;
}

template <class T>
const T* As(std::span<const uint8_t> rec) {
  return rec.size() >= sizeof(T) ? reinterpret_cast<const T*>(rec.data()) : nullptr;
}

void PrintRecord(std::span<const uint8_t> rec) {
  const auto* h = As<cs_event_header>(rec);
  if (!h) {
    std::printf("SHORT_RECORD size=%zu\n", rec.size());
    return;
  }
  std::printf("%s pid=%u tid=%u comm=%s", TypeName(h->type), h->pid, h->tid,
              Bounded(h->comm, sizeof h->comm).c_str());
  switch (h->type) {
    case CS_EV_EXEC:
      if (auto* e = As<cs_exec_event>(rec)) {
        std::printf(" ppid=%u filename=%s args_len=%u", e->ppid,
                    Bounded(e->filename, sizeof e->filename).c_str(), e->args_len);
      }
      break;
    case CS_EV_FORK:
      if (auto* e = As<cs_fork_event>(rec)) std::printf(" child=%u", e->child_pid);
      break;
    case CS_EV_EXIT:
      if (auto* e = As<cs_exit_event>(rec)) std::printf(" exit_code=%d", e->exit_code);
      break;
    case CS_EV_CRED_OPEN:
      if (auto* e = As<cs_cred_open_event>(rec)) {
        std::printf(" fd=%d cred_id=%u ino=%llu path=%s", e->fd, e->cred_id,
                    static_cast<unsigned long long>(e->ino),
                    Bounded(e->path, sizeof e->path).c_str());
      }
      break;
    case CS_EV_CONNECT:
      if (auto* e = As<cs_connect_event>(rec)) {
        std::printf(" fd=%d ret=%d addr=%s port=%u sock_type=%u", e->fd, e->ret,
                    Addr(e->family, e->addr).c_str(), e->port, e->sock_type);
      }
      break;
    case CS_EV_TLS_SNI:
      if (auto* e = As<cs_tls_sni_event>(rec)) {
        std::printf(" ssl=%#llx sni=%s", static_cast<unsigned long long>(e->ssl),
                    Bounded(e->name, sizeof e->name).c_str());
      }
      break;
    case CS_EV_TLS_FD:
      if (auto* e = As<cs_tls_fd_event>(rec)) {
        std::printf(" ssl=%#llx fd=%d", static_cast<unsigned long long>(e->ssl), e->fd);
      }
      break;
    case CS_EV_CLOSE:
      if (auto* e = As<cs_close_event>(rec)) std::printf(" fd=%d kind=%u", e->fd, e->fd_kind);
      break;
    case CS_EV_CRED_READ:
    case CS_EV_SOCK_DATA:
    case CS_EV_TLS_DATA:
      if (auto* e = As<cs_data_event>(rec)) {
        size_t have = rec.size() - sizeof(cs_data_event);
        size_t len = std::min<size_t>(e->len, have);
        std::printf(" fd=%d kind=%u state=%u ssl=%#llx total=%llu off=%llu len=%u flags=%u%s",
                    e->fd, e->fd_kind, e->sock_state, static_cast<unsigned long long>(e->ssl),
                    static_cast<unsigned long long>(e->total_len),
                    static_cast<unsigned long long>(e->offset), e->len, e->chunk_flags,
                    e->len > have ? " BAD_LEN" : "");
        if (e->family) std::printf(" to=%s:%u", Addr(e->family, e->addr).c_str(), e->port);
        if (h->type == CS_EV_TLS_DATA) std::printf(" lib=%u", e->tls_lib);
        std::printf(" sha256=%s", Sha256Prefix(rec.data() + sizeof(cs_data_event), len).c_str());
      }
      break;
  }
  std::printf("\n");
  std::fflush(stdout);
}

// "VALUE" or "VALUE=ID" -> (VALUE, ID); ids default to 1, 2, ... in order given.
std::pair<std::string, uint32_t> SplitId(const std::string& arg, uint32_t default_id) {
  auto eq = arg.rfind('=');
  if (eq == std::string::npos) return {arg, default_id};
  return {arg.substr(0, eq), static_cast<uint32_t>(std::stoul(arg.substr(eq + 1)))};
}

int Usage() {
  std::fprintf(stderr,
               "usage: cs-events [--cgroup DIR]... [--cred-file PATH[=ID]]... "
               "[--cred-name PARENT/NAME[=ID]]... [--tls-lib PATH]... [--duration SEC] "
               "[--log-level LEVEL] [--check]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ProbeOptions options;
  std::vector<std::string> cred_files, cred_names;
  double duration = 0;
  bool check = false;
  std::string level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--check") {
      check = true;
    } else if ((a == "--cgroup" || a == "--cred-file" || a == "--cred-name" || a == "--tls-lib" ||
                a == "--duration" || a == "--log-level") &&
               (v = next())) {
      if (a == "--cgroup") options.cgroup_paths.push_back(v);
      if (a == "--cred-file") cred_files.push_back(v);
      if (a == "--cred-name") cred_names.push_back(v);
      if (a == "--tls-lib") options.extra_tls_libraries.push_back(v);
      if (a == "--duration") duration = std::atof(v);
      if (a == "--log-level") level = v;
    } else {
      return Usage();
    }
  }
  if (auto s = credsentry::log::Init(level, ""); !s) {
    std::fprintf(stderr, "cs-events: %s\n", s.message().c_str());
    return 2;
  }
  if (check) {
    auto report = credsentry::loader::ProbeFeatures(options);
    std::fputs(report.ToText().c_str(), stdout);
    return report.can_run ? 0 : 1;
  }

  auto probes = Probes::Open(options);
  if (!probes) {
    std::fprintf(stderr, "cs-events: %s\n", probes.message().c_str());
    return 1;
  }
  uint32_t next_id = 1;
  for (const auto& arg : cred_files) {
    auto [path, id] = SplitId(arg, next_id++);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      std::fprintf(stderr, "cs-events: --cred-file %s: %s\n", path.c_str(), std::strerror(errno));
      return 1;
    }
    if (auto s = (*probes)->tables().WatchInode(KernelDev(st.st_dev), st.st_ino, id); !s) {
      std::fprintf(stderr, "cs-events: %s\n", s.message().c_str());
      return 1;
    }
  }
  for (const auto& arg : cred_names) {
    auto [spec, id] = SplitId(arg, next_id++);
    auto slash = spec.find('/');
    if (slash == std::string::npos) {
      std::fprintf(stderr, "cs-events: --cred-name %s: expected PARENT/NAME\n", spec.c_str());
      return 1;
    }
    auto s = (*probes)->tables().WatchName(spec.substr(0, slash), spec.substr(slash + 1), id);
    if (!s) {
      std::fprintf(stderr, "cs-events: %s\n", s.message().c_str());
      return 1;
    }
  }
  for (const auto& lib : (*probes)->TlsLibraries()) std::printf("# tls-library %s\n", lib.c_str());
  for (const auto& lib : (*probes)->TlsLibrariesFailed()) {
    std::printf("# tls-library-failed %s\n", lib.c_str());
  }
  std::printf("# ready\n");
  std::fflush(stdout);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(duration);
  std::function<void(std::span<const uint8_t>)> sink = PrintRecord;
  while (!g_stop && (duration <= 0 || std::chrono::steady_clock::now() < deadline)) {
    auto n = (*probes)->Poll(100, sink);
    if (!n) {
      std::fprintf(stderr, "cs-events: %s\n", n.message().c_str());
      return 1;
    }
  }
  (*probes)->Poll(0, sink);  // drain what is already there
  for (const auto& [name, value] : (*probes)->Counters()) {
    std::printf("# counter %s %llu\n", name.c_str(), static_cast<unsigned long long>(value));
  }
  return 0;
}
