// The query side of `credsentry-collector`: `alerts`, `hosts`, `inventory`. Output is a table
// for people or, with --json, one JSON object per line for scripts.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace credsentry::collector {

// Returns the process exit code: 0 ok, 2 usage error, 1 database error.
int RunQueryCommand(const std::string& command, const std::vector<std::string>& args,
                    std::ostream& out, std::ostream& err);

}  // namespace credsentry::collector
