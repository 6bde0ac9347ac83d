// Small helpers shared by the files that implement Pipeline (pipeline.cpp, process_events.cpp,
// secret_alerts.cpp); not part of the pipeline's interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace credsentry::pipeline::internal {

// One key per (process, fd) for the per-fd tables.
inline uint64_t FdKey(uint32_t pid, int32_t fd) {
  return (uint64_t{pid} << 32) | static_cast<uint32_t>(fd);
}

inline std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out.push_back(' ');
    out += a;
  }
  return out;
}

}  // namespace credsentry::pipeline::internal
