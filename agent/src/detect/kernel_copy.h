// Credential bytes the kernel moved for a process (sendfile, splice, tee, vmsplice,
// copy_file_range, mmap): what each move proves, and the alert for the ones that reach a socket.
// The bytes were never in user memory, so nothing is matched: the alert names the file, the
// size and the method, and the kinds of secret the file is known to hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "alert/alert.h"
#include "catalogue/rules.h"
#include "decode/events.h"
#include "detect/verdict.h"
#include "state/process_table.h"

namespace credsentry::detect {

// "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "mmap".
const char* TransferMethodName(decode::Transfer::Method method);

// True when the move reached somewhere the bytes can leave the host from.
inline bool TransferToSocket(const decode::Transfer& t) {
  using End = decode::Transfer::End;
  return t.to == End::kTcpSocket || t.to == End::kUdpSocket || t.to == End::kSocket;
}

// Copies of credential files, which the kernel watches as credentials themselves: what each
// is a copy of, so a read of the copy names the original. Bounded like the kernel's table
// (CS_MAX_DERIVED_CREDS in bpf/transfer.bpf.c); copies past the bound are counted, not named.
class DerivedCredentials {
 public:
  static constexpr size_t kMaxDerived = 256;

  // The file (kernel dev_t, inode) holds a copy of `origin`; false when the table is full.
  bool Remember(uint64_t dev, uint64_t ino, std::string origin);
  // What (dev, inode) is a copy of; null when it is none we saw made.
  const std::string* OriginOf(uint64_t dev, uint64_t ino) const;
  size_t size() const { return origins_.size(); }

 private:
  struct Key {
    uint64_t dev, ino;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return k.dev * 0x9E3779B97F4A7C15ull ^ k.ino; }
  };
  std::unordered_map<Key, std::string, KeyHash> origins_;
};

// The "tainted-egress" alert of a transfer to a socket: `sources` are the credential reads the
// bytes came from (the file, or what fed the pipe), newest first; `kinds_held` the catalogue
// kinds learned from that file. Process context is filled by the caller.
alert::Alert TransferEgressAlert(const decode::Transfer& t,
                                 const std::vector<state::CredentialRead>& sources,
                                 const catalogue::RuleSet& rules, const ResolvedDestination& dest,
                                 const std::vector<std::string>& kinds_held);

}  // namespace credsentry::detect
