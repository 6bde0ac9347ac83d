#include "report/alert_text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../config/temp_dir.h"
#include "report/file_sink.h"

namespace credsentry::report {
namespace {

// 2026-12-02 06:50:01 UTC
constexpr uint64_t kTime = 1796194201ull * 1000000000ull + 123456789;

alert::Alert Sample() {
  alert::Alert a;
  a.id = "01JEXAMPLE";
  a.time_ns = kTime;
  a.kind = "secret-egress";
  a.severity = alert::Severity::kHigh;
  a.summary = "curl (pid 4242): openai project key sent to an unexpected destination";
  a.destination.host = "127.0.0.1";
  a.destination.port = 8080;
  a.secret.type = "openai-project-key";
  a.secret.redacted = "sk-proj-\u2026Xa9f";
  a.secret.fingerprint = "hmac-sha256:1f2e3d4c5b6a79880011223344556677";
  return a;
}

TEST(AlertText, OneLineWithTimeSeveritySummaryDestinationAndRedactedSecret) {
  EXPECT_EQ(AlertToTextLine(Sample()),
            "2026-12-02 06:50:01Z HIGH secret-egress curl (pid 4242): openai project key sent to "
            "an unexpected destination -> 127.0.0.1:8080 [openai-project-key sk-proj-\u2026Xa9f, "
            "hmac-sha256:1f2e3d4c5b6a\u2026] id 01JEXAMPLE");
}

TEST(AlertText, EscapesControlBytesAndBracketsBareIpv6) {
  alert::Alert a = Sample();
  a.summary = "evil\x1b[2J\n(pid 1)";
  a.destination.host.clear();
  a.destination.ip = "::1";
  a.destination.port = 443;
  std::string line = AlertToTextLine(a);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find("evil\\x1b[2J\\x0a(pid 1) -> [::1]:443"), std::string::npos) << line;
}

// The preview and the fingerprint are all of the secret a reader gets; nothing else of the
// alert (command lines, evidence) is printed.
TEST(AlertText, CarriesNoFieldBeyondSummaryAndRedactedSecret) {
  alert::Alert a = Sample();
  a.process.cmdline = "curl -H Authorization:CMDLINE-MARKER";
  a.evidence.notes = {"NOTE-MARKER"};
  std::string line = AlertToTextLine(a);
  EXPECT_EQ(line.find("CMDLINE-MARKER"), std::string::npos);
  EXPECT_EQ(line.find("NOTE-MARKER"), std::string::npos);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(FileSinkFormat, FileGetsJsonUnlessTextIsAsked) {
  testing::TempDir dir;
  const std::string auto_path = dir.path() + "/auto.jsonl", text_path = dir.path() + "/a.txt";
  {
    auto sink = FileSink::Open(auto_path, AlertFormat::kAuto);  // a file is not a terminal
    ASSERT_TRUE(sink.ok()) << sink.message();
    ASSERT_TRUE((*sink)->Write(Sample()).ok());
    auto text = FileSink::Open(text_path, AlertFormat::kText);
    ASSERT_TRUE(text.ok()) << text.message();
    ASSERT_TRUE((*text)->Write(Sample()).ok());
  }
  EXPECT_EQ(ReadAll(auto_path).rfind("{\"", 0), 0u) << ReadAll(auto_path);
  EXPECT_EQ(ReadAll(text_path), AlertToTextLine(Sample()) + "\n");
}

}  // namespace
}  // namespace credsentry::report
