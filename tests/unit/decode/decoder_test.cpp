#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "decode/abi_layout.h"
#include "decode/events.h"

namespace credsentry::decode {
namespace {

template <class T>
std::vector<uint8_t> Bytes(const T& v, size_t extra = 0) {
  std::vector<uint8_t> out(sizeof(T) + extra);
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

cs_event_header Header(uint16_t type) {
  cs_event_header h{};
  h.type = type;
  h.abi = CS_ABI_VERSION;
  h.pid = 42;
  h.tid = 43;
  h.uid = 1000;
  std::strcpy(h.comm, "curl");
  return h;
}

TEST(Decoder, ExecSplitsArgv) {
  cs_exec_event e{};
  e.hdr = Header(CS_EV_EXEC);
  e.ppid = 7;
  std::strcpy(e.filename, "/usr/bin/curl");
  e.filename_len = 13;
  const char args[] = "curl\0-s\0https://x";
  std::memcpy(e.args, args, sizeof args);
  e.args_len = sizeof args - 1;
  e.stdin_pipe = 4242;
  auto ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& x = std::get<ProcessExec>(*ev);
  EXPECT_EQ(x.header.pid, 42u);
  EXPECT_EQ(x.header.comm, "curl");
  EXPECT_EQ(x.filename, "/usr/bin/curl");
  EXPECT_EQ(x.argv, (std::vector<std::string>{"curl", "-s", "https://x"}));
  EXPECT_EQ(x.stdin_pipe, 4242u);
  EXPECT_EQ(x.stdout_pipe, 0u);
}

TEST(Decoder, SocketWriteCarriesDataAndDestination) {
  cs_data_event e{};
  e.hdr = Header(CS_EV_SOCK_DATA);
  e.fd = 5;
  e.len = 4;
  e.total_len = 4;
  e.chunk_flags = CS_CHUNK_LAST;
  e.family = AF_INET;
  e.port = 53;
  inet_pton(AF_INET, "127.0.0.53", e.addr);
  auto rec = Bytes(e, 4);
  std::memcpy(rec.data() + sizeof e, "abcd", 4);
  auto ev = Decode(rec);
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& p = std::get<SocketWrite>(*ev);
  EXPECT_EQ(p.fd, 5);
  EXPECT_EQ(std::string(p.capture.data.begin(), p.capture.data.end()), "abcd");
  ASSERT_TRUE(p.explicit_destination.has_value());
  EXPECT_EQ(p.explicit_destination->ip, "127.0.0.53");
  EXPECT_EQ(p.explicit_destination->port, 53);
  EXPECT_TRUE(p.capture.last_chunk);
  EXPECT_FALSE(p.capture.truncated);

  // A plain write's record names its socket's peer: all 16 bytes of an IPv6 one.
  e.family = AF_INET6;
  e.port = 80;
  inet_pton(AF_INET6, "fd00:c5::1", e.addr);
  auto v6 = Decode(Bytes(e, 4));
  ASSERT_TRUE(v6.ok()) << v6.message();
  const auto& to_v6 = std::get<SocketWrite>(*v6).explicit_destination;
  ASSERT_TRUE(to_v6.has_value());
  EXPECT_EQ(to_v6->ip, "fd00:c5::1");
  EXPECT_EQ(to_v6->port, 80);
}

// The socket's kind and state reach the pipeline as enums, the direction as the event's type.
TEST(Decoder, SocketRecordsBecomeTypedWritesAndDnsAnswers) {
  cs_data_event e{};
  e.hdr = Header(CS_EV_SOCK_DATA);
  e.fd = 6;
  e.fd_kind = CS_FD_SOCK_UDP;
  e.sock_state = CS_SOCK_TLS;
  e.total_len = 9000;
  e.chunk_flags = CS_CHUNK_TRUNCATED;
  auto ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& w = std::get<SocketWrite>(*ev);
  EXPECT_EQ(w.transport, SocketTransport::kUdp);
  EXPECT_EQ(w.state, SocketState::kTls);
  EXPECT_FALSE(w.explicit_destination.has_value());
  EXPECT_TRUE(w.capture.truncated);
  EXPECT_FALSE(w.capture.last_chunk);
  EXPECT_EQ(w.capture.total_len, 9000u);
  EXPECT_EQ(CaptureOf(*ev), &w.capture);

  e.fd_kind = CS_FD_SOCK_TCP;
  e.sock_state = CS_SOCK_PLAIN;
  ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(std::get<SocketWrite>(*ev).transport, SocketTransport::kTcp);
  EXPECT_EQ(std::get<SocketWrite>(*ev).state, SocketState::kPlain);

  e.direction = CS_DIR_INGRESS;  // the kernel copies receives of DNS sockets only
  ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& answer = std::get<DnsAnswer>(*ev);
  EXPECT_EQ(answer.fd, 6);
  EXPECT_EQ(answer.transport, SocketTransport::kTcp);
  e.fd_kind = CS_FD_SOCK_UDP;
  ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(std::get<DnsAnswer>(*ev).transport, SocketTransport::kUdp);
}

TEST(Decoder, TlsAndCredentialRecordsBecomeTypedEvents) {
  cs_data_event e{};
  e.hdr = Header(CS_EV_TLS_DATA);
  e.fd = -1;
  e.ssl = 0xabc;
  e.tls_lib = CS_TLS_GO;
  e.direction = CS_DIR_INGRESS;  // a TLS record is a write, whatever the field says
  e.len = 2;
  e.chunk_flags = CS_CHUNK_LAST;
  auto rec = Bytes(e, 2);
  std::memcpy(rec.data() + sizeof e, "hi", 2);
  auto ev = Decode(rec);
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& t = std::get<TlsWrite>(*ev);
  EXPECT_EQ(t.ssl, 0xabcu);
  EXPECT_EQ(t.fd, -1);
  EXPECT_EQ(t.library, TlsLibrary::kGo);
  EXPECT_EQ(std::string(t.capture.data.begin(), t.capture.data.end()), "hi");
  e.tls_lib = 99;
  e.len = 0;
  ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(std::get<TlsWrite>(*ev).library, TlsLibrary::kUnknown);

  e.hdr = Header(CS_EV_CRED_READ);
  e.fd = 3;
  e.offset = 16384;
  ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok()) << ev.message();
  const auto& r = std::get<CredentialRead>(*ev);
  EXPECT_EQ(r.fd, 3);
  EXPECT_EQ(r.capture.offset, 16384u);
  EXPECT_TRUE(r.capture.last_chunk);

  cs_close_event c{};
  c.hdr = Header(CS_EV_CLOSE);
  c.fd = 3;
  c.fd_kind = CS_FD_CRED_FILE;
  ev = Decode(Bytes(c));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(std::get<FdClose>(*ev).kind, FdKind::kCredentialFile);
  EXPECT_EQ(CaptureOf(*ev), nullptr);
}

TEST(Decoder, RejectsLengthBeyondRecord) {
  cs_data_event e{};
  e.hdr = Header(CS_EV_TLS_DATA);
  e.len = 100;  // claims more than the record holds
  auto ev = Decode(Bytes(e, 10));
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.message().find("exceeds record"), std::string::npos);
}

TEST(Decoder, RejectsShortAndForeignRecords) {
  std::vector<uint8_t> tiny(10, 0);
  EXPECT_FALSE(Decode(tiny).ok());
  auto h = Header(CS_EV_FORK);
  h.abi = CS_ABI_VERSION + 1;
  cs_fork_event f{};
  f.hdr = h;
  auto ev = Decode(Bytes(f));
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.message().find("ABI version"), std::string::npos);
  f.hdr = Header(999);
  EXPECT_NE(Decode(Bytes(f)).message().find("unknown record type"), std::string::npos);
}

TEST(Decoder, UnterminatedStringsAreBounded) {
  cs_tls_sni_event e{};
  e.hdr = Header(CS_EV_TLS_SNI);
  std::memset(e.name, 'a', sizeof e.name);  // no NUL anywhere
  e.name_len = 100000;
  auto ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(std::get<TlsSni>(*ev).name.size(), static_cast<size_t>(CS_NAME_MAX));
}

TEST(Decoder, ConnectAddressIpv6) {
  cs_connect_event e{};
  e.hdr = Header(CS_EV_CONNECT);
  e.family = AF_INET6;
  e.port = 443;
  e.sock_type = SOCK_STREAM;
  inet_pton(AF_INET6, "::1", e.addr);
  auto ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(std::get<Connect>(*ev).peer.ip, "::1");
}

TEST(Decoder, ConnectToAV4MappedPeerReadsAsIpv4) {
  cs_connect_event e{};
  e.hdr = Header(CS_EV_CONNECT);
  e.family = AF_INET6;  // a dual-stack socket
  e.port = 8080;
  e.sock_type = SOCK_STREAM;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", e.addr);
  auto ev = Decode(Bytes(e));
  ASSERT_TRUE(ev.ok());
  const auto& peer = std::get<Connect>(*ev).peer;
  EXPECT_EQ(peer.ip, "127.0.0.1");
  EXPECT_EQ(peer.family, AF_INET);
  EXPECT_EQ(peer.port, 8080);
}

}  // namespace
}  // namespace credsentry::decode
