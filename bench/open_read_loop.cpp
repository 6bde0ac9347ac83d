// The syscall loop of the first benchmark: open + read + close of small NON-credential files,
// the pattern that every process on a host runs constantly and that the agent's openat/read/
// close hooks sit on. Prints microseconds per iteration for each repetition and their median.
//
// Usage: open_read_loop DIR ITERATIONS REPETITIONS
//   DIR holds the files (created here, removed at exit); the program must be started inside the
//   benchmark's cgroup so the hooks see it as in scope.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "loop_files.h"

namespace credsentry {
namespace {

// Returns microseconds per iteration, or a negative value when a syscall failed.
double TimeLoop(const bench::Files& files, long iterations) {
  char buf[4096];
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    int fd = open(files.paths[i % bench::kFiles].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf)) != static_cast<ssize_t>(bench::kFileBytes)) return -1;
    close(fd);
  }
  std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  return took.count() / iterations;
}

}  // namespace
}  // namespace credsentry

int main(int argc, char** argv) {
  return credsentry::bench::LoopMain(argc, argv, "open_read_loop", credsentry::TimeLoop);
}
