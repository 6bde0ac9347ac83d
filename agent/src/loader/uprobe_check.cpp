#include "loader/uprobe_check.h"

#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/unique_fd.h"
#include "loader/tls_libraries.h"

namespace credsentry::loader {
namespace {

constexpr const char* kUprobePmuType = "/sys/bus/event_source/devices/uprobe/type";

}  // namespace

Status TryAttachUprobe(const std::string& library, std::string_view function) {
  auto offset = ElfFunctionFileOffset(library, function);
  if (!offset) return Error{offset.message()};
  int pmu_type = -1;
  if (!(std::ifstream(kUprobePmuType) >> pmu_type) || pmu_type < 0) {
    return Error{std::string("no uprobe PMU (") + kUprobePmuType + ")"};
  }
  // The perf event libbpf creates for bpf_program__attach_uprobe_opts(pid -1): a uprobe PMU
  // event with the path in config1 and the file offset in config2, on every process.
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = static_cast<uint32_t>(pmu_type);
  attr.config1 = reinterpret_cast<uint64_t>(library.c_str());
  attr.config2 = *offset;
  UniqueFd event(static_cast<int>(syscall(SYS_perf_event_open, &attr, -1 /* any pid */,
                                          0 /* cpu */, -1 /* no group */, PERF_FLAG_FD_CLOEXEC)));
  if (event.get() < 0) {
    return Error{"creating the uprobe on " + library + ":" + std::string(function) + ": " +
                 std::strerror(errno)};
  }
  // r0 = 0; exit  (linux/filter.h's BPF_MOV64_IMM/BPF_EXIT_INSN are kernel-internal macros)
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "cs_check_up", "GPL", insns, 2, nullptr));
  if (prog.get() < 0) {
    return Error{std::string("loading a uprobe program: ") + std::strerror(errno)};
  }
  if (ioctl(event.get(), PERF_EVENT_IOC_SET_BPF, prog.get()) != 0) {
    return Error{std::string("attaching a program to the uprobe: ") + std::strerror(errno)};
  }
  return Status::Ok();  // closing the event fd removes the uprobe
}

}  // namespace credsentry::loader
