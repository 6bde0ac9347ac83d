// Privilege separation for attach on exec. Uprobe perf events need CAP_SYS_ADMIN on our kernels
// (CAP_PERFMON elsewhere), which the agent drops once started (pipeline/privileges.h) because
// its main process parses hostile bytes all day. A small child forked before the drop keeps the
// capabilities and does one thing: create a uprobe on (file, offset) for a BPF program the agent
// already loaded, link the program to it, and pass the link's fd back over a socketpair. It
// never sees captured data; its request is fixed-size and checked; it exits when the agent does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace credsentry::loader {

class UprobeAttachHelper {
 public:
  // Forks the helper. `programs`: BPF program name -> its fd, inherited by the child.
  static Result<std::unique_ptr<UprobeAttachHelper>> Start(
      std::vector<std::pair<std::string, int>> programs);
  ~UprobeAttachHelper();  // closes the socket (the child exits on EOF) and reaps the child
  UprobeAttachHelper(const UprobeAttachHelper&) = delete;
  UprobeAttachHelper& operator=(const UprobeAttachHelper&) = delete;

  // A uprobe (or uretprobe) at `file_offset` in `path`, running `program`; the returned link fd
  // keeps it attached until closed. Errors carry the helper's errno text.
  Result<UniqueFd> Attach(std::string_view program, const std::string& path, uint64_t file_offset,
                          bool retprobe);
  pid_t pid() const { return pid_; }

 private:
  UprobeAttachHelper(pid_t pid, int sock) : pid_(pid), sock_(sock) {}
  pid_t pid_;
  UniqueFd sock_;
};

}  // namespace credsentry::loader
