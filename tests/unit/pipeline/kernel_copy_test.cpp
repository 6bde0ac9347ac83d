// Credential bytes the kernel moved for a process (CS_EV_TRANSFER): sendfile, splice, tee,
// copy_file_range and mmap records as the kernel writes them, over a fake /proc.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "credsentry_abi.h"
#include "pipeline/pipeline.h"
#include "pipeline_fixture.h"

namespace credsentry::pipeline {
namespace {

using fixture::Header;
using fixture::RandomToken;
using fixture::Record;

constexpr const char* kCreds = "/home/u/.aws/credentials";

class KernelCopyTest : public fixture::FakeProcPipelineTest {
 protected:
  KernelCopyTest() : FakeProcPipelineTest("copy-host") {}

  uint32_t AwsFileId() const {
    for (size_t i = 0; i < db_->rules().files.size(); ++i) {
      if (db_->rules().files[i].id == "aws-credentials") return static_cast<uint32_t>(i + 1);
    }
    return 0;
  }

  void Open(uint32_t pid, const char* comm, int32_t fd, const char* path, uint64_t dev = 0,
            uint64_t ino = 0, uint64_t stdout_pipe = 0) {
    cs_cred_open_event o{};
    o.hdr = Header(CS_EV_CRED_OPEN, pid, 0, ++ts_, comm);
    o.fd = fd;
    o.cred_id = AwsFileId();
    o.dev = dev;
    o.ino = ino;
    o.stdout_pipe = stdout_pipe;
    std::strcpy(o.path, path);
    o.path_len = std::strlen(path);
    pipeline_->Handle(Record(o));
  }

  // A credential read (CS_EV_CRED_READ) or a plain socket write (CS_EV_SOCK_DATA) of `bytes`.
  void Data(uint16_t type, uint32_t pid, const char* comm, int32_t fd, const std::string& bytes) {
    cs_data_event d{};
    d.hdr = Header(type, pid, 0, ++ts_, comm);
    d.fd = fd;
    d.fd_kind = type == CS_EV_CRED_READ ? CS_FD_CRED_FILE : CS_FD_SOCK_TCP;
    d.sock_state = type == CS_EV_CRED_READ ? CS_SOCK_UNKNOWN : CS_SOCK_PLAIN;
    d.len = bytes.size();
    d.total_len = bytes.size();
    d.chunk_flags = CS_CHUNK_LAST;
    pipeline_->Handle(Record(d, bytes));
  }
  void Read(uint32_t pid, const char* comm, int32_t fd, const std::string& content) {
    Data(CS_EV_CRED_READ, pid, comm, fd, content);
  }
  void Send(uint32_t pid, const char* comm, int32_t fd, const std::string& bytes) {
    Data(CS_EV_SOCK_DATA, pid, comm, fd, bytes);
  }

  void Connect(uint32_t pid, const char* comm, int32_t fd, uint16_t port) {
    cs_connect_event c{};
    c.hdr = Header(CS_EV_CONNECT, pid, 0, ++ts_, comm);
    c.fd = fd;
    c.family = AF_INET;
    c.port = port;
    c.sock_type = SOCK_STREAM;
    inet_pton(AF_INET, "127.0.0.9", c.addr);
    pipeline_->Handle(Record(c));
  }

  cs_transfer_event Transfer(uint32_t pid, const char* comm, uint8_t method, int32_t in_fd,
                             uint8_t in_kind, int32_t out_fd, uint8_t out_kind, uint64_t bytes) {
    cs_transfer_event t{};
    t.hdr = Header(CS_EV_TRANSFER, pid, 0, ++ts_, comm);
    t.in_fd = in_fd;
    t.out_fd = out_fd;
    t.method = method;
    t.in_kind = in_kind;
    t.out_kind = out_kind;
    t.cred_id = AwsFileId();
    t.bytes = bytes;
    return t;
  }

  void Handle(const cs_transfer_event& t) { pipeline_->Handle(Record(t)); }

  std::vector<alert::Alert> Tainted() {
    pipeline_->Housekeeping(ts_ + detect::ProvenanceOptions{}.report_delay_ns + 1);
    std::vector<alert::Alert> out;
    for (const auto& a : sink_.alerts) {
      if (a.kind == "tainted-egress") out.push_back(a);
    }
    return out;
  }

  bool HasNote(const alert::Alert& a, const std::string& needle) const {
    for (const auto& n : a.evidence.notes) {
      if (n.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(KernelCopyTest, SendfileOfACredentialFileToASocketAlertsNamingFileSizeAndDestination) {
  ASSERT_NE(AwsFileId(), 0u);
  Open(800, "python3", 4, kCreds);
  Connect(800, "python3", 5, 8080);
  Handle(Transfer(800, "python3", CS_XFER_SENDFILE, 4, CS_END_CRED_FILE, 5, CS_END_SOCK_TCP, 120));
  // No bytes can ever match: the alert is raised at once, not held for a stronger one.
  ASSERT_EQ(sink_.alerts.size(), 1u);
  const alert::Alert& a = sink_.alerts[0];
  EXPECT_EQ(a.kind, "tainted-egress");
  EXPECT_EQ(a.process.pid, 800u);
  EXPECT_EQ(a.secret.type, "aws-credentials");
  EXPECT_EQ(a.destination.ip, "127.0.0.9");
  EXPECT_EQ(a.destination.port, 8080u);
  EXPECT_EQ(a.summary,
            "python3 (pid 800) sent 120 bytes of " + std::string(kCreds) +
                " to 127.0.0.9:8080 with sendfile");
  ASSERT_FALSE(a.evidence.credential_reads.empty());
  EXPECT_EQ(a.evidence.credential_reads[0].path, kCreds);
  EXPECT_TRUE(HasNote(a, "the kernel moved the bytes (sendfile)"));
  EXPECT_FALSE(HasNote(a, "no credential format matched"));

  // The same process and destination again, by another method or a write: one finding.
  Handle(Transfer(800, "python3", CS_XFER_SPLICE, 4, CS_END_CRED_FILE, 5, CS_END_SOCK_TCP, 120));
  Send(800, "python3", 5, "opaque-" + RandomToken(24));
  EXPECT_EQ(Tainted().size(), 1u);
  EXPECT_EQ(pipeline_->Counters()["kernel_transfers"], 2u);
  EXPECT_EQ(pipeline_->Counters()["alerts_suppressed_duplicate"], 1u);
}

TEST_F(KernelCopyTest, TheAlertNamesTheKindsTheFileIsKnownToHold) {
  // Another process read the file earlier: the agent learned what it holds.
  const std::string secret = RandomToken(40);
  Open(810, "cat", 4, kCreds);
  Read(810, "cat", 4, "[default]\naws_secret_access_key = " + secret + "\n");
  Open(811, "python3", 6, kCreds);
  Connect(811, "python3", 7, 9000);
  Handle(Transfer(811, "python3", CS_XFER_SENDFILE, 6, CS_END_CRED_FILE, 7, CS_END_SOCK_TCP, 64));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_TRUE(HasNote(sink_.alerts[0], std::string(kCreds) +
                                           " is known to hold: aws-secret-access-key"));
  EXPECT_EQ(sink_.lines[0].find(secret), std::string::npos);
}

TEST_F(KernelCopyTest, SpliceOutOfAPipeFedByACredentialReadNamesTheReader) {
  // `cat creds | python3 -c 'os.splice(0, sock, n)'`: cat's stdout is pipe 9001.
  Open(700, "cat", 3, kCreds, 0, 0, /*stdout_pipe=*/9001);
  Connect(701, "python3", 5, 8080);
  cs_transfer_event t =
      Transfer(701, "python3", CS_XFER_SPLICE, 0, CS_END_TAINTED_PIPE, 5, CS_END_SOCK_TCP, 90);
  t.in_pipe = 9001;
  Handle(t);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_EQ(sink_.alerts[0].summary,
            "python3 (pid 701) sent 90 bytes from a pipe carrying " + std::string(kCreds) +
                " to 127.0.0.9:8080 with splice (cat (pid 700) read the file)");
  ASSERT_FALSE(sink_.alerts[0].evidence.credential_reads.empty());
  EXPECT_EQ(sink_.alerts[0].evidence.credential_reads[0].pid, 700u);
}

TEST_F(KernelCopyTest, ATransferReplacesThePendingTaintedEgressOfAnEarlierWrite) {
  Open(710, "cat", 3, kCreds, 0, 0, /*stdout_pipe=*/9002);
  Exec(711, 1, 0, "python3", /*stdin_pipe=*/9002);
  Connect(711, "python3", 5, 8080);
  Send(711, "python3", 5, "POST / HTTP/1.1\r\nContent-Length: 90\r\n\r\n");  // tainted
  cs_transfer_event t =
      Transfer(711, "python3", CS_XFER_SPLICE, 0, CS_END_TAINTED_PIPE, 5, CS_END_SOCK_TCP, 90);
  t.in_pipe = 9002;
  Handle(t);
  auto tainted = Tainted();
  ASSERT_EQ(tainted.size(), 1u);
  EXPECT_NE(tainted[0].summary.find("with splice"), std::string::npos) << tainted[0].summary;
  EXPECT_EQ(pipeline_->Counters()["tainted_egress_covered_by_secret_alerts"], 1u);
}

TEST_F(KernelCopyTest, ASpliceIntoAPipeCarriesTheCredentialToItsReader) {
  Open(720, "python3", 4, kCreds);
  cs_transfer_event in =
      Transfer(720, "python3", CS_XFER_SPLICE, 4, CS_END_CRED_FILE, 8, CS_END_PIPE, 200);
  in.out_ino = 9100;
  Handle(in);
  EXPECT_TRUE(sink_.alerts.empty());
  Connect(721, "nc", 5, 7000);
  cs_transfer_event out =
      Transfer(721, "nc", CS_XFER_SPLICE, 0, CS_END_TAINTED_PIPE, 5, CS_END_SOCK_TCP, 200);
  out.in_pipe = 9100;
  Handle(out);
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_NE(sink_.alerts[0].summary.find("from a pipe carrying " + std::string(kCreds)),
            std::string::npos)
      << sink_.alerts[0].summary;
}

TEST_F(KernelCopyTest, ACopyToAFileMakesItACredentialFileNamingTheOriginal) {
  Open(820, "python3", 4, kCreds);
  cs_transfer_event copy = Transfer(820, "python3", CS_XFER_COPY_FILE_RANGE, 4, CS_END_CRED_FILE,
                                    5, CS_END_FILE, 150);
  copy.out_dev = 42;
  copy.out_ino = 777;
  Handle(copy);
  EXPECT_TRUE(sink_.alerts.empty());  // a file is not egress
  EXPECT_EQ(pipeline_->Counters()["derived_credential_files"], 1u);
  // The kernel now reports the copy's opens as a credential file's.
  Open(821, "curl", 3, "/tmp/loot", 42, 777);
  Read(821, "curl", 3, "[default]\nregion = eu-west-1\n");
  Connect(821, "curl", 6, 8080);
  Send(821, "curl", 6, "opaque-" + RandomToken(24));
  auto tainted = Tainted();
  ASSERT_EQ(tainted.size(), 1u);
  ASSERT_FALSE(tainted[0].evidence.credential_reads.empty());
  EXPECT_EQ(tainted[0].evidence.credential_reads[0].path,
            "/tmp/loot (a copy of " + std::string(kCreds) + ")");
  EXPECT_NE(tainted[0].summary.find("after reading /tmp/loot (a copy of " + std::string(kCreds)),
            std::string::npos)
      << tainted[0].summary;
}

TEST_F(KernelCopyTest, CopiesPastTheBoundAreCountedNotNamed) {
  Open(830, "python3", 4, kCreds);
  for (uint64_t i = 0; i <= detect::DerivedCredentials::kMaxDerived; ++i) {
    cs_transfer_event copy = Transfer(830, "python3", CS_XFER_COPY_FILE_RANGE, 4,
                                      CS_END_CRED_FILE, 5, CS_END_FILE, 10);
    copy.out_dev = 1;
    copy.out_ino = 1000 + i;
    Handle(copy);
  }
  EXPECT_EQ(pipeline_->Counters()["derived_credential_files"],
            detect::DerivedCredentials::kMaxDerived);
  EXPECT_EQ(pipeline_->Counters()["derived_credential_files_dropped"], 1u);
}

TEST_F(KernelCopyTest, AnMmapOfACredentialFileTaintsTheMapper) {
  Open(840, "python3", 4, kCreds);
  Handle(Transfer(840, "python3", CS_XFER_MMAP, 4, CS_END_CRED_FILE, -1, CS_END_MEMORY, 4096));
  EXPECT_TRUE(sink_.alerts.empty());
  Connect(840, "python3", 5, 8080);
  Send(840, "python3", 5, "opaque-" + RandomToken(24));
  auto tainted = Tainted();
  ASSERT_EQ(tainted.size(), 1u);
  EXPECT_EQ(tainted[0].process.pid, 840u);
  EXPECT_NE(tainted[0].summary.find("after reading " + std::string(kCreds)), std::string::npos)
      << tainted[0].summary;
}

TEST_F(KernelCopyTest, ATransferToASocketNobodyConnectedSaysSo) {
  Open(850, "python3", 4, kCreds);
  Handle(Transfer(850, "python3", CS_XFER_SENDFILE, 4, CS_END_CRED_FILE, 9, CS_END_SOCKET, 33));
  ASSERT_EQ(sink_.alerts.size(), 1u);
  EXPECT_NE(sink_.alerts[0].summary.find("to a socket it did not connect (fd 9) with sendfile"),
            std::string::npos)
      << sink_.alerts[0].summary;
}

TEST_F(KernelCopyTest, GarbageTransferRecordsAreCountedNotFatal) {
  Handle(Transfer(860, "x", 9, 4, CS_END_CRED_FILE, 5, CS_END_SOCK_TCP, 1));   // method
  Handle(Transfer(860, "x", CS_XFER_SPLICE, 4, CS_END_FILE, 5, CS_END_SOCK_TCP, 1));  // source
  Handle(Transfer(860, "x", CS_XFER_SPLICE, 4, CS_END_CRED_FILE, 5, 200, 1));  // target
  auto record = Record(Transfer(860, "x", CS_XFER_SPLICE, 4, CS_END_CRED_FILE, 5, 3, 1));
  record.resize(record.size() - 8);  // short
  pipeline_->Handle(record);
  EXPECT_TRUE(sink_.alerts.empty());
  EXPECT_EQ(pipeline_->Counters()["records_undecodable"], 4u);
}

}  // namespace
}  // namespace credsentry::pipeline
