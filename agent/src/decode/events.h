// Typed, validated views of the kernel's ring-buffer records (bpf/credsentry_abi.h). Decoding
// is the only place that touches the raw layout; every later stage sees these structs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace credsentry::decode {

struct EventHeader {
  uint16_t type = 0;
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint32_t pid = 0;    // tgid
  uint32_t tid = 0;
  uint32_t uid = 0;
  uint64_t cgroup_id = 0;
  std::string comm;
};

struct SocketAddress {
  uint16_t family = 0;  // AF_INET / AF_INET6
  uint16_t port = 0;
  std::string ip;       // textual; empty when unknown
};

struct ProcessExec {
  EventHeader header;
  uint32_t ppid = 0;
  std::string filename;
  std::vector<std::string> argv;
  uint64_t stdin_pipe = 0;   // pipefs inode of fd 0 at exec; 0 = not a pipe
  uint64_t stdout_pipe = 0;  // same for fd 1
  bool held = false;         // stopped at exec until the agent inspected its executable
};

struct ProcessFork {
  EventHeader header;
  uint32_t child_pid = 0;
};

struct ProcessExit {
  EventHeader header;
  int32_t exit_code = 0;
};

struct CredentialOpen {
  EventHeader header;
  int32_t fd = -1;
  uint32_t cred_id = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  std::string path;
  uint64_t stdout_pipe = 0;  // pipefs inode of the opener's fd 1; 0 = not a pipe
};

// The kernel's view of a socket, as the typed events carry it.
enum class SocketTransport : uint8_t { kTcp, kUdp };
// What the kernel saw of a socket's first bytes: after a TLS handshake it copies the ClientHello
// and nothing more.
enum class SocketState : uint8_t { kUnknown, kPlain, kTls };
enum class TlsLibrary : uint8_t { kUnknown, kOpenSsl, kGnuTls, kGo };
enum class FdKind : uint8_t { kOther, kCredentialFile, kTcpSocket, kUdpSocket };

// One chunk of the bytes a call moved. A call larger than a record is cut into chunks, and one
// larger than the capture bound is cut short. `data` points into the ring buffer and is valid
// only while the record is being handled.
struct Capture {
  std::span<const uint8_t> data;
  uint64_t total_len = 0;   // bytes the call moved
  uint64_t offset = 0;      // of this chunk within the call
  bool truncated = false;   // the call moved more than was captured
  bool last_chunk = false;  // no more chunks of this call follow
  // Prevent mode: the writer is stopped before its write function runs, until user space kills
  // or releases it (bpf/helpers/prevent.bpf.h).
  bool held = false;
  bool uring = false;  // moved by an io_uring request (bpf/uring.bpf.c), not a syscall
};

// Bytes read from an open credential file.
struct CredentialRead {
  EventHeader header;
  int32_t fd = -1;
  Capture capture;
};

// Plaintext written to a socket (write, sendto, sendmsg, writev).
struct SocketWrite {
  EventHeader header;
  int32_t fd = -1;
  SocketTransport transport = SocketTransport::kTcp;
  SocketState state = SocketState::kUnknown;
  std::optional<SocketAddress> explicit_destination;  // sendto() address
  Capture capture;
};

// A message received on a DNS socket (the kernel copies receives of those only).
struct DnsAnswer {
  EventHeader header;
  int32_t fd = -1;
  SocketTransport transport = SocketTransport::kUdp;
  Capture capture;
};

// Plaintext handed to a TLS library before encryption.
struct TlsWrite {
  EventHeader header;
  int32_t fd = -1;  // the socket when the kernel knew it; -1 otherwise
  uint64_t ssl = 0;
  TlsLibrary library = TlsLibrary::kUnknown;
  Capture capture;
};

struct Connect {
  EventHeader header;
  int32_t fd = -1;
  int32_t ret = 0;
  uint8_t sock_type = 0;
  SocketAddress peer;
};

struct TlsSni {
  EventHeader header;
  uint64_t ssl = 0;
  std::string name;
};

struct TlsFd {
  EventHeader header;
  uint64_t ssl = 0;
  int32_t fd = -1;
};

struct FdClose {
  EventHeader header;
  int32_t fd = -1;
  FdKind kind = FdKind::kOther;
};

// Another process's /proc/<pid>/environ or /proc/<pid>/mem was opened, or its memory scraped
// with process_vm_readv, ptrace or pidfd_getfd (CS_EV_PROC_ACCESS).
struct ProcessAccess {
  enum class What : uint8_t { kEnviron = 1, kMem = 2, kVmReadv = 3, kPtrace = 4, kPidfdGetfd = 5 };
  static constexpr uint32_t kUidUnknown = 0xffffffffu;  // the kernel did not read it
  // fd of a kPtrace access is the request; these two are not peeks (CS_PTRACE_* in the ABI).
  static constexpr int32_t kPtraceAttach = 16;
  static constexpr int32_t kPtraceSeize = 0x4206;
  EventHeader header;
  int32_t fd = -1;  // the opened fd; the ptrace request; the fd pidfd_getfd took
  uint32_t target_pid = 0;
  uint32_t target_uid = 0;
  What what = What::kEnviron;
};

// Credential bytes the kernel moved for the process (CS_EV_TRANSFER): sendfile, splice, tee,
// vmsplice or copy_file_range out of a credential file or a pipe carrying one, or an mmap of a
// credential file. Only the size is known: the bytes never passed through user memory.
struct Transfer {
  enum class Method : uint8_t {
    kSendfile = 1, kSplice = 2, kTee = 3, kVmsplice = 4, kCopyFileRange = 5, kMmap = 6
  };
  enum class End : uint8_t {
    kOther = 0,
    kCredentialFile = 1,
    kTaintedPipe = 2,  // a pipe the kernel knew to carry credential bytes
    kTcpSocket = 3,
    kUdpSocket = 4,
    kSocket = 5,  // one the agent did not see connect (unix, accepted)
    kPipe = 6,
    kFile = 7,    // a regular file: it became a derived credential file
    kMemory = 8,  // the process's own memory (mmap, vmsplice)
  };
  EventHeader header;
  int32_t in_fd = -1;
  int32_t out_fd = -1;
  Method method = Method::kSendfile;
  End from = End::kCredentialFile;
  End to = End::kOther;
  uint32_t cred_id = 0;
  uint64_t bytes = 0;
  uint64_t in_pipe = 0;  // pipefs inode of a kTaintedPipe source
  uint64_t out_dev = 0;  // kernel dev_t of a kFile target
  uint64_t out_ino = 0;  // its inode, or the pipefs inode of a kPipe target
};

// Prevent mode refused a connect (or an unconnected datagram) of a process tainted by a
// credential read or a memory scrape (CS_EV_EGRESS_BLOCKED, bpf/egress.bpf.c).
struct EgressBlocked {
  enum class Source : uint8_t { kRead = 1, kMemory = 2, kPipe = 3, kInherited = 4 };
  enum class Hook : uint8_t { kConnect = 1, kSendmsg = 2 };
  EventHeader header;
  uint64_t creds = 0;     // credential bits of the taint (credsentry_abi.h)
  uint32_t cred_id = 0;   // the first credential file it read; 0 for a memory scrape
  Source source = Source::kRead;
  Hook hook = Hook::kConnect;
  uint8_t sock_type = 0;  // SOCK_STREAM / SOCK_DGRAM
  SocketAddress peer;     // a v4-mapped address reads as IPv4
};

using Event = std::variant<ProcessExec, ProcessFork, ProcessExit, CredentialOpen, CredentialRead,
                           SocketWrite, DnsAnswer, TlsWrite, Connect, TlsSni, TlsFd, FdClose,
                           ProcessAccess, Transfer, EgressBlocked>;

// Validates sizes, the ABI version and every length field before building the event: a short,
// corrupt or future-version record is an error value, never a crash.
Result<Event> Decode(std::span<const uint8_t> record);

const char* EventTypeName(uint16_t type);
const EventHeader& HeaderOf(const Event& event);
// The captured bytes of a credential read, socket write, DNS answer or TLS write; null otherwise.
const Capture* CaptureOf(const Event& event);

}  // namespace credsentry::decode
