#include "loader/host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <sstream>
#include <string>

namespace credsentry::loader {
namespace {

TEST(KernelDev, UsesTheKernelsMajorShift20Layout) {
  EXPECT_EQ(KernelDev(makedev(8, 1)), (8ull << 20) | 1);
  EXPECT_EQ(KernelDev(makedev(259, 3)), (259ull << 20) | 3);
  // Minors above 255 are where glibc's and the kernel's encodings differ most.
  EXPECT_EQ(KernelDev(makedev(0, 70000)), 70000ull);
  EXPECT_EQ(KernelDev(makedev(253, 300)), (253ull << 20) | 300);
}

// The device of a mount as the kernel prints it (mountinfo's "major:minor") must encode to what
// KernelDev makes of stat(2)'s st_dev for a file on that mount.
TEST(KernelDev, AgreesWithTheKernelForTheRootMount) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  unsigned major_nr = 0, minor_nr = 0;
  bool found = false;
  while (std::getline(mountinfo, line)) {
    std::istringstream f(line);
    std::string id, parent, devs, root, mountpoint;
    f >> id >> parent >> devs >> root >> mountpoint;
    if (mountpoint == "/" && std::sscanf(devs.c_str(), "%u:%u", &major_nr, &minor_nr) == 2) {
      found = true;
    }
  }
  if (!found) GTEST_SKIP() << "no root mount in mountinfo";
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  EXPECT_EQ(KernelDev(st.st_dev), (static_cast<uint64_t>(major_nr) << 20) | minor_nr);
}

TEST(CheckCgroupV2Dir, NamesTheFlagAndThePathWhenMissing) {
  Status s = CheckCgroupV2Dir("/nonexistent/cs-cgroup");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--cgroup /nonexistent/cs-cgroup"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file"), std::string::npos) << s.message();
}

TEST(CheckCgroupV2Dir, RejectsADirectoryThatIsNotCgroupV2) {
  Status s = CheckCgroupV2Dir("/tmp");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a cgroup v2 directory"), std::string::npos) << s.message();
}

TEST(CheckCgroupV2Dir, RejectsAFile) {
  Status s = CheckCgroupV2Dir("/proc/self/status");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s.message();
}

TEST(CheckCgroupV2Dir, AcceptsTheCgroupV2Root) {
  std::string root = CgroupV2Mount();
  if (root.empty()) GTEST_SKIP() << "no cgroup v2 mounted";
  EXPECT_TRUE(CheckCgroupV2Dir(root).ok()) << CheckCgroupV2Dir(root).message();
}

}  // namespace
}  // namespace credsentry::loader
