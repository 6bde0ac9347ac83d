#include "state/scope.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace credsentry::state {

std::optional<std::string> CgroupV2Mount(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // "36 25 0:31 / /sys/fs/cgroup/unified rw,... shared:9 - cgroup2 cgroup2 rw"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    if (root == "/") return mount_point;
  }
  return std::nullopt;
}

Result<Scope> Scope::Create(const std::vector<std::string>& cgroup_dirs,
                            const std::string& proc_root) {
  Scope scope;
  scope.proc_root_ = proc_root;
  if (cgroup_dirs.empty()) return scope;
  auto mount = CgroupV2Mount();
  if (!mount) return Error{"--cgroup needs a mounted cgroup v2 hierarchy; none found"};
  std::error_code ec;
  auto root = std::filesystem::canonical(*mount, ec);
  for (const auto& dir : cgroup_dirs) {
    auto path = std::filesystem::canonical(dir, ec);
    if (ec) return Error{"--cgroup " + dir + ": " + ec.message()};
    if (!std::filesystem::exists(path / "cgroup.procs")) {
      return Error{"--cgroup " + dir + ": not a cgroup v2 directory (no cgroup.procs)"};
    }
    auto rel = path.lexically_relative(root).generic_string();
    if (rel.empty() || rel.starts_with("..")) {
      return Error{"--cgroup " + dir + ": not under the cgroup v2 mount " + root.string()};
    }
    scope.relative_.push_back(rel == "." ? "/" : "/" + rel);
  }
  return scope;
}

std::optional<std::string> Scope::CgroupOf(uint32_t pid) const {
  std::ifstream in(proc_root_ + "/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return std::nullopt;
}

bool Scope::Contains(const std::string& cgroup_path) const {
  if (whole_host()) return true;
  for (const auto& s : relative_) {
    if (s == "/") return true;
    if (cgroup_path == s) return true;
    if (cgroup_path.size() > s.size() && cgroup_path.starts_with(s) && cgroup_path[s.size()] == '/') {
      return true;
    }
  }
  return false;
}

bool Scope::ContainsPid(uint32_t pid) const {
  if (whole_host()) return true;
  auto cg = CgroupOf(pid);
  return cg && Contains(*cg);
}

}  // namespace credsentry::state
