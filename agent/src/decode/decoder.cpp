#include <algorithm>
#include <cstring>

#include "decode/abi_layout.h"
#include "decode/capture_limits.h"
#include "decode/events.h"
#include "decode/ip_address.h"

static_assert(credsentry::decode::kMaxChunkBytes == CS_CHUNK_MAX);
static_assert(credsentry::decode::ProcessAccess::kPtraceAttach == CS_PTRACE_ATTACH &&
              credsentry::decode::ProcessAccess::kPtraceSeize == CS_PTRACE_SEIZE &&
              credsentry::decode::ProcessAccess::kUidUnknown == CS_UID_UNKNOWN);
static_assert(
    static_cast<int>(credsentry::decode::Transfer::Method::kMmap) == CS_XFER_MMAP &&
    static_cast<int>(credsentry::decode::Transfer::Method::kSendfile) == CS_XFER_SENDFILE &&
    static_cast<int>(credsentry::decode::Transfer::End::kTaintedPipe) == CS_END_TAINTED_PIPE &&
    static_cast<int>(credsentry::decode::Transfer::End::kFile) == CS_END_FILE &&
    static_cast<int>(credsentry::decode::Transfer::End::kMemory) == CS_END_MEMORY);

namespace credsentry::decode {
namespace {

// Copies a fixed-size record out of the ring buffer (records are not guaranteed to be aligned
// for the struct, and may be short if the kernel side is a different version).
template <class T>
std::optional<T> Load(std::span<const uint8_t> record) {
  if (record.size() < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, record.data(), sizeof(T));
  return value;
}

std::string BoundedString(const char* s, size_t cap, size_t len_hint = SIZE_MAX) {
  size_t n = strnlen(s, std::min(cap, len_hint));
  return std::string(s, n);
}

EventHeader ToHeader(const cs_event_header& h) {
  EventHeader out;
  out.type = h.type;
  out.ts_ns = h.ts_ns;
  out.pid = h.pid;
  out.tid = h.tid;
  out.uid = h.uid;
  out.cgroup_id = h.cgroup_id;
  out.comm = BoundedString(h.comm, CS_COMM_LEN);
  return out;
}

Error Short(const char* what) { return Error{std::string("short ") + what + " record"}; }

Result<Event> DecodeExec(std::span<const uint8_t> record) {
  auto e = Load<cs_exec_event>(record);
  if (!e) return Short("exec");
  ProcessExec out{ToHeader(e->hdr)};
  out.ppid = e->ppid;
  out.stdin_pipe = e->stdin_pipe;
  out.stdout_pipe = e->stdout_pipe;
  out.held = e->held != 0;
  out.filename = BoundedString(e->filename, CS_PATH_MAX, e->filename_len);
  size_t args_len = std::min<size_t>(e->args_len, CS_ARGS_MAX);
  size_t start = 0;
  for (size_t i = 0; i < args_len; ++i) {
    if (e->args[i] == '\0') {
      out.argv.emplace_back(e->args + start, i - start);
      start = i + 1;
    }
  }
  if (start < args_len) out.argv.emplace_back(e->args + start, args_len - start);
  return Event{std::move(out)};
}

Capture ToCapture(const cs_data_event& e, std::span<const uint8_t> record) {
  return {record.subspan(sizeof(cs_data_event), e.len), e.total_len, e.offset,
          (e.chunk_flags & CS_CHUNK_TRUNCATED) != 0, (e.chunk_flags & CS_CHUNK_LAST) != 0,
          (e.chunk_flags & CS_CHUNK_HELD) != 0, (e.chunk_flags & CS_CHUNK_URING) != 0};
}

SocketState ToSocketState(uint8_t s) {
  switch (s) {
    case CS_SOCK_PLAIN: return SocketState::kPlain;
    case CS_SOCK_TLS: return SocketState::kTls;
    default: return SocketState::kUnknown;
  }
}

TlsLibrary ToTlsLibrary(uint8_t lib) {
  switch (lib) {
    case CS_TLS_OPENSSL: return TlsLibrary::kOpenSsl;
    case CS_TLS_GNUTLS: return TlsLibrary::kGnuTls;
    case CS_TLS_GO: return TlsLibrary::kGo;
    default: return TlsLibrary::kUnknown;
  }
}

FdKind ToFdKind(uint8_t kind) {
  switch (kind) {
    case CS_FD_CRED_FILE: return FdKind::kCredentialFile;
    case CS_FD_SOCK_TCP: return FdKind::kTcpSocket;
    case CS_FD_SOCK_UDP: return FdKind::kUdpSocket;
    default: return FdKind::kOther;
  }
}

// One record layout (cs_data_event) carries four kinds of capture: the record type and the
// direction say which.
Result<Event> DecodePayload(std::span<const uint8_t> record) {
  auto e = Load<cs_data_event>(record);
  if (!e) return Short("payload");
  if (e->len > CS_CHUNK_MAX || sizeof(cs_data_event) + e->len > record.size()) {
    return Error{"payload length " + std::to_string(e->len) + " exceeds record"};
  }
  const Capture capture = ToCapture(*e, record);
  switch (e->hdr.type) {
    case CS_EV_CRED_READ:
      return Event{CredentialRead{ToHeader(e->hdr), e->fd, capture}};
    case CS_EV_TLS_DATA:
      return Event{TlsWrite{ToHeader(e->hdr), e->fd, e->ssl, ToTlsLibrary(e->tls_lib), capture}};
    default:
      break;
  }
  if (e->direction == CS_DIR_INGRESS) {
    // A socket the kernel did not mark TCP is a datagram socket.
    return Event{DnsAnswer{ToHeader(e->hdr), e->fd,
                           e->fd_kind == CS_FD_SOCK_TCP ? SocketTransport::kTcp
                                                        : SocketTransport::kUdp,
                           capture}};
  }
  SocketWrite out{ToHeader(e->hdr), e->fd};
  // A socket the kernel did not mark UDP is a stream socket.
  out.transport = e->fd_kind == CS_FD_SOCK_UDP ? SocketTransport::kUdp : SocketTransport::kTcp;
  out.state = ToSocketState(e->sock_state);
  if (e->family != 0) out.explicit_destination = MakeSocketAddress(e->family, e->port, e->addr);
  out.capture = capture;
  return Event{std::move(out)};
}

Result<Event> DecodeTransfer(std::span<const uint8_t> record) {
  auto e = Load<cs_transfer_event>(record);
  if (!e) return Short("transfer");
  if (e->method < CS_XFER_SENDFILE || e->method > CS_XFER_MMAP) {
    return Error{"transfer by unknown method " + std::to_string(e->method)};
  }
  if ((e->in_kind != CS_END_CRED_FILE && e->in_kind != CS_END_TAINTED_PIPE) ||
      e->out_kind > CS_END_MEMORY) {
    return Error{"transfer between unknown ends " + std::to_string(e->in_kind) + " and " +
                 std::to_string(e->out_kind)};
  }
  Transfer out{ToHeader(e->hdr), e->in_fd, e->out_fd};
  out.method = static_cast<Transfer::Method>(e->method);
  out.from = static_cast<Transfer::End>(e->in_kind);
  out.to = static_cast<Transfer::End>(e->out_kind);
  out.cred_id = e->cred_id;
  out.bytes = e->bytes;
  out.in_pipe = e->in_pipe;
  out.out_dev = e->out_dev;
  out.out_ino = e->out_ino;
  return Event{out};
}

Result<Event> DecodeEgressBlocked(std::span<const uint8_t> record) {
  auto e = Load<cs_block_event>(record);
  if (!e) return Short("egress blocked");
  if (e->source < CS_TAINT_READ || e->source > CS_TAINT_INHERITED) {
    return Error{"egress blocked with unknown taint source " + std::to_string(e->source)};
  }
  if (e->hook != CS_HOOK_CONNECT && e->hook != CS_HOOK_SENDMSG) {
    return Error{"egress blocked at unknown hook " + std::to_string(e->hook)};
  }
  EgressBlocked out{ToHeader(e->hdr)};
  out.creds = e->creds;
  out.cred_id = e->cred_id;
  out.source = static_cast<EgressBlocked::Source>(e->source);
  out.hook = static_cast<EgressBlocked::Hook>(e->hook);
  out.sock_type = e->sock_type;
  out.peer = MakeSocketAddress(e->family, e->port, e->addr);
  return Event{out};
}

}  // namespace

Result<Event> Decode(std::span<const uint8_t> record) {
  auto hdr = Load<cs_event_header>(record);
  if (!hdr) return Short("header");
  if (hdr->abi != CS_ABI_VERSION) {
    return Error{"ABI version " + std::to_string(hdr->abi) + ", expected " +
                 std::to_string(CS_ABI_VERSION)};
  }
  switch (hdr->type) {
    case CS_EV_EXEC:
      return DecodeExec(record);
    case CS_EV_FORK: {
      auto e = Load<cs_fork_event>(record);
      if (!e) return Short("fork");
      return Event{ProcessFork{ToHeader(e->hdr), e->child_pid}};
    }
    case CS_EV_EXIT: {
      auto e = Load<cs_exit_event>(record);
      if (!e) return Short("exit");
      return Event{ProcessExit{ToHeader(e->hdr), e->exit_code}};
    }
    case CS_EV_CRED_OPEN: {
      auto e = Load<cs_cred_open_event>(record);
      if (!e) return Short("credential open");
      return Event{CredentialOpen{ToHeader(e->hdr), e->fd, e->cred_id, e->dev, e->ino,
                                  BoundedString(e->path, CS_PATH_MAX, e->path_len),
                                  e->stdout_pipe}};
    }
    case CS_EV_CRED_READ:
    case CS_EV_SOCK_DATA:
    case CS_EV_TLS_DATA:
      return DecodePayload(record);
    case CS_EV_CONNECT: {
      auto e = Load<cs_connect_event>(record);
      if (!e) return Short("connect");
      return Event{Connect{ToHeader(e->hdr), e->fd, e->ret, e->sock_type,
                           MakeSocketAddress(e->family, e->port, e->addr)}};
    }
    case CS_EV_TLS_SNI: {
      auto e = Load<cs_tls_sni_event>(record);
      if (!e) return Short("SNI");
      return Event{TlsSni{ToHeader(e->hdr), e->ssl, BoundedString(e->name, CS_NAME_MAX, e->name_len)}};
    }
    case CS_EV_TLS_FD: {
      auto e = Load<cs_tls_fd_event>(record);
      if (!e) return Short("TLS fd");
      return Event{TlsFd{ToHeader(e->hdr), e->ssl, e->fd}};
    }
    case CS_EV_CLOSE: {
      auto e = Load<cs_close_event>(record);
      if (!e) return Short("close");
      return Event{FdClose{ToHeader(e->hdr), e->fd, ToFdKind(e->fd_kind)}};
    }
    case CS_EV_PROC_ACCESS: {
      auto e = Load<cs_proc_access_event>(record);
      if (!e) return Short("process access");
      if (e->what < CS_PROC_ENVIRON || e->what > CS_PROC_PIDFD_GETFD) {
        return Error{"process access of unknown kind " + std::to_string(e->what)};
      }
      return Event{ProcessAccess{ToHeader(e->hdr), e->fd, e->target_pid, e->target_uid,
                                 static_cast<ProcessAccess::What>(e->what)}};
    }
    case CS_EV_TRANSFER:
      return DecodeTransfer(record);
    case CS_EV_EGRESS_BLOCKED:
      return DecodeEgressBlocked(record);
    default:
      return Error{"unknown record type " + std::to_string(hdr->type)};
  }
}

const char* EventTypeName(uint16_t type) {
  switch (type) {
    case CS_EV_EXEC: return "exec";
    case CS_EV_FORK: return "fork";
    case CS_EV_EXIT: return "exit";
    case CS_EV_CRED_OPEN: return "cred_open";
    case CS_EV_CRED_READ: return "cred_read";
    case CS_EV_CONNECT: return "connect";
    case CS_EV_SOCK_DATA: return "sock_data";
    case CS_EV_TLS_DATA: return "tls_data";
    case CS_EV_TLS_SNI: return "tls_sni";
    case CS_EV_TLS_FD: return "tls_fd";
    case CS_EV_CLOSE: return "close";
    case CS_EV_PROC_ACCESS: return "proc_access";
    case CS_EV_TRANSFER: return "transfer";
    case CS_EV_EGRESS_BLOCKED: return "egress_blocked";
    default: return "unknown";
  }
}

const EventHeader& HeaderOf(const Event& event) {
  return std::visit([](const auto& e) -> const EventHeader& { return e.header; }, event);
}

const Capture* CaptureOf(const Event& event) {
  return std::visit(
      [](const auto& e) -> const Capture* {
        if constexpr (requires { e.capture; }) {
          return &e.capture;
        } else {
          return nullptr;
        }
      },
      event);
}

}  // namespace credsentry::decode
