// Facts about the host the probes need: tracefs, cgroup v2 directories, device numbers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::loader {

inline constexpr const char* kTracefsDir = "/sys/kernel/tracing";

// Makes sure tracefs is mounted at kTracefsDir (tracepoint ids are read from it), mounting it
// when missing. `mounted_now` tells whether this call mounted it.
Status EnsureTracefs(bool* mounted_now);

// True when tracefs lists events/<category>/<name> (the tracepoint exists on this kernel).
bool TracepointExists(std::string_view category, std::string_view name);

// Ok when `path` is a directory on a cgroup v2 filesystem; otherwise says what it is instead.
Status CheckCgroupV2Dir(const std::string& path);

// Where the cgroup v2 hierarchy is mounted ("" when none), from /proc/self/mounts.
std::string CgroupV2Mount();

// st_dev from stat(2) -> the kernel's s_dev encoding used in cs_inode_key.
uint64_t KernelDev(dev_t user_dev);

}  // namespace credsentry::loader
