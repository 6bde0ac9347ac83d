// CollectorSink without a collector: Write() never waits on the network, and spool failures are
// counted. (Sending, acks, outages and SIGKILL are in collector/tests/sink_e2e_test.cpp with a
// real collector process.)
#include "report/collector_sink.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>

namespace credsentry::report {
namespace {

// The sink only spools and ships what it is given; the field mapping is alert_proto_test's.
alert::Alert SpooledAlert() {
  alert::Alert a;
  a.id = "host-1:42";
  a.kind = "secret-egress";
  a.severity = alert::Severity::kCritical;
  a.summary = "Anthropic key sent to 203.0.113.9";
  a.host = "host-1";
  return a;
}

TEST(CollectorSink, WriteSpoolsAndReturnsAtOnceWhenTheCollectorIsUnreachable) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sink-test-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  CollectorOptions opts;
  opts.address = "127.0.0.1:1";  // nothing listens there
  opts.spool_dir = dir + "/spool";
  opts.agent_host = "host-1";
  {
    auto sink = CollectorSink::Create(opts);
    ASSERT_TRUE(sink.ok()) << sink.message();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
      alert::Alert a = SpooledAlert();
      a.id = "id-" + std::to_string(i);
      ASSERT_TRUE((*sink)->Write(a).ok());
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    auto c = (*sink)->Counters();
    EXPECT_EQ(c["queued"], 20u);
    EXPECT_EQ(c["pending"], 20u);
    EXPECT_EQ(c["sent"], 0u);
    EXPECT_EQ((*sink)->Name(), "collector");
  }
  std::filesystem::remove_all(dir);
}

TEST(CollectorSink, SpoolWriteFailureIsAClearCountedErrorAndLaterWritesWork) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sink-test-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  CollectorOptions opts;
  opts.address = "127.0.0.1:1";
  opts.spool_dir = dir + "/spool";
  auto sink = CollectorSink::Create(opts);
  ASSERT_TRUE(sink.ok()) << sink.message();
  alert::Alert big = SpooledAlert();
  big.summary = std::string(8000, 's');
  // A file-size limit makes write() fail the way a full disk does, without filling one.
  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit tiny = old;
  tiny.rlim_cur = 1000;
  setrlimit(RLIMIT_FSIZE, &tiny);
  Status st = (*sink)->Write(big);
  setrlimit(RLIMIT_FSIZE, &old);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("spool " + dir + "/spool"), std::string::npos) << st.message();
  auto c = (*sink)->Counters();
  EXPECT_EQ(c["spool_errors"], 1u);
  EXPECT_EQ(c["io_errors"], 1u);
  EXPECT_EQ(c["pending"], 0u);
  EXPECT_TRUE((*sink)->Write(SpooledAlert()).ok());
  EXPECT_EQ((*sink)->Counters()["pending"], 1u);
  sink->reset();
  std::filesystem::remove_all(dir);
}

TEST(CollectorSink, BadOptionsAreClearErrors) {
  CollectorOptions opts;
  opts.address = "collector.example";
  EXPECT_NE(MakeCollectorSink(opts).message().find("has no port"), std::string::npos);
  opts.address = "127.0.0.1:7443";
  opts.ca_file = "/nonexistent/ca.pem";
  opts.cert_file = "/nonexistent/agent.pem";
  opts.key_file = "/nonexistent/agent.key";
  EXPECT_EQ(MakeCollectorSink(opts).message(),
            "cannot read collector CA certificate '/nonexistent/ca.pem'");
  opts.cert_file.clear();
  EXPECT_EQ(MakeCollectorSink(opts).message(), "collector mTLS needs all of ca, cert and key");
}

}  // namespace
}  // namespace credsentry::report
