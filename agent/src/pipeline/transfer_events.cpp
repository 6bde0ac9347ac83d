// Credential bytes the kernel moved for a process (decode::Transfer). The move is a read of
// the credential, so the process is tainted as if it had read the file; a pipe it fills carries
// the credential on to whoever reads the pipe, a file it fills becomes a credential file (the
// kernel already watches its inode), and a socket it reaches is egress of the credential.
#include <spdlog/spdlog.h>

#include "pipeline/pipeline.h"

namespace credsentry::pipeline {

void Pipeline::OnTransfer(const decode::Transfer& t) {
  using End = decode::Transfer::End;
  ++counters_.kernel_transfers;
  processes_.Ensure(t.header);
  const uint32_t pid = t.header.pid;
  std::vector<state::CredentialRead> sources;
  if (t.from == End::kTaintedPipe) sources = processes_.PipeReads(t.in_pipe);
  if (sources.empty()) {
    std::string path = t.from == End::kCredentialFile ? learner_.PathOf(pid, t.in_fd) : "";
    if (path.empty()) {
      // The open was not seen (the fd predates the agent) or the pipe was filled before it.
      path = t.from == End::kCredentialFile
                 ? "a credential file (fd " + std::to_string(t.in_fd) + ")"
                 : "credential bytes (pipe:[" + std::to_string(t.in_pipe) + "])";
    }
    sources.push_back({path, t.cred_id, pid, t.header.comm, t.header.ts_ns, t.bytes});
  }
  const state::CredentialRead& source = sources.front();
  // Whatever it moved, it could have read: its later egress is judged as a credential read's.
  processes_.RecordCredentialRead(pid, source);
  const char* method = detect::TransferMethodName(t.method);
  switch (t.to) {
    case End::kPipe:
      processes_.TaintPipeWith(t.out_ino, source);
      break;
    case End::kFile: {
      const bool known = derived_.OriginOf(t.out_dev, t.out_ino) != nullptr;
      if (!derived_.Remember(t.out_dev, t.out_ino, source.path)) {
        ++counters_.derived_credential_files_dropped;
        break;
      }
      if (known) break;  // copied over again: said once
      spdlog::info("pid {} ({}) copied {} with {}: inode {} is watched as a credential file",
                   pid, learner_.Redact(t.header.comm), learner_.Redact(source.path), method,
                   t.out_ino);
      break;
    }
    case End::kTcpSocket:
    case End::kUdpSocket:
    case End::kSocket:
      OnTransferEgress(t, sources);
      break;
    default:
      break;
  }
}

void Pipeline::OnTransferEgress(const decode::Transfer& t,
                                const std::vector<state::CredentialRead>& sources) {
  const uint32_t pid = t.header.pid;
  const stream::StreamKey key{pid, stream::StreamOrigin::kSocket, static_cast<uint32_t>(t.out_fd)};
  stream::StreamContext ctx;
  ctx.pid = pid;
  ctx.tid = t.header.tid;
  ctx.comm = t.header.comm;
  ctx.fd = t.out_fd;
  ctx.found_in = alert::FoundIn::kProvenance;
  ctx.last_mono_ns = t.header.ts_ns;
  // A socket the agent did not see connect (unix, accepted) has no peer it could name.
  detect::ResolvedDestination dest;
  if (t.to != decode::Transfer::End::kSocket) dest = destinations_.Resolve(key, ctx, nullptr);
  const state::CredentialRead& source = sources.front();
  if (detect::DestinationExpectedForFile(db_->rules(), source.cred_id, dest.where)) {
    ++counters_.kernel_transfers_to_expected;
    return;
  }
  // One alert per process and destination, shared with tainted-egress: a process that moves
  // the file and writes too is one finding, and this one says more than a pending write's.
  if (!provenance_.Supersede(pid, dest.where, t.header.ts_ns)) {
    ++counters_.alerts_suppressed_duplicate;
    return;
  }
  WriteAlert(alerts_.TransferEgress(t, sources, dest,
                                    learner_.known_values()->KindsFrom(source.path)));
}

}  // namespace credsentry::pipeline
