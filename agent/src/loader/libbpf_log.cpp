#include "loader/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace credsentry::loader {

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

}  // namespace credsentry::loader
