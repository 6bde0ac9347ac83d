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

// Bytes captured from a call: a credential-file read, a plain socket write, or a TLS write.
// `data` points into the ring buffer and is valid only while the record is being handled.
struct Payload {
  EventHeader header;
  int32_t fd = -1;
  uint8_t direction = 0;
  uint8_t fd_kind = 0;
  uint8_t tls_lib = 0;
  uint8_t sock_state = 0;
  uint64_t ssl = 0;
  uint64_t total_len = 0;
  uint64_t offset = 0;
  uint32_t flags = 0;
  std::optional<SocketAddress> explicit_destination;  // sendto() address
  std::span<const uint8_t> data;

  bool truncated() const;
  bool last_chunk() const;
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
  uint8_t fd_kind = 0;
};

// Another process's /proc/<pid>/environ or /proc/<pid>/mem was opened (CS_EV_PROC_ACCESS).
struct ProcessAccess {
  enum class What : uint8_t { kEnviron = 1, kMem = 2 };
  EventHeader header;
  int32_t fd = -1;
  uint32_t target_pid = 0;
  uint32_t target_uid = 0;
  What what = What::kEnviron;
};

using Event = std::variant<ProcessExec, ProcessFork, ProcessExit, CredentialOpen, Payload,
                           Connect, TlsSni, TlsFd, FdClose, ProcessAccess>;

// Validates sizes, the ABI version and every length field before building the event: a short,
// corrupt or future-version record is an error value, never a crash.
Result<Event> Decode(std::span<const uint8_t> record);

const char* EventTypeName(uint16_t type);
const EventHeader& HeaderOf(const Event& event);

}  // namespace credsentry::decode
