// Alert <-> JSON line (the contract in README.md, "An alert"). The JSON carries exactly what Alert holds, which
// never includes a raw secret.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "alert/alert.h"

namespace credsentry::report {

nlohmann::json AlertToJson(const alert::Alert& alert);
std::string AlertToJsonLine(const alert::Alert& alert);
// RFC 3339 UTC with nanoseconds.
std::string IsoTime(uint64_t wall_ns);

}  // namespace credsentry::report
