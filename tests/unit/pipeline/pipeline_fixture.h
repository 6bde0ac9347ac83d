// What the pipeline tests share: records laid out exactly as the kernel writes them, a sink that
// keeps every alert (and its JSON line), and synthetic keys made at run time.
#pragma once

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "credsentry_abi.h"
#include "report/alert_json.h"
#include "report/sink.h"

namespace credsentry::pipeline::fixture {

class CaptureSink : public report::AlertSink {
 public:
  std::string Name() const override { return "capture"; }
  Status Write(const alert::Alert& a) override {
    alerts.push_back(a);
    lines.push_back(report::AlertToJsonLine(a));
    return Status::Ok();
  }
  std::map<std::string, uint64_t> Counters() const override { return {}; }
  std::vector<alert::Alert> alerts;
  std::vector<std::string> lines;
};

inline std::string RandomToken(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(alphabet[rng() % 62]);
  return s;
}

inline std::string OpenAiKey() {
  return "sk-proj-" + RandomToken(74) + "T3BlbkFJ" + RandomToken(74);
}

inline cs_event_header Header(uint16_t type, uint32_t pid, uint32_t uid, uint64_t ts,
                              const char* comm) {
  cs_event_header h{};
  h.type = type;
  h.abi = CS_ABI_VERSION;
  h.pid = pid;
  h.tid = pid;
  h.uid = uid;
  h.ts_ns = ts;
  std::strncpy(h.comm, comm, sizeof h.comm - 1);
  return h;
}

inline cs_event_header Header(uint16_t type, uint32_t pid, uint64_t ts, const char* comm) {
  return Header(type, pid, 0, ts, comm);
}

// The record `v` followed by `tail` (a payload's bytes), as one ring-buffer record.
template <class T>
std::vector<uint8_t> Record(const T& v, std::string_view tail = {}) {
  std::vector<uint8_t> out(sizeof(T) + tail.size());
  std::memcpy(out.data(), &v, sizeof(T));
  std::memcpy(out.data() + sizeof(T), tail.data(), tail.size());
  return out;
}

}  // namespace credsentry::pipeline::fixture
