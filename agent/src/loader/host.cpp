#include "loader/host.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace credsentry::loader {

uint64_t KernelDev(dev_t user_dev) {
  // The kernel keeps s_dev as MKDEV(major, minor) = major << 20 | minor (include/linux/kdev_t.h),
  // while glibc's dev_t packs the numbers differently; only major/minor carry over.
  return (static_cast<uint64_t>(major(user_dev)) << 20) | minor(user_dev);
}

Status EnsureTracefs(bool* mounted_now) {
  if (mounted_now) *mounted_now = false;
  struct statfs fs {};
  if (statfs(kTracefsDir, &fs) == 0 && fs.f_type == TRACEFS_MAGIC) return Status::Ok();
  if (mount("tracefs", kTracefsDir, "tracefs", 0, nullptr) != 0) {
    return Error{std::string("tracefs is not mounted at ") + kTracefsDir +
                 " and mounting it failed: " + std::strerror(errno) +
                 " (run as root, or mount -t tracefs tracefs " + kTracefsDir + ")"};
  }
  if (mounted_now) *mounted_now = true;
  return Status::Ok();
}

bool TracepointExists(std::string_view category, std::string_view name) {
  std::string path = std::string(kTracefsDir) + "/events/" + std::string(category) + "/" +
                     std::string(name) + "/id";
  return access(path.c_str(), F_OK) == 0;
}

Status CheckCgroupV2Dir(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Error{"--cgroup " + path + ": " + std::strerror(errno)};
  }
  if (!S_ISDIR(st.st_mode)) return Error{"--cgroup " + path + ": not a directory"};
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) {
    return Error{"--cgroup " + path + ": " + std::strerror(errno)};
  }
  if (fs.f_type != CGROUP2_SUPER_MAGIC) {
    std::string mnt = CgroupV2Mount();
    return Error{"--cgroup " + path + ": not a cgroup v2 directory" +
                 (mnt.empty() ? std::string(" (no cgroup v2 hierarchy is mounted)")
                              : " (cgroup v2 is mounted at " + mnt + ")")};
  }
  return Status::Ok();
}

std::string CgroupV2Mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string source, target, type;
    fields >> source >> target >> type;
    if (type == "cgroup2") return target;
  }
  return "";
}

}  // namespace credsentry::loader
