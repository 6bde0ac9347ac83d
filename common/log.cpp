#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace credsentry::log {

Status Init(const std::string& level, const std::string& path) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return Error{"unknown log level '" + level + "' (use trace, debug, info, warn, error, off)"};
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (path.empty()) {
      logger = spdlog::stderr_color_mt("credsentry");
    } else {
      logger = spdlog::basic_logger_mt("credsentry", path);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Error{"cannot open log '" + path + "': " + e.what()};
  }
  logger->set_level(lvl);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace credsentry::log
