// Whether this host lets the agent create uprobes: known only by trying (capabilities, LSMs and
// perf_event_paranoid all have a say), so --check attaches one and removes it at once.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::loader {

// Creates a uprobe on `function` of the ELF file `library` for every process, attaches a
// do-nothing BPF program to it and removes both before returning. Ok when all of that worked;
// otherwise the error says which step failed and why ("creating the uprobe on ...: Permission
// denied").
Status TryAttachUprobe(const std::string& library, std::string_view function);

}  // namespace credsentry::loader
