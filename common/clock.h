// The two clocks the agent and the collector read: kernel records are stamped with
// CLOCK_MONOTONIC, alerts carry wall-clock time.
#pragma once

#include <time.h>

#include <cstdint>

namespace credsentry {

inline uint64_t ClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Nanoseconds on the kernel's ring-buffer clock (bpf_ktime_get_ns).
inline uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

// Nanoseconds since the epoch.
inline uint64_t WallClockNs() { return ClockNs(CLOCK_REALTIME); }

}  // namespace credsentry
