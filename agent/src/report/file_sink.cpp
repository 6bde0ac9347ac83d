#include "report/file_sink.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "report/alert_json.h"
#include "report/alert_text.h"

namespace credsentry::report {

Result<std::unique_ptr<FileSink>> FileSink::Open(const std::string& path, AlertFormat format) {
  if (path == "-" || path.empty()) {
    return std::unique_ptr<FileSink>(new FileSink(stdout, false, "-", format));
  }
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) return Error{"cannot open alerts file " + path + ": " + std::strerror(errno)};
  return std::unique_ptr<FileSink>(new FileSink(f, true, path, format));
}

FileSink::FileSink(std::FILE* f, bool owned, std::string path, AlertFormat format)
    : file_(f),
      owned_(owned),
      path_(std::move(path)),
      text_(format == AlertFormat::kText ||
            (format == AlertFormat::kAuto && isatty(fileno(f)) == 1)) {}

FileSink::~FileSink() {
  if (owned_) std::fclose(file_);
  else std::fflush(file_);
}

Status FileSink::Write(const alert::Alert& alert) {
  std::string line = text_ ? AlertToTextLine(alert) : AlertToJsonLine(alert);
  line.push_back('\n');
  bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size();
  ok = (std::fflush(file_) == 0) && ok;
  if (!ok) {
    int err = errno;
    std::clearerr(file_);
    if (failed_++ % 100 == 0) {
      spdlog::error("alerts file {}: write failed: {} ({} failures so far)", path_,
                    std::strerror(err), failed_);
    }
    return Error{std::string("alerts file write failed: ") + std::strerror(err)};
  }
  ++written_;
  return Status::Ok();
}

void FileSink::Flush() { std::fflush(file_); }

std::map<std::string, uint64_t> FileSink::Counters() const {
  return {{"written", written_}, {"failed", failed_}};
}

}  // namespace credsentry::report
