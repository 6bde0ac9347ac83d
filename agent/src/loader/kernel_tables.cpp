#include "loader/kernel_tables.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "credsentry_abi.h"
#include "loader/name_shapes.h"
#include "loader/skeleton.h"

namespace credsentry::loader {
namespace {

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

std::string TableFull(int err) {
  return err == E2BIG ? " (the credential file table is full)" : "";
}

template <class Key>
Status ClearMap(bpf_map* map, const char* what) {
  Key next{};
  // Deleting while iterating restarts from the first key each time, so no key is skipped.
  while (bpf_map__get_next_key(map, nullptr, &next, sizeof next) == 0) {
    if (bpf_map__delete_elem(map, &next, sizeof next, 0) && errno != ENOENT) {
      return Error{std::string("clearing ") + what + ": " + Errno(errno)};
    }
  }
  return Status::Ok();
}

uint8_t FdKind(SocketKind kind) {
  return kind == SocketKind::kUdp ? CS_FD_SOCK_UDP : CS_FD_SOCK_TCP;
}

}  // namespace

KernelTables::KernelTables(gen::credsentry& skel)
    : skel_(skel), name_shapes_(std::make_unique<cs_name_shapes>()) {}

KernelTables::~KernelTables() = default;

Status KernelTables::FillScope(const std::vector<std::string>& cgroups) {
  int map_fd = bpf_map__fd(skel_.maps.scope_cgroups);
  for (uint32_t i = 0; i < cgroups.size(); ++i) {
    UniqueFd fd(open(cgroups[i].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return Error{"--cgroup " + cgroups[i] + ": " + Errno(errno)};
    // The map takes its own reference on the cgroup, so the fd can be closed right after.
    int value = fd.get();
    if (bpf_map_update_elem(map_fd, &i, &value, BPF_ANY)) {
      return Error{"--cgroup " + cgroups[i] + ": adding to the scope map: " + Errno(errno)};
    }
  }
  return Status::Ok();
}

Status KernelTables::WatchInode(uint64_t kernel_dev, uint64_t ino, uint32_t cred_id) {
  cs_inode_key key{.dev = kernel_dev, .ino = ino};
  // The open path looks an inode up only when its bit is set, so the bit goes first.
  uint32_t bit = cs_cred_inode_bit(kernel_dev, ino);
  std::atomic_ref<__u64>(skel_.bss->cs_cred_inode_bits[bit / 64])
      .fetch_or(__u64{1} << (bit % 64), std::memory_order_release);
  if (bpf_map__update_elem(skel_.maps.cred_inodes, &key, sizeof key, &cred_id, sizeof cred_id,
                           BPF_ANY)) {
    int err = errno;
    return Error{"watching credential inode " + std::to_string(ino) + ": " + Errno(err) +
                 TableFull(err)};
  }
  return Status::Ok();
}

Status KernelTables::WatchName(std::string_view parent, std::string_view name, uint32_t cred_id) {
  if (name.empty() || name.find('/') != std::string_view::npos ||
      parent.find('/') != std::string_view::npos) {
    return Error{"credential file name '" + std::string(parent) + "', '" + std::string(name) +
                 "': expected a parent directory name and a file name, without '/'"};
  }
  cs_name_key key{};
  // Same truncation as bpf_probe_read_kernel_str into the key: at most size-1 bytes + NUL.
  std::memcpy(key.parent, parent.data(), std::min(parent.size(), sizeof key.parent - 1));
  std::memcpy(key.name, name.data(), std::min(name.size(), sizeof key.name - 1));
  if (bpf_map__update_elem(skel_.maps.cred_names, &key, sizeof key, &cred_id, sizeof cred_id,
                           BPF_ANY)) {
    int err = errno;
    return Error{"watching credential file name " + std::string(parent) + "/" + std::string(name) +
                 ": " + Errno(err) + TableFull(err)};
  }
  // The open path only copies and looks up names whose lengths are in this matrix.
  AddNameShape(*name_shapes_, parent.size(), name.size());
  AddNameLead(*name_shapes_, name.size(), name.front());
  return WriteNameShapes();
}

Status KernelTables::Clear() {
  if (auto s = ClearMap<cs_inode_key>(skel_.maps.cred_inodes, "cred_inodes"); !s) return s;
  for (__u64& word : skel_.bss->cs_cred_inode_bits) {
    std::atomic_ref<__u64>(word).store(0, std::memory_order_release);
  }
  if (auto s = ClearMap<cs_name_key>(skel_.maps.cred_names, "cred_names"); !s) return s;
  *name_shapes_ = {};
  return WriteNameShapes();
}

Status KernelTables::WriteNameShapes() {
  uint32_t zero = 0;
  if (bpf_map__update_elem(skel_.maps.cred_name_shapes, &zero, sizeof zero, name_shapes_.get(),
                           sizeof *name_shapes_, BPF_ANY)) {
    return Error{"updating cred_name_shapes: " + Errno(errno)};
  }
  return Status::Ok();
}

Status KernelTables::WatchSocket(uint32_t pid, int fd, SocketKind kind) {
  if (fd < 0) {
    return Error{"WatchSocket(pid " + std::to_string(pid) + ", fd " + std::to_string(fd) +
                 "): fd must not be negative"};
  }
  cs_fd_key key{.pid = pid, .fd = fd};
  cs_fd_state value{};
  value.kind = FdKind(kind);
  value.sock_state = CS_SOCK_UNKNOWN;
  // The same counting as cs_watch_fd in bpf/helpers/common.bpf.h: the slot counts each entry
  // once, raised before the entry exists. A socket already watched (the kernel saw its connect)
  // keeps its entry.
  std::atomic_ref<uint32_t> slot(skel_.bss->cs_fd_slots[cs_fd_slot(pid, fd)]);
  slot.fetch_add(1, std::memory_order_acq_rel);
  if (bpf_map__update_elem(skel_.maps.watched_fds, &key, sizeof key, &value, sizeof value,
                           BPF_NOEXIST) == 0) {
    return Status::Ok();
  }
  int err = errno;
  slot.fetch_sub(1, std::memory_order_acq_rel);
  if (err == EEXIST) return Status::Ok();
  return Error{"watching socket fd " + std::to_string(fd) + " of pid " + std::to_string(pid) +
               ": " + Errno(err)};
}

Status KernelTables::Unwatch(uint32_t pid, int fd) {
  cs_fd_key key{.pid = pid, .fd = fd};
  if (bpf_map__delete_elem(skel_.maps.watched_fds, &key, sizeof key, 0) == 0) {
    std::atomic_ref<uint32_t>(skel_.bss->cs_fd_slots[cs_fd_slot(pid, fd)])
        .fetch_sub(1, std::memory_order_acq_rel);
    return Status::Ok();
  }
  if (errno == ENOENT) return Status::Ok();
  return Error{"unwatching fd " + std::to_string(fd) + " of pid " + std::to_string(pid) + ": " +
               Errno(errno)};
}

uint64_t KernelTables::WatchedFdSlotsInUse() const {
  uint64_t in_use = 0;
  for (__u32& slot : skel_.bss->cs_fd_slots) {
    in_use += std::atomic_ref<__u32>(slot).load(std::memory_order_relaxed) != 0;
  }
  return in_use;
}

}  // namespace credsentry::loader
