// Prevent mode's verdicts, fed with held records laid out as the kernel writes them: the held
// sender of a key to a host not expected for it is killed and the alert says so; a call to the
// key's provider, a write without a key and a process an allow rule names are released; a hold
// is never kept past its bound.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <random>
#include <set>
#include <string_view>
#include <cstring>
#include <string>
#include <vector>

#include "credsentry_abi.h"
#include "loader/prevent_table.h"
#include "match/known_values.h"
#include "pipeline/pipeline.h"
#include "pipeline/prevent_gate.h"
#include "pipeline_fixture.h"
#include "report/alert_names.h"

namespace credsentry::pipeline {
namespace {

using fixture::CaptureSink;
using fixture::Header;
using fixture::OpenAiKey;
using fixture::Record;

class RecordingKernel : public KernelControl {
 public:
  void UnwatchFd(uint32_t, int32_t) override {}
  bool KillHeld(uint32_t pid) override {
    killed.push_back(pid);
    return true;
  }
  void ReleaseHeld(uint32_t pid) override { released.push_back(pid); }
  void SetPreventAnchors(const PreventAnchorSet& a) override { anchors = a.text; }
  std::vector<uint32_t> killed, released;
  std::vector<std::string> anchors;
};

constexpr uint64_t kMs = 1'000'000;

// The kernel's two-stage anchor test (bpf/helpers/prevent.bpf.h) over `bytes`, as the bits
// PreventTable::SetAnchors writes would make it.
bool KernelWouldHold(const PreventAnchorSet& set, std::string_view bytes) {
  std::set<uint32_t> text, huff, next;
  for (const auto& a : set.text) text.insert(loader::AnchorSlot(reinterpret_cast<const uint8_t*>(a.data())));
  for (const auto& a : set.huffman) {
    const auto* p = reinterpret_cast<const uint8_t*>(a.data());
    huff.insert(loader::AnchorSlot(p));
    next.insert(uint32_t(p[3]) | uint32_t(p[4]) << 8);
  }
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t len = bytes.size();
  for (size_t q = 0; q + 2 < len; ++q) {
    const uint32_t slot = loader::AnchorSlot(b + q);
    if (text.count(slot)) {
      bool printable = true;
      for (size_t i = 3; i < 3 + CS_ANCHOR_TAIL && q + i < len; ++i) {
        printable &= b[q + i] >= 0x21 && b[q + i] <= 0x7e;
      }
      if (printable) return true;
    }
    if (huff.count(slot) && (q + 4 >= len || next.count(uint32_t(b[q + 3]) | b[q + 4] << 8))) {
      return true;
    }
  }
  return false;
}

class PreventTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scope = state::Scope::Create({}, "/nonexistent-proc");
    ASSERT_TRUE(scope.ok());
    scope_ = std::make_unique<state::Scope>(*scope);
    PipelineOptions o;
    o.hostname = "test-host";
    pipeline_ = std::make_unique<Pipeline>(o, *scope_, testing::ShippedMatcherDatabase(), fp_,
                                           std::vector<report::AlertSink*>{&sink_}, &kernel_);
  }

  void Connect(uint32_t pid, int fd) {
    cs_connect_event e{};
    e.hdr = Header(CS_EV_CONNECT, pid, ts_ += kMs, "curl");
    e.fd = fd;
    e.family = AF_INET;
    e.port = 8443;
    e.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, "127.0.0.1", e.addr);
    pipeline_->Handle(Record(e));
  }

  void Sni(uint32_t pid, uint64_t ssl, const char* name) {
    cs_tls_sni_event e{};
    e.hdr = Header(CS_EV_TLS_SNI, pid, ts_ += kMs, "curl");
    e.ssl = ssl;
    std::strcpy(e.name, name);
    e.name_len = std::strlen(name);
    pipeline_->Handle(Record(e));
  }

  void TlsFd(uint32_t pid, uint64_t ssl, int fd) {
    cs_tls_fd_event e{};
    e.hdr = Header(CS_EV_TLS_FD, pid, ts_ += kMs, "curl");
    e.ssl = ssl;
    e.fd = fd;
    pipeline_->Handle(Record(e));
  }

  // A TLS write as prevent mode sends it from the write function's entry: fd unknown, held.
  void HeldWrite(uint32_t pid, uint64_t ssl, std::string_view bytes, bool last = true) {
    cs_data_event e{};
    e.hdr = Header(CS_EV_TLS_DATA, pid, ts_ += kMs, "curl");
    e.fd = -1;
    e.ssl = ssl;
    e.tls_lib = CS_TLS_OPENSSL;
    e.sock_state = CS_SOCK_TLS;
    e.len = bytes.size();
    e.total_len = bytes.size();
    e.chunk_flags = CS_CHUNK_HELD | (last ? CS_CHUNK_LAST : 0);
    pipeline_->Handle(Record(e, bytes));
  }

  void Exec(uint32_t pid, const char* comm) {
    cs_exec_event e{};
    e.hdr = Header(CS_EV_EXEC, pid, ts_ += kMs, comm);
    e.ppid = 1;
    std::snprintf(e.filename, sizeof e.filename, "/usr/bin/%s", comm);
    e.filename_len = std::strlen(e.filename);
    std::strcpy(e.args, comm);
    e.args_len = std::strlen(comm);
    pipeline_->Handle(Record(e));
  }

  // A write on a plain TCP socket: the syscall tracepoint saw it leave, nothing held it.
  void PlainWrite(uint32_t pid, int fd, std::string_view bytes) {
    cs_data_event e{};
    e.hdr = Header(CS_EV_SOCK_DATA, pid, ts_ += kMs, "curl");
    e.fd = fd;
    e.fd_kind = CS_FD_SOCK_TCP;
    e.sock_state = CS_SOCK_PLAIN;
    e.len = bytes.size();
    e.total_len = bytes.size();
    e.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(e, bytes));
  }

  void Connection(uint32_t pid, uint64_t ssl, const char* name) {
    Connect(pid, 5);
    Sni(pid, ssl, name);
    TlsFd(pid, ssl, 5);
  }

  static std::string Request(const std::string& host, const std::string& key) {
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host +
           "\r\nAuthorization: Bearer " + key + "\r\nContent-Length: 2\r\n\r\n{}";
  }

  uint64_t Counter(const std::string& name) { return pipeline_->Counters()[name]; }

  uint64_t ts_ = 1000 * kMs;
  report::Fingerprinter fp_{"unit-test-key"};
  std::unique_ptr<state::Scope> scope_;
  CaptureSink sink_;
  RecordingKernel kernel_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PreventTest, HeldKeyToAnUnexpectedHostKillsTheSenderAndTheAlertSaysKilled) {
  pipeline_->SetPrevent(true, {});
  const std::string key = OpenAiKey();
  Connection(200, 0x200, "exfil.test");
  HeldWrite(200, 0x200, Request("exfil.test", key));
  ASSERT_EQ(kernel_.killed, std::vector<uint32_t>{200});
  EXPECT_TRUE(kernel_.released.empty());
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].action, alert::Action::kKilled);
  EXPECT_NE(sink_.lines[0].find("\"action\":\"killed\""), std::string::npos) << sink_.lines[0];
  EXPECT_EQ(sink_.alerts[0].destination.host, "exfil.test");
  EXPECT_EQ(sink_.lines[0].find(key), std::string::npos) << "raw key in alert JSON";
  EXPECT_EQ(Counter("prevent_kills"), 1u);
  EXPECT_EQ(Counter("prevent_held_now"), 0u);
}

TEST_F(PreventTest, PlainHttpKeyToAnUnexpectedHostKillsTheSenderAfterTheWrite) {
  pipeline_->SetPrevent(true, {});
  const std::string key = OpenAiKey(), other = OpenAiKey();
  Exec(210, "curl");
  Connect(210, 5);
  // Two keys in one write: one kill, and the second match does not kill or report it again.
  PlainWrite(210, 5, Request("exfil.test", key) + "\r\nX-Also: " + other);
  ASSERT_EQ(kernel_.killed, std::vector<uint32_t>{210});
  ASSERT_GE(sink_.alerts.size(), 1u);
  for (const auto& a : sink_.alerts) EXPECT_EQ(a.action, alert::Action::kKilledAfterSend);
  EXPECT_NE(sink_.lines[0].find("\"action\":\"killed-after-send\""), std::string::npos)
      << sink_.lines[0];
  for (const auto& line : sink_.lines) {
    EXPECT_EQ(line.find(key), std::string::npos) << "raw key in alert JSON";
    EXPECT_EQ(line.find(other), std::string::npos) << "raw key in alert JSON";
  }
  EXPECT_EQ(Counter("prevent_kills_after_send"), 1u);
  EXPECT_EQ(Counter("prevent_kills"), 0u);
}

TEST_F(PreventTest, PlainHttpIsOnlyObservedInDetectModeAndUnderAnAllowRule) {
  Exec(211, "curl");
  Connect(211, 5);
  PlainWrite(211, 5, Request("exfil.test", OpenAiKey()));  // detect mode
  EXPECT_TRUE(kernel_.killed.empty());
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].action, alert::Action::kObserved);

  pipeline_->SetPrevent(true, {PreventAllow{.process = "curl"}});
  Exec(213, "curl");
  Connect(213, 7);
  PlainWrite(213, 7, Request("exfil.test", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  ASSERT_EQ(sink_.alerts.size(), 2u);
  EXPECT_EQ(sink_.alerts[1].action, alert::Action::kObserved);
  EXPECT_EQ(Counter("prevent_exempted"), 1u);
}

TEST_F(PreventTest, AnAllowRuleForOneKindDoesNotSpareTheSamePlainSendersOtherKinds) {
  pipeline_->SetPrevent(true, {PreventAllow{.kind = "openai-project-key"}});
  Exec(215, "curl");
  Connect(215, 5);
  PlainWrite(215, 5, Request("exfil.test", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  PlainWrite(215, 5, Request("exfil.test", "sk-ant-api03-" + fixture::RandomToken(93) + "AA"));
  EXPECT_EQ(kernel_.killed, std::vector<uint32_t>{215});
  EXPECT_EQ(Counter("prevent_exempted"), 1u);
  EXPECT_EQ(Counter("prevent_kills_after_send"), 1u);
}

TEST_F(PreventTest, APlainSenderThatHasExitedIsNeverSignalled) {
  // Its write reaches the pipeline after its exit: the pid may be someone else's by now.
  pipeline_->SetPrevent(true, {});
  Exec(214, "curl");
  Connect(214, 5);
  cs_exit_event exit{};
  exit.hdr = Header(CS_EV_EXIT, 214, ts_ += kMs, "curl");
  pipeline_->Handle(Record(exit));
  PlainWrite(214, 5, Request("exfil.test", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].action, alert::Action::kObserved);
}

TEST_F(PreventTest, HeldKeyToItsProviderIsReleasedWithoutAnAlert) {
  pipeline_->SetPrevent(true, {});
  Connection(201, 0x201, "api.openai.com");
  HeldWrite(201, 0x201, Request("api.openai.com", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  EXPECT_EQ(kernel_.released, std::vector<uint32_t>{201});
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(Counter("prevent_releases"), 1u);
}

TEST_F(PreventTest, AHeldWriteOfSeveralChunksIsJudgedWholeBeforeRelease) {
  pipeline_->SetPrevent(true, {});
  const std::string key = OpenAiKey();
  Connection(202, 0x202, "exfil.test");
  const std::string req = Request("exfil.test", key);
  const size_t cut = req.find(key) + 10;  // the key goes on in the next chunk
  HeldWrite(202, 0x202, req.substr(0, cut), /*last=*/false);
  EXPECT_TRUE(kernel_.released.empty()) << "released before the last chunk";
  HeldWrite(202, 0x202, req.substr(cut));
  EXPECT_EQ(kernel_.killed, std::vector<uint32_t>{202});
  EXPECT_TRUE(kernel_.released.empty());
}

TEST_F(PreventTest, AnAllowRuleExemptsTheProcessAndTheAlertSaysObserved) {
  pipeline_->SetPrevent(true, {PreventAllow{.process = "curl"}});
  Connection(203, 0x203, "exfil.test");
  HeldWrite(203, 0x203, Request("exfil.test", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  EXPECT_EQ(kernel_.released, std::vector<uint32_t>{203});
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].action, alert::Action::kObserved);
  EXPECT_EQ(Counter("prevent_exempted"), 1u);
}

TEST_F(PreventTest, DetectModeNeverKillsEvenWhenTheKernelHeld) {
  // A record held just before SIGHUP switched to detect: judged, reported, released.
  pipeline_->SetPrevent(false, {});
  Connection(204, 0x204, "exfil.test");
  HeldWrite(204, 0x204, Request("exfil.test", OpenAiKey()));
  EXPECT_TRUE(kernel_.killed.empty());
  EXPECT_EQ(kernel_.released, std::vector<uint32_t>{204});
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].action, alert::Action::kObserved);
}

TEST_F(PreventTest, AHoldWhoseLastChunkNeverComesIsReleasedAtTheBound) {
  pipeline_->SetPrevent(true, {});
  Connection(205, 0x205, "exfil.test");
  HeldWrite(205, 0x205, "POST / HTTP/1.1\r\nHost: exfil.test\r\n", /*last=*/false);
  const uint64_t held_at = ts_;
  pipeline_->Tick(held_at + 150 * kMs);
  EXPECT_TRUE(kernel_.released.empty());
  pipeline_->Tick(held_at + 200 * kMs);
  EXPECT_EQ(kernel_.released, std::vector<uint32_t>{205});
  EXPECT_EQ(Counter("prevent_released_on_timeout"), 1u);
}

TEST_F(PreventTest, DrainReleasesEveryHeldProcess) {
  pipeline_->SetPrevent(true, {});
  Connection(206, 0x206, "exfil.test");
  HeldWrite(206, 0x206, "POST / HTTP/1.1\r\n", /*last=*/false);
  pipeline_->Drain();
  EXPECT_EQ(kernel_.released, std::vector<uint32_t>{206});
}

TEST_F(PreventTest, TheKernelIsGivenTheCatalogueAnchors) {
  pipeline_->SetPrevent(true, {});
  auto has = [&](const std::string& a) {
    return std::find(kernel_.anchors.begin(), kernel_.anchors.end(), a) != kernel_.anchors.end();
  };
  EXPECT_TRUE(has("sk-")) << "OpenAI / Anthropic prefix";
  EXPECT_TRUE(has("AKI")) << "AWS access key id";
  EXPECT_TRUE(has("ghp")) << "GitHub PAT";
  for (const auto& a : kernel_.anchors) EXPECT_EQ(a.size(), 3u);
}

TEST(PreventAnchors, KnownValuesAreAnchoredRawAndEncoded) {
  const std::string value = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  auto anchors = PreventAnchors({.patterns = {}, .known_values = {value}}).text;
  auto has = [&](const std::string& a) {
    return std::find(anchors.begin(), anchors.end(), a) != anchors.end();
  };
  EXPECT_TRUE(has("wJa"));
  for (const auto& [form, encoding] : match::EncodedForms(value)) {
    if (form.size() >= 3) {
      EXPECT_TRUE(has(form.substr(0, 3))) << encoding;
    }
  }
}

TEST(PreventAnchors, HuffmanCodedHttp2HeaderValuesAreAnchored) {
  // What nghttp2 (curl, node) and Go send for "authorization: Bearer sk-proj-...": the value is
  // Huffman-coded, and not one raw byte of the key is in the frame.
  nghttp2_hd_deflater* d = nullptr;
  ASSERT_EQ(nghttp2_hd_deflate_new(&d, 4096), 0);
  std::string name = "authorization", value = "Bearer " + fixture::OpenAiKey();
  nghttp2_nv nv{reinterpret_cast<uint8_t*>(name.data()), reinterpret_cast<uint8_t*>(value.data()),
                name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  uint8_t block[512];
  ssize_t n = nghttp2_hd_deflate_hd(d, block, sizeof block, &nv, 1);
  nghttp2_hd_deflate_del(d);
  ASSERT_GT(n, 0);
  const std::string frame(reinterpret_cast<const char*>(block), n);
  ASSERT_EQ(frame.find("sk-"), std::string::npos) << "the value was not Huffman-coded";

  PreventAnchorSources sources;
  sources.patterns = {"sk-proj-[A-Za-z0-9_-]{74}T3BlbkFJ[A-Za-z0-9_-]{74}"};
  const PreventAnchorSet set = PreventAnchors(sources);
  ASSERT_FALSE(set.huffman.empty());
  EXPECT_TRUE(KernelWouldHold(set, frame)) << "the kernel would not hold this HEADERS frame";
}

TEST(PreventAnchors, RandomBytesAlmostNeverHoldAWrite) {
  // A compressed or encrypted upload must not pay a round trip per write.
  PreventAnchorSources sources;
  for (const auto& kind : testing::ShippedMatcherDatabase()->rules().kinds) {
    sources.patterns.push_back(kind.pattern);
  }
  const PreventAnchorSet set = PreventAnchors(sources);
  std::mt19937_64 rng(42);
  size_t held = 0;
  for (int write = 0; write < 256; ++write) {  // 256 writes of 4 KiB: 1 MiB
    std::string bytes(4096, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    held += KernelWouldHold(set, bytes) ? 1 : 0;
  }
  EXPECT_LE(held, 8u) << "writes of random bytes held out of 256";
}

TEST(PreventAnchors, AKeyInPlainTextIsHeldAndProseIsNot) {
  PreventAnchorSources sources;
  for (const auto& kind : testing::ShippedMatcherDatabase()->rules().kinds) {
    sources.patterns.push_back(kind.pattern);
  }
  const PreventAnchorSet set = PreventAnchors(sources);
  EXPECT_TRUE(KernelWouldHold(set, "Authorization: Bearer " + fixture::OpenAiKey() + "\r\n"));
  EXPECT_TRUE(KernelWouldHold(set, "{\"id\":\"AKIA" + fixture::RandomToken(16) + "\"}"));
  EXPECT_FALSE(KernelWouldHold(set, "GET /index.html HTTP/1.1\r\nHost: example.com\r\n"
                                    "Accept: */*\r\nUser-Agent: curl/7.88.1\r\n\r\n"));
}

TEST(PreventAnchors, TheKernelSlotOfAnAnchorIsTheOneTheScanComputes) {
  // The probe builds the trigram little-endian from three bytes (bpf/helpers/prevent.bpf.h).
  const uint8_t sk[] = {'s', 'k', '-'};
  EXPECT_EQ(loader::AnchorSlot(sk), cs_anchor_slot('s' | 'k' << 8 | '-' << 16));
  EXPECT_LT(loader::AnchorSlot(sk), 1u << CS_ANCHOR_BITS);
}

TEST(PreventGate, TheHoldTableIsBounded) {
  PreventGate gate;
  for (uint32_t pid = 1; pid <= PreventGate::kMaxHolds; ++pid) {
    ASSERT_TRUE(gate.OnHeldChunk(pid, 1, false));
  }
  EXPECT_FALSE(gate.OnHeldChunk(999'999, 1, false));
  EXPECT_EQ(gate.counters().prevent_hold_table_full, 1u);
  EXPECT_EQ(gate.TakeAll().size(), PreventGate::kMaxHolds);
}

TEST(PreventAllowRule, EveryFieldGivenMustMatch) {
  PreventAllow r{.process = "terraform", .destination = "registry.terraform.io", .kind = ""};
  EXPECT_TRUE(r.Matches("terraform", "/usr/bin/terraform", "registry.terraform.io", "", "x"));
  EXPECT_TRUE(r.Matches("terraform-prov", "/opt/bin/terraform", "registry.terraform.io", "", "x"));
  EXPECT_FALSE(r.Matches("terraform", "/usr/bin/terraform", "exfil.test", "", "x"));
  EXPECT_FALSE(r.Matches("curl", "/usr/bin/curl", "registry.terraform.io", "", "x"));
}

}  // namespace
}  // namespace credsentry::pipeline
