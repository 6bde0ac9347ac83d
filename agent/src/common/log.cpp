#include "common/log.h"

#include <bpf/libbpf.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

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

namespace {
int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  auto lvl = level == LIBBPF_WARN ? spdlog::level::warn : spdlog::level::debug;
  if (!spdlog::should_log(lvl)) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  if (n > 0 && buf[std::min<size_t>(n, sizeof buf - 1) - 1] == '\n') {
    buf[std::min<size_t>(n, sizeof buf - 1) - 1] = '\0';
  }
  spdlog::log(lvl, "libbpf: {}", buf);
  return 0;
}
}  // namespace

void RouteLibbpf() { libbpf_set_print(LibbpfPrint); }

}  // namespace credsentry::log
