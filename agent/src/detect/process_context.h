// Who did it, in the words a responder needs: the process with its ancestry, container,
// systemd unit, CI job and credential variables, and the alert for one process opening another
// process's environment or memory (how runner secrets are harvested: tj-actions, 2025).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "decode/events.h"
#include "alert/alert.h"
#include "state/process_table.h"

namespace credsentry::detect {

// Joins argv for display with every secret in it replaced by its redacted preview.
using ArgvRedactor = std::function<std::string(const std::vector<std::string>& argv)>;

// Fills everything known about `pid` (table entry, ancestors) into `out` and its CI job into
// `ci`. `comm` is the record's comm, used when the table does not know the process.
void DescribeProcess(const state::ProcessTable& procs, uint32_t pid, const std::string& comm,
                     const ArgvRedactor& redact, alert::ProcessInfo& out, alert::CiInfo& ci);

// The "process-credential-access" alert. `target` is null when the target is unknown or out
// of scope (then only its pid and the /proc entry's owner are reported). Severity is high when
// the target belongs to another user or holds credential variables, medium otherwise.
alert::Alert ProcessAccessAlert(const decode::ProcessAccess& e, const state::ProcessTable& procs,
                                 const state::Process* target, const ArgvRedactor& redact);

const char* ProcessAccessName(decode::ProcessAccess::What what);

}  // namespace credsentry::detect
