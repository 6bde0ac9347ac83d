// The agent as a service: start-up steps in order, the event loop, reload and shutdown.
#pragma once

#include "config/agent_config.h"

namespace credsentry::pipeline {

// Runs until SIGTERM/SIGINT; returns the process exit code.
int RunDaemon(const config::AgentConfig& cfg);

}  // namespace credsentry::pipeline
