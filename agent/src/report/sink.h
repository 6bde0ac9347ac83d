// Outputs are plugins behind one interface: the JSON-lines file, the
// collector, and later syslog/webhook. Each sink counts what it wrote and what it could not.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/result.h"
#include "alert/alert.h"

namespace credsentry::report {

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual std::string Name() const = 0;
  // Must not block on the network: a sink that talks to a remote queues and returns.
  virtual Status Write(const alert::Alert& alert) = 0;
  virtual void Flush() {}
  // Counters by name, e.g. {"written": 3, "failed": 0}.
  virtual std::map<std::string, uint64_t> Counters() const = 0;
};

}  // namespace credsentry::report
