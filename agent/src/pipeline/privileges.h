// Once the probes are loaded and attached, the agent no longer needs the capabilities that
// attach them. Dropping them (effective, permitted, inheritable and, where allowed, the bounding
// set) means a compromised agent cannot load tracing programs or create perf events. What
// stays: CAP_BPF (map reads and updates go through bpf()), reading other processes' /proc
// entries (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace credsentry::pipeline {

// Returns the names of the capabilities that were held and are now dropped.
Result<std::vector<std::string>> DropLoadOnlyCapabilities();

// Whether the agent may signal any process (CAP_KILL in its effective set). A hold (prevent
// mode, the exec hold) stops processes from the kernel; continuing another user's needs it, or
// that process would stay stopped.
bool CanSignalAnyProcess();

}  // namespace credsentry::pipeline
