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

namespace {

constexpr int kFiles = 16;
constexpr size_t kFileBytes = 1024;

struct Files {
  std::vector<std::string> paths;
  ~Files() {
    for (const auto& p : paths) unlink(p.c_str());
  }
};

bool CreateFiles(const std::string& dir, Files* files) {
  std::string body(kFileBytes, 'x');
  for (int i = 0; i < kFiles; ++i) {
    std::string path = dir + "/loop-" + std::to_string(i) + ".txt";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "open_read_loop: creating %s: %s\n", path.c_str(), strerror(errno));
      return false;
    }
    files->paths.push_back(path);
    bool ok = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
    close(fd);
    if (!ok) {
      std::fprintf(stderr, "open_read_loop: writing %s failed\n", path.c_str());
      return false;
    }
  }
  return true;
}

// Returns microseconds per iteration, or a negative value when a syscall failed.
double TimeLoop(const Files& files, long iterations) {
  char buf[4096];
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    int fd = open(files.paths[i % kFiles].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf)) != static_cast<ssize_t>(kFileBytes)) return -1;
    close(fd);
  }
  std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  return took.count() / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = argc == 4 ? std::atol(argv[2]) : 0;
  long repetitions = argc == 4 ? std::atol(argv[3]) : 0;
  if (iterations <= 0 || repetitions <= 0) {
    std::fprintf(stderr, "usage: open_read_loop DIR ITERATIONS REPETITIONS (both > 0)\n");
    return 2;
  }
  Files files;
  if (!CreateFiles(argv[1], &files)) return 1;
  TimeLoop(files, std::min(iterations, 10000L));  // warm the dentry cache and the code
  std::vector<double> us;
  for (long r = 0; r < repetitions; ++r) {
    double v = TimeLoop(files, iterations);
    if (v < 0) {
      std::fprintf(stderr, "open_read_loop: open/read failed: %s\n", strerror(errno));
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
