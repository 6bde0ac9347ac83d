// Alerts to a file (appended) or stdout: JSON lines, or one readable line each (alert_text.h)
// for a person at a terminal. A full disk or an I/O error is counted and logged (rate-limited),
// never fatal: detection goes on and other sinks still get the alert.
#pragma once

#include <cstdio>
#include <memory>

#include "report/sink.h"

namespace credsentry::report {

// kAuto: text when the file is a terminal, JSON lines otherwise (piped, redirected, a file).
enum class AlertFormat { kAuto, kJson, kText };

class FileSink : public AlertSink {
 public:
  // "-" writes to stdout.
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path,
                                                AlertFormat format = AlertFormat::kJson);
  ~FileSink() override;

  std::string Name() const override { return "file"; }
  Status Write(const alert::Alert& alert) override;
  void Flush() override;
  std::map<std::string, uint64_t> Counters() const override;

 private:
  FileSink(std::FILE* f, bool owned, std::string path, AlertFormat format);
  std::FILE* file_;
  bool owned_;
  std::string path_;
  bool text_;  // format resolved at Open: kText, or kAuto on a terminal
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace credsentry::report
