// The io_uring form of open_read_loop: open + read + close of small NON-credential files, each
// step one io_uring request (OPENAT, READ, CLOSE submitted and waited for in turn), the way a
// client doing all its I/O through a ring ("curing") runs. The agent's io_uring_submit_req and
// io_uring_complete programs sit on every request. Prints microseconds per iteration for each
// repetition and their median, in open_read_loop's format.
//
// Usage: uring_read_loop DIR ITERATIONS REPETITIONS
//   DIR holds the files (created here, removed at exit); start it inside the benchmark's cgroup.
#include <fcntl.h>
#include <liburing.h>
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

// One request, submitted and waited for; its result (negative errno on failure).
int Run(io_uring* ring) {
  io_uring_cqe* cqe = nullptr;
  if (io_uring_submit_and_wait(ring, 1) < 0 || io_uring_wait_cqe(ring, &cqe) < 0) return -EIO;
  int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

double TimeLoop(io_uring* ring, const bench::Files& files, long iterations) {
  char buf[4096];
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    io_uring_prep_openat(io_uring_get_sqe(ring), AT_FDCWD, files.paths[i % bench::kFiles].c_str(),
                         O_RDONLY | O_CLOEXEC, 0);
    int fd = Run(ring);
    if (fd < 0) return -1;
    io_uring_prep_read(io_uring_get_sqe(ring), fd, buf, sizeof(buf), 0);
    if (Run(ring) != static_cast<int>(bench::kFileBytes)) return -1;
    io_uring_prep_close(io_uring_get_sqe(ring), fd);
    if (Run(ring) < 0) return -1;
  }
  std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  return took.count() / iterations;
}

}  // namespace
}  // namespace credsentry

int main(int argc, char** argv) {
  io_uring ring;
  if (int err = io_uring_queue_init(4, &ring, 0); err < 0) {
    std::fprintf(stderr, "uring_read_loop: io_uring_queue_init: %s\n", strerror(-err));
    return 1;
  }
  int rc = credsentry::bench::LoopMain(
      argc, argv, "uring_read_loop", [&ring](const credsentry::bench::Files& files, long n) {
        return credsentry::TimeLoop(&ring, files, n);
      });
  io_uring_queue_exit(&ring);
  return rc;
}
