// Alert <-> JSON line (the contract in README.md, "An alert"). The JSON carries exactly what Alert holds, which
// never includes a raw secret.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "report/alert.h"

namespace credsentry::report {

nlohmann::json AlertToJson(const Alert& alert);
std::string AlertToJsonLine(const Alert& alert);
// RFC 3339 UTC with nanoseconds.
std::string IsoTime(uint64_t wall_ns);
// 128 random bits as 32 hex digits: the alert's idempotency key across resends.
std::string NewAlertId();

}  // namespace credsentry::report
