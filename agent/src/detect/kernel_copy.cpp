#include "detect/kernel_copy.h"

#include "alert/alert_id.h"
#include "detect/provenance.h"

namespace credsentry::detect {

const char* TransferMethodName(decode::Transfer::Method method) {
  using M = decode::Transfer::Method;
  switch (method) {
    case M::kSendfile: return "sendfile";
    case M::kSplice: return "splice";
    case M::kTee: return "tee";
    case M::kVmsplice: return "vmsplice";
    case M::kCopyFileRange: return "copy_file_range";
    case M::kMmap: return "mmap";
  }
  return "unknown";
}

bool DerivedCredentials::Remember(uint64_t dev, uint64_t ino, std::string origin) {
  auto it = origins_.find({dev, ino});
  if (it != origins_.end()) {
    it->second = std::move(origin);  // copied over again: the latest copy is what it holds
    return true;
  }
  if (origins_.size() >= kMaxDerived) return false;
  origins_.emplace(Key{dev, ino}, std::move(origin));
  return true;
}

const std::string* DerivedCredentials::OriginOf(uint64_t dev, uint64_t ino) const {
  auto it = origins_.find({dev, ino});
  return it == origins_.end() ? nullptr : &it->second;
}

alert::Alert TransferEgressAlert(const decode::Transfer& t,
                                 const std::vector<state::CredentialRead>& sources,
                                 const catalogue::RuleSet& rules, const ResolvedDestination& dest,
                                 const std::vector<std::string>& kinds_held) {
  const state::CredentialRead& first = sources.front();
  // The pipe a splice drained need not be the process's stdin: the summary says which it was.
  std::vector<state::CredentialRead> reads = sources;
  reads.front().via_pipe = false;
  alert::Alert a = TaintedEgressAlert(t.header.comm, t.header.pid, reads, rules, dest);
  const std::string method = TransferMethodName(t.method);
  std::string where = dest.where.unknown()
                          ? std::string("a socket it did not connect (fd ") +
                                std::to_string(t.out_fd) + ")"
                          : (dest.where.host.empty() ? dest.where.ip : dest.where.host) + ":" +
                                std::to_string(dest.where.port);
  std::string what = t.from == decode::Transfer::End::kTaintedPipe
                         ? "from a pipe carrying " + first.path
                         : "of " + first.path;
  a.summary = t.header.comm + " (pid " + std::to_string(t.header.pid) + ") sent " +
              std::to_string(t.bytes) + " bytes " + what + " to " + where + " with " + method;
  if (first.pid != t.header.pid) {
    a.summary += " (" + first.comm + " (pid " + std::to_string(first.pid) + ") read the file)";
  }
  // The generic provenance note says no format matched, which would suggest the bytes were
  // looked at: replace it with what happened.
  if (!a.evidence.notes.empty()) a.evidence.notes.pop_back();
  a.evidence.notes.push_back("the kernel moved the bytes (" + method +
                             "): they never passed through the process's memory, so their "
                             "content could not be matched");
  if (!kinds_held.empty()) {
    std::string kinds;
    for (const auto& k : kinds_held) kinds += (kinds.empty() ? "" : ", ") + k;
    a.evidence.notes.push_back(first.path + " is known to hold: " + kinds);
  }
  return a;
}

}  // namespace credsentry::detect
