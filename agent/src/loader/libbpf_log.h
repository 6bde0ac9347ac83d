// libbpf's own diagnostics, routed into the agent's log.
#pragma once

namespace credsentry::loader {

// Debug for libbpf's info lines, warn for its warnings.
void RouteLibbpf();

}  // namespace credsentry::loader
