// The agent's scope (--cgroup): which processes it may look at. The kernel enforces it before
// copying any byte; user space applies the same rule before reading anything under /proc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace credsentry::state {

class Scope {
 public:
  // `cgroup_dirs` are directories of a mounted cgroup v2 hierarchy; empty = the whole host.
  static Result<Scope> Create(const std::vector<std::string>& cgroup_dirs,
                              const std::string& proc_root = "/proc");

  bool whole_host() const { return relative_.empty(); }
  // The cgroup v2 path of `pid` ("/a/b"), from /proc/<pid>/cgroup.
  std::optional<std::string> CgroupOf(uint32_t pid) const;
  // True when `cgroup_path` (as in /proc/<pid>/cgroup) lies in a scoped subtree.
  bool Contains(const std::string& cgroup_path) const;
  bool ContainsPid(uint32_t pid) const;
  const std::string& proc_root() const { return proc_root_; }

 private:
  std::vector<std::string> relative_;  // scoped subtrees relative to the v2 mount root
  std::string proc_root_;
};

// Where the cgroup v2 hierarchy is mounted ("/sys/fs/cgroup" or "/sys/fs/cgroup/unified").
std::optional<std::string> CgroupV2Mount(const std::string& mountinfo = "/proc/self/mountinfo");

}  // namespace credsentry::state
