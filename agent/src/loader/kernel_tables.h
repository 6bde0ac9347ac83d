// The tables user space writes for the probes: which cgroups are in scope, which files are
// credential stores, which sockets are watched. Probes (probes.h) loads and attaches the programs;
// these writers are all that the rest of the agent may put into the kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct cs_name_shapes;  // credsentry_abi.h, kept out of this header

namespace credsentry::loader {

namespace gen {
struct credsentry;  // the libbpf skeleton (skeleton.h)
}

// The credential-file tables the open path checks: by (device, inode) for files that exist, by
// (parent directory name, file name) for files created later or reached by another path.
class CredentialFileTable {
 public:
  virtual ~CredentialFileTable() = default;
  // `kernel_dev` is the kernel's s_dev encoding (KernelDev in host.h).
  virtual Status WatchInode(uint64_t kernel_dev, uint64_t ino, uint32_t cred_id) = 0;
  // Names longer than CS_DENTRY_NAME_MAX-1 bytes are truncated exactly as the kernel side does.
  virtual Status WatchName(std::string_view parent, std::string_view name, uint32_t cred_id) = 0;
  virtual Status Clear() = 0;  // before re-filling on rule reload
};

enum class SocketKind { kTcp, kUdp };

// The watched-fd table: reads and writes of a watched fd are reported, others return at once.
class WatchedFdTable {
 public:
  virtual ~WatchedFdTable() = default;
  // A socket that predates the agent; what it carries (TLS or plain) is learnt from its first
  // write. A socket the kernel already watches keeps its entry.
  virtual Status WatchSocket(uint32_t pid, int fd, SocketKind kind) = 0;
  virtual Status Unwatch(uint32_t pid, int fd) = 0;  // user space cleans up after exit
};

// Both tables and the scope map, written through the loaded skeleton's maps and .bss.
class KernelTables final : public CredentialFileTable, public WatchedFdTable {
 public:
  explicit KernelTables(gen::credsentry& skel);
  ~KernelTables() override;
  KernelTables(const KernelTables&) = delete;
  KernelTables& operator=(const KernelTables&) = delete;

  // Before any program is attached: cgroup v2 directories whose processes are in scope.
  Status FillScope(const std::vector<std::string>& cgroups);

  Status WatchInode(uint64_t kernel_dev, uint64_t ino, uint32_t cred_id) override;
  Status WatchName(std::string_view parent, std::string_view name, uint32_t cred_id) override;
  Status Clear() override;

  Status WatchSocket(uint32_t pid, int fd, SocketKind kind) override;
  Status Unwatch(uint32_t pid, int fd) override;
  // Slots of the watched-fd gate (credsentry_abi.h, cs_fd_slots) with at least one fd in them.
  uint64_t WatchedFdSlotsInUse() const;

 private:
  Status WriteNameShapes();  // name_shapes_ -> the cred_name_shapes map

  gen::credsentry& skel_;
  std::unique_ptr<cs_name_shapes> name_shapes_;  // what cred_name_shapes holds
};

}  // namespace credsentry::loader
