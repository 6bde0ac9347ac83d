// --check: what this kernel and host offer, and which of it the agent will use.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.h"
#include "credsentry_abi.h"
#include "loader/host.h"
#include "loader/libbpf_log.h"
#include "loader/probes.h"
#include "loader/tls_libraries.h"
#include "loader/uprobe_check.h"

namespace credsentry::loader {
namespace {

std::string No(const std::string& why) { return "no (" + why + ")"; }

std::string Yes(const std::string& note = "") {
  return note.empty() ? "yes" : "yes (" + note + ")";
}

// Loads (and, when that works, attaches) a do-nothing program of `type` against kernel function
// `btf_func`. fentry and BPF-LSM are only known to work by trying: the verifier and lockdown may
// refuse either at load or at attach time. Returns "" on success, else what failed.
std::string TryBtfProgram(bpf_prog_type type, bpf_attach_type attach, const char* btf_func) {
  struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
  };
  std::unique_ptr<btf, BtfDeleter> vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux) return "no kernel BTF";
  int id = btf__find_by_name_kind(vmlinux.get(), btf_func, BTF_KIND_FUNC);
  if (id < 0) return std::string("kernel has no ") + btf_func;
  // r0 = 0; exit  (linux/filter.h's BPF_MOV64_IMM/BPF_EXIT_INSN are kernel-internal macros)
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach,
              .attach_btf_id = static_cast<__u32>(id));
  int prog = bpf_prog_load(type, "cs_check", "GPL", insns, 2, &opts);
  if (prog < 0) return std::string("load: ") + std::strerror(errno);
  int link = bpf_link_create(prog, 0, attach, nullptr);
  int saved = errno;
  close(prog);
  if (link < 0) return std::string("attach: ") + std::strerror(saved);
  close(link);
  return "";
}

// Loads a do-nothing cgroup sock_addr program of `attach` (r0 = 1: allow) and links it to
// `cgroup_dir`, dropped again with the link's fd. Prevent mode refuses connect() this way for
// what TLS probes cannot read; only attaching proves the kernel lets us. Returns "" on success.
std::string TrySockAddrProgram(bpf_attach_type attach, const std::string& cgroup_dir) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
  int prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cs_check", "GPL", insns, 2, &opts);
  if (prog < 0) return std::string("load: ") + std::strerror(errno);
  int cgroup = open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) {
    int saved = errno;
    close(prog);
    return "open " + cgroup_dir + ": " + std::strerror(saved);
  }
  int link = bpf_link_create(prog, cgroup, attach, nullptr);
  int saved = errno;
  close(cgroup);
  close(prog);
  if (link < 0) return std::string("attach: ") + std::strerror(saved);
  close(link);
  return "";
}

}  // namespace

std::string FeatureReport::ToText() const {
  size_t width = 0;
  for (const auto& [feature, value] : lines) width = std::max(width, feature.size());
  std::string out;
  for (const auto& [feature, value] : lines) {
    out += feature + ":" + std::string(width - feature.size() + 1, ' ') + value + "\n";
  }
  out += can_run ? "result: the agent can run on this host\n"
                 : "result: the agent cannot run on this host (see the 'no' lines above)\n";
  return out;
}

FeatureReport ProbeFeatures(const ProbeOptions& options) {
  RouteLibbpf();
  FeatureReport r;
  bool ok = true;
  auto add = [&r](std::string feature, std::string value) {
    r.lines.emplace_back(std::move(feature), std::move(value));
  };

  bool btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  add("kernel BTF", btf ? Yes("/sys/kernel/btf/vmlinux") : No("/sys/kernel/btf/vmlinux missing"));
  ok &= btf;

  bool ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  add("BPF ring buffer", ringbuf ? Yes() : No("needs Linux 5.8"));
  ok &= ringbuf;

  bool mounted = false;
  Status tracefs = EnsureTracefs(&mounted);
  add("tracefs", tracefs ? Yes(mounted ? std::string("mounted now at ") + kTracefsDir : kTracefsDir)
                         : No(tracefs.message()));
  ok &= tracefs.ok();

  bool tracepoints = tracefs.ok() &&
                     libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr) == 1 &&
                     TracepointExists("syscalls", "sys_enter_openat") &&
                     TracepointExists("sched", "sched_process_exec");
  add("tracepoints (syscalls, sched)",
      tracepoints ? Yes("used") : No("syscall/sched tracepoints missing"));
  ok &= tracepoints;
  if (tracefs.ok()) {
    add("tracepoint openat2", TracepointExists("syscalls", "sys_exit_openat2")
                                  ? Yes("used")
                                  : No("kernel before 5.6; openat2 opens not seen"));
  }

  if (tracefs.ok()) {
    add("io_uring", TracepointExists("io_uring", "io_uring_submit_req") &&
                            TracepointExists("io_uring", "io_uring_complete")
                        ? Yes("tp_btf io_uring_submit_req + io_uring_complete: OPENAT/OPENAT2, "
                              "READ/READV/READ_FIXED/READV_FIXED, CONNECT, SEND/SENDMSG/SEND_ZC/"
                              "SENDMSG_ZC, WRITE/WRITEV(_FIXED); fixed files counted")
                        : No("kernel without io_uring tracepoints; rings not seen"));
  }

  // The uprobe PMU existing is not enough: creating a uprobe needs privileges the agent may
  // lack (CAP_SYS_ADMIN here), so one is really attached and removed at once.
  std::vector<std::string> libs = FindSystemLibssl();
  libs.insert(libs.end(), options.extra_tls_libraries.begin(), options.extra_tls_libraries.end());
  std::vector<std::string> gnutls_libs = FindSystemLibgnutls();
  Status tried = Error{"no libssl or libgnutls to try one on"};
  if (!libs.empty()) {
    tried = TryAttachUprobe(libs.front(), "SSL_write");
  } else if (!gnutls_libs.empty()) {
    tried = TryAttachUprobe(gnutls_libs.front(), "gnutls_record_send");
  }
  bool uprobes = tried.ok();
  add("uprobes", uprobes ? Yes("one attached and removed; used for TLS plaintext")
                         : No(tried.message() +
                              "; TLS plaintext not captured, destinations still named from the "
                              "ClientHello SNI"));

  bool kprobes = access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0 && tracefs.ok() &&
                 access((std::string(kTracefsDir) + "/kprobe_events").c_str(), F_OK) == 0;
  add("kprobes", kprobes ? Yes("not needed, not used") : No("kernel without kprobes; not needed"));

  std::string fentry =
      btf ? TryBtfProgram(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "do_unlinkat") : "no kernel BTF";
  add("fentry/fexit",
      fentry.empty() ? Yes("not used: tracepoints cover it") : No(fentry + "; not needed"));
  std::string lsm =
      btf ? TryBtfProgram(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open") : "no kernel BTF";
  add("BPF-LSM", lsm.empty() ? Yes("not used") : No(lsm + "; not needed"));

  std::string cg2 = CgroupV2Mount();
  add("cgroup v2", cg2.empty() ? No("not mounted; --cgroup unusable") : Yes(cg2));
  if (options.cgroup_paths.size() > CS_MAX_SCOPE_CGROUPS) {
    add("--cgroup", No("more than " + std::to_string(CS_MAX_SCOPE_CGROUPS) + " given"));
    ok = false;
  }
  for (const auto& path : options.cgroup_paths) {
    Status s = CheckCgroupV2Dir(path);
    add("--cgroup " + path, s ? Yes("scope") : No(s.message()));
    ok &= s.ok();
  }
  if (options.cgroup_paths.empty()) add("scope", "whole host (no --cgroup)");

  if (libs.empty()) add("OpenSSL (libssl.so.3)", No("not found; TLS plaintext not captured"));
  for (const auto& lib : libs) {
    auto defined = ElfDefinedFunctions(lib, kOpenSslFunctions);
    if (!defined) {
      add("OpenSSL " + lib, No(defined.message()));
      continue;
    }
    std::string have, missing;
    for (std::string_view f : kOpenSslFunctions) {
      (defined->count(std::string(f)) ? have : missing) += (std::string(f) + " ");
    }
    if (!have.empty()) have.pop_back();
    if (!missing.empty()) missing.pop_back();
    add("OpenSSL " + lib, defined->count("SSL_write")
                              ? Yes("hooks " + have + (missing.empty() ? "" : "; lacks " + missing))
                              : No("lacks SSL_write"));
  }

  if (gnutls_libs.empty()) add("GnuTLS (libgnutls.so.30)", No("not found; wget/apt not hooked"));
  for (const auto& lib : gnutls_libs) {
    auto defined = ElfDefinedFunctions(lib, kGnuTlsFunctions);
    if (!defined) {
      add("GnuTLS " + lib, No(defined.message()));
    } else {
      add("GnuTLS " + lib, defined->count("gnutls_record_send") ? Yes("hooks gnutls_record_send")
                                                                : No("lacks gnutls_record_send"));
    }
  }

  // node and other executables with OpenSSL linked in, libraries in virtualenvs: attach on exec.
  add("TLS in executables",
      uprobes ? Yes("OpenSSL/BoringSSL/GnuTLS symbols in .dynsym/.symtab; start-up scan of "
                    "/usr/bin, /usr/local/bin, /usr/sbin, /opt/*/bin, /opt/*/*/bin, then on "
                    "exec (per inode)")
              : No("needs uprobes"));
  add("TLS in Go executables",
      uprobes ? Yes("crypto/tls.(*Conn).Write found through .gopclntab (stripped binaries too), "
                    "register ABI builds (go1.17+ amd64, go1.18+ arm64); hooked at start-up scan "
                    "and on exec (per inode)")
              : No("needs uprobes"));
  if (access("/usr/bin/node", X_OK) == 0) {
    auto node = FindTlsStack("/usr/bin/node");
    add("TLS in /usr/bin/node",
        !node ? No(node.message())
        : node->stack == TlsStack::kNone
            ? No("no SSL_write in it (dynamically linked to libssl: hooked there)")
            : Yes(std::string(TlsStackName(node->stack)) + " linked in, " +
                  std::to_string(node->offsets.size()) + " functions hooked at exec"));
  }
  for (const auto& [stack, why] : UnhookableTlsStacks()) add(stack, why);

  // Prevent mode: a uprobe holds the writing thread with a signal before the library encrypts
  // (the verifier must offer the helper to uprobe programs), and cgroup connect hooks refuse
  // what cannot be read. Both are tried, on the first --cgroup or else the cgroup v2 root.
  bool send_signal =
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_send_signal_thread, nullptr) == 1;
  bool hold = uprobes && send_signal;
  add("prevent: uprobe hold (bpf_send_signal_thread)",
      hold ? Yes("SIGSTOP from the TLS uprobe before encryption")
           : No(!uprobes ? "needs uprobes" : "helper not offered to uprobe programs"));
  // The exec hold stops a new binary's process from the exec tracepoint until attach on exec
  // has hooked it (bpf/process.bpf.c), in either mode.
  bool exec_signal =
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal_thread, nullptr) == 1;
  add("exec hold (first run of a new binary)",
      uprobes && exec_signal
          ? Yes("SIGSTOP at sched_process_exec until its TLS stack is hooked, at most 100 ms, "
                "fail-open; processes on a terminal are not held (--no-exec-hold turns it off)")
          : No(!uprobes ? "needs uprobes" : "helper not offered to tracepoint programs"));
  std::string scope_dir = options.cgroup_paths.empty() ? cg2 : options.cgroup_paths.front();
  std::string connect4 = scope_dir.empty() ? "cgroup v2 not mounted"
                                           : TrySockAddrProgram(BPF_CGROUP_INET4_CONNECT, scope_dir);
  std::string connect6 = scope_dir.empty() ? "cgroup v2 not mounted"
                                           : TrySockAddrProgram(BPF_CGROUP_INET6_CONNECT, scope_dir);
  std::string sendmsg4 = scope_dir.empty() ? "cgroup v2 not mounted"
                                           : TrySockAddrProgram(BPF_CGROUP_UDP4_SENDMSG, scope_dir);
  std::string sendmsg6 = scope_dir.empty() ? "cgroup v2 not mounted"
                                           : TrySockAddrProgram(BPF_CGROUP_UDP6_SENDMSG, scope_dir);
  add("prevent: cgroup connect4", connect4.empty() ? Yes("attached and removed") : No(connect4));
  add("prevent: cgroup connect6", connect6.empty() ? Yes("attached and removed") : No(connect6));
  add("prevent: cgroup sendmsg4", sendmsg4.empty() ? Yes("attached and removed") : No(sendmsg4));
  add("prevent: cgroup sendmsg6", sendmsg6.empty() ? Yes("attached and removed") : No(sendmsg6));
  const bool block = connect4.empty() && connect6.empty() && sendmsg4.empty() && sendmsg6.empty();
  add("prevent: connect blocking",
      block ? Yes("a process tainted by a credential read, a memory scrape or a pipe from one "
                  "gets EPERM connecting (or sending a datagram) where what it read is not "
                  "expected: for TLS stacks we cannot hook (Java, rustls)")
            : No("the cgroup sock_addr hooks do not attach"));
  add("prevent mode (--mode prevent)",
      hold ? Yes(std::string("TLS writes of OpenSSL, GnuTLS, Go crypto/tls and executables with "
                             "OpenSSL linked in (node) that carry a credential anchor are held, "
                             "and their sender killed when the credential is not expected "
                             "there") +
                 (block ? "; connects of tainted processes are blocked"
                        : "; connect blocking unavailable"))
           : No("no way to hold a TLS write on this kernel"));

  std::string tls_hooks;
  if (uprobes && !libs.empty()) tls_hooks += " + OpenSSL uprobes";
  if (uprobes && !gnutls_libs.empty()) tls_hooks += " + GnuTLS uprobes";
  add("will use",
      "tracepoints (process, file, socket) + raw_tp fork + tp_btf io_uring" + tls_hooks + "; two ring buffers");
  r.can_run = ok;
  return r;
}

}  // namespace credsentry::loader
