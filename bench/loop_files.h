// What both loops of run-bench.sh share (open_read_loop.cpp, uring_read_loop.cpp): kFiles small
// NON-credential files in DIR, created at start and removed at exit, and the main() that times
// repetitions of a loop over them and prints them in the format run-bench.sh reads.
#ifndef CREDSENTRY_BENCH_LOOP_FILES_H
#define CREDSENTRY_BENCH_LOOP_FILES_H

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace credsentry::bench {

constexpr int kFiles = 16;
constexpr size_t kFileBytes = 1024;

struct Files {
  std::vector<std::string> paths;
  ~Files() {
    for (const auto& p : paths) unlink(p.c_str());
  }
};

// loop-<i>.txt: the name's shape matters to the agent's open filter (credsentry_abi.h), so both
// loops read the same names. `program` names the caller in error messages.
inline bool CreateFiles(const std::string& dir, const char* program, Files* files) {
  std::string body(kFileBytes, 'x');
  for (int i = 0; i < kFiles; ++i) {
    std::string path = dir + "/loop-" + std::to_string(i) + ".txt";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "%s: creating %s: %s\n", program, path.c_str(), strerror(errno));
      return false;
    }
    files->paths.push_back(path);
    bool ok = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
    close(fd);
    if (!ok) {
      std::fprintf(stderr, "%s: writing %s failed\n", program, path.c_str());
      return false;
    }
  }
  return true;
}

// `argv`: DIR ITERATIONS REPETITIONS. `time_loop(files, iterations)` returns microseconds per
// iteration, or a negative value when a step failed.
template <typename TimeLoop>
int LoopMain(int argc, char** argv, const char* program, TimeLoop time_loop) {
  long iterations = argc == 4 ? std::atol(argv[2]) : 0;
  long repetitions = argc == 4 ? std::atol(argv[3]) : 0;
  if (iterations <= 0 || repetitions <= 0) {
    std::fprintf(stderr, "usage: %s DIR ITERATIONS REPETITIONS (both > 0)\n", program);
    return 2;
  }
  Files files;
  if (!CreateFiles(argv[1], program, &files)) return 1;
  time_loop(files, std::min(iterations, 10000L));  // warm the dentry cache and the code
  std::vector<double> us;
  for (long r = 0; r < repetitions; ++r) {
    double v = time_loop(files, iterations);
    if (v < 0) {
      std::fprintf(stderr, "%s: a step of the loop failed: %s\n", program, strerror(errno));
      return 1;
    }
    us.push_back(v);
  }
  std::printf("us_per_iteration");
  for (double v : us) std::printf(" %.4f", v);
  std::sort(us.begin(), us.end());
  std::printf("\nmedian_us_per_iteration %.4f\n", us[us.size() / 2]);
  return 0;
}

}  // namespace credsentry::bench

#endif  // CREDSENTRY_BENCH_LOOP_FILES_H
