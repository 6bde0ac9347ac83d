// What the pipeline tests share: records laid out exactly as the kernel writes them, a sink that
// keeps every alert (and its JSON line), synthetic keys made at run time, and a pipeline over
// the shipped rules and a fake /proc.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../match/shipped_database.h"
#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
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

// A pipeline on the shipped rules (compiled once per test binary) whose /proc is a temporary folder the test fills: no kernel.
class FakeProcPipelineTest : public ::testing::Test {
 protected:
  explicit FakeProcPipelineTest(std::string hostname) : hostname_(std::move(hostname)) {}

  void SetUp() override {
    proc_ = std::filesystem::temp_directory_path() /
            ("cs-fakeproc-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(proc_);
    db_ = testing::ShippedMatcherDatabase();
    ASSERT_TRUE(db_);
    auto scope = state::Scope::Create({}, proc_.string());
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<state::Scope>(*scope);
    PipelineOptions o;
    o.hostname = hostname_;
    pipeline_ = std::make_unique<Pipeline>(o, *scope_, db_, fp_,
                                           std::vector<report::AlertSink*>{&sink_}, nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(proc_); }

  // /proc/<pid>: status, environ (NUL-separated) and cgroup, as the pipeline reads them.
  void FakeProc(uint32_t pid, uint32_t ppid, uint32_t uid, const std::string& comm,
                const std::string& environ, const std::string& cgroup) {
    auto dir = proc_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "status") << "Name:\t" << comm << "\nPPid:\t" << ppid << "\nUid:\t" << uid
                                  << "\t" << uid << "\t" << uid << "\t" << uid << "\n";
    std::ofstream(dir / "environ", std::ios::binary) << environ;
    std::ofstream(dir / "cgroup") << "0::" << cgroup << "\n";
  }

  // The exec record of /usr/bin/<comm>; argv defaults to {comm}.
  void Exec(uint32_t pid, uint32_t ppid, uint32_t uid, const char* comm, uint64_t stdin_pipe = 0,
            const std::vector<std::string>& argv = {}) {
    cs_exec_event e{};
    e.hdr = Header(CS_EV_EXEC, pid, uid, ++ts_, comm);
    e.ppid = ppid;
    e.stdin_pipe = stdin_pipe;
    std::snprintf(e.filename, sizeof e.filename, "/usr/bin/%s", comm);
    e.filename_len = std::strlen(e.filename);
    std::string args;
    for (const auto& a : argv.empty() ? std::vector<std::string>{comm} : argv) args += a + '\0';
    args.pop_back();
    ASSERT_LE(args.size(), sizeof e.args);
    std::memcpy(e.args, args.data(), args.size());
    e.args_len = args.size();
    pipeline_->Handle(Record(e));
  }

  std::string hostname_;
  std::filesystem::path proc_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  uint64_t ts_ = 1000;
  report::Fingerprinter fp_{"unit-test-key"};
  std::unique_ptr<state::Scope> scope_;
  CaptureSink sink_;
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace credsentry::pipeline::fixture
