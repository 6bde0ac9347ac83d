// The alert contract users see (README.md, "An alert"). One Alert becomes one JSON line and one
// protobuf message; neither ever carries a raw secret: `secret` holds a redacted preview and a
// keyed fingerprint only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alert/destination.h"
#include "alert/severity.h"

namespace credsentry::alert {

struct AncestorInfo {
  uint32_t pid = 0;
  std::string comm;
  std::string exe;
  std::string cmdline;
};

// The Kubernetes pod a process runs in; empty uid and name = not in a pod, or none visible.
struct KubePodInfo {
  std::string uid;  // from the cgroup path, dashed lowercase
  std::string name;
  std::string ns;  // "namespace" in JSON and protobuf
  bool empty() const { return uid.empty() && name.empty(); }
};

struct ProcessInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string comm;
  std::string exe;
  std::string cmdline;  // argv joined by spaces; secrets in argv are redacted before this point
  std::vector<AncestorInfo> ancestors;  // parent first
  std::string cgroup;
  std::string container;  // container id when the cgroup path names one
  std::vector<std::string> credential_env;  // names (never values) of credential env variables
  std::string systemd_unit;                 // "*.service" / "*.scope" from the cgroup path
  KubePodInfo pod;
};

// The CI job the process runs in (its own or an ancestor's environment); empty provider = none.
struct CiInfo {
  std::string provider;  // "github-actions", "gitlab-ci"
  std::string repository;
  std::string workflow;
  std::string run_id;
  std::string job;
};

// The process whose environment or memory was opened ("process-credential-access" alerts).
struct TargetProcessInfo {
  uint32_t pid = 0;  // 0 = not such an alert
  uint32_t uid = 0;
  std::string comm;
  std::string exe;
  // "environ", "mem" (an open of /proc/<pid>/...), "process_vm_readv", "ptrace", "pidfd_getfd"
  std::string access;
  std::vector<std::string> credential_env;  // names only; empty when unknown or none
  bool in_scope = false;  // false: outside --cgroup, so nothing of it was read
  std::string container;  // set when in scope: one container reading another's secrets
  KubePodInfo pod;
  std::string systemd_unit;  // set when in scope, like the rest: the service whose memory it is
  CiInfo ci;                 // the CI job the target runs (the runner's secrets)
};

// Where the bytes that carried the secret were seen.
enum class FoundIn : uint8_t {
  kNone,         // not an egress (process-credential-access)
  kTlsWrite,     // plaintext handed to a TLS library
  kSocketWrite,  // a plain TCP socket write
  kUdpWrite,     // a UDP datagram
  kUringSend,    // a plain TCP socket write made by an io_uring request (send, sendmsg, write)
  kProvenance,   // no value matched: the sender was tainted by a credential-file read
};

struct SecretInfo {
  std::string type;         // rule id, e.g. "openai-project-key"
  std::string provider;     // e.g. "openai"
  std::string name;         // human name of the credential kind
  std::string redacted;     // e.g. "sk-ant-…Xa9f"
  std::string fingerprint;  // keyed hash, e.g. "hmac-sha256:1f2e…"
  FoundIn found_in = FoundIn::kNone;
};

struct CredentialReadEvidence {
  std::string path;
  uint32_t pid = 0;
  std::string comm;
  uint64_t time_ns = 0;  // wall clock, ns since epoch
};

struct Evidence {
  std::vector<CredentialReadEvidence> credential_reads;
  std::vector<std::string> decoding;  // e.g. {"http1", "base64"}
  std::vector<std::string> notes;     // e.g. "Host header api.openai.com disagrees with SNI x"
};

// What the agent did about it: in detect mode (the default) it only watches; prevent mode
// (issue 16) may kill the sender before its bytes are encrypted.
enum class Action : uint8_t {
  kObserved,  // reported only
  kKilled,    // the sending process was killed before the write left it
  kKilledAfterSend,  // the write had left (plain socket, TLS write not held); then killed
  kBlocked,   // its connect (or datagram) was refused: nothing reached the destination
};

struct Alert {
  std::string id;       // unique, stable across resends (idempotency key)
  uint64_t time_ns = 0; // wall clock, ns since epoch
  std::string kind;     // "secret-egress", "credential-file-egress", ...
  Severity severity = Severity::kHigh;
  std::string summary;
  std::string host;     // this machine's hostname
  ProcessInfo process;
  SecretInfo secret;
  Destination destination;
  Evidence evidence;
  CiInfo ci;
  TargetProcessInfo target;
  Action action = Action::kObserved;
};

}  // namespace credsentry::alert
