#include "pipeline/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace credsentry::pipeline {
namespace {

// Capabilities only needed to load tracing programs and attach probes; links stay attached
// through the file descriptors the agent holds. CAP_BPF stays: with unprivileged BPF disabled
// (the usual setting) every bpf() call, map lookups and updates included, requires it.
constexpr std::pair<int, const char*> kLoadOnly[] = {
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
    {CAP_PERFMON, "CAP_PERFMON"},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
    {CAP_SYS_MODULE, "CAP_SYS_MODULE"},
};

}  // namespace

Result<std::vector<std::string>> DropLoadOnlyCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    return Error{std::string("capget: ") + std::strerror(errno)};
  }
  std::vector<std::string> dropped;
  for (const auto& [cap, name] : kLoadOnly) {
    const unsigned word = static_cast<unsigned>(cap) / 32;
    const uint32_t bit = 1u << (static_cast<unsigned>(cap) % 32);
    if (data[word].permitted & bit) dropped.emplace_back(name);
    data[word].effective &= ~bit;
    data[word].permitted &= ~bit;
    data[word].inheritable &= ~bit;
    // Needs CAP_SETPCAP; under systemd the unit's bounding set already excludes the rest.
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (syscall(SYS_capset, &header, data) != 0) {
    return Error{std::string("capset: ") + std::strerror(errno)};
  }
  return dropped;
}

bool CanSignalAnyProcess() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[CAP_KILL / 32].effective & (1u << (CAP_KILL % 32));
}

}  // namespace credsentry::pipeline
