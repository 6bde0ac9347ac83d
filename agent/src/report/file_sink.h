// JSON-lines alerts to a file (appended) or stdout. A full disk or an I/O error is counted and
// logged (rate-limited), never fatal: detection goes on and other sinks still get the alert.
#pragma once

#include <cstdio>
#include <memory>

#include "report/sink.h"

namespace credsentry::report {

class FileSink : public AlertSink {
 public:
  // "-" writes to stdout.
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path);
  ~FileSink() override;

  std::string Name() const override { return "file"; }
  Status Write(const alert::Alert& alert) override;
  void Flush() override;
  std::map<std::string, uint64_t> Counters() const override;

 private:
  FileSink(std::FILE* f, bool owned, std::string path);
  std::FILE* file_;
  bool owned_;
  std::string path_;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace credsentry::report
