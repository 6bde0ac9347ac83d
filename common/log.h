// One logging path for the whole agent: spdlog, level-checked before formatting. Never pass a
// secret value to these calls; pass a Redacted preview or a fingerprint instead.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "common/result.h"

namespace credsentry::log {

// Sets up the default logger writing to stderr, or to `path` when not empty.
Status Init(const std::string& level, const std::string& path);

}  // namespace credsentry::log
