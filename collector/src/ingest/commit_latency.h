// How long the database took to commit one group of alert batches, in fixed buckets: what
// /metrics exports as credsentry_collector_commit_duration_seconds.
#pragma once

#include <array>
#include <cstdint>

#include "common/metrics_text.h"

namespace credsentry::collector {

class CommitLatency {
 public:
  // From a WAL fsync on a fast disk (well under 1 ms) to a PostgreSQL commit far away, and the
  // 5 s at which agents start to feel it (their ack watchdog).
  static constexpr std::array<double, 13> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,  0.1,    0.25,  0.5,
                                                     1,      2.5,   5};

  // Not synchronised: the owner holds its own lock.
  void Observe(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    ++counts_[i];
    sum_ += seconds;
  }

  metrics::HistogramCounts Counts() const {
    return {{kBounds.begin(), kBounds.end()}, {counts_.begin(), counts_.end()}, sum_};
  }

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};
  double sum_ = 0;
};

}  // namespace credsentry::collector
