// Prevent mode, user-space side of the hold (bpf/helpers/prevent.bpf.h): switching the kernel's
// hold on and off, the anchors it scans for, and the verdict on a held process. The guardian is a
// separate process that releases what the agent leaves held (it dies, hangs or stops).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace credsentry::loader {

namespace gen {
struct credsentry;  // the libbpf skeleton (skeleton.h)
}

// Slot of the kernel's anchor bitmap for the three bytes at `p` (credsentry_abi.h).
uint32_t AnchorSlot(const uint8_t* p);

class PreventTable {
 public:
  explicit PreventTable(gen::credsentry& skel) : skel_(skel) {}

  // The kernel holds TLS writes with an anchor only while enabled (SIGHUP may switch it).
  void SetEnabled(bool on);
  bool enabled() const;
  // Replaces the anchors (credsentry_abi.h): text anchors of three bytes or more give their first
  // three; HPACK Huffman ones of five bytes or more their first five. Returns the number of bits
  // set. While the bits are rewritten a write may go unheld (fail-open).
  size_t SetAnchors(const std::vector<std::string>& text, const std::vector<std::string>& huffman);

  // The exec hold (bpf/process.bpf.c), in either mode: on while attach on exec runs.
  void SetExecHold(bool on);
  // An executable inspected (hooked or not): its execs are not held any more. `user_dev` as
  // stat(2) gives it. False when the kernel table refused it (counted by the caller).
  bool MarkExecutableKnown(uint64_t user_dev, uint64_t ino);
  enum class ExecRelease {
    kReleased,  // it was held at exec, and is continued now
    kTooLate,   // no exec hold left for it: the guardian let it go past the bound, or it died
  };
  // Continues `pid` if the kernel still holds it for its exec. A held TLS write of the same
  // process (after the guardian let the exec go) is not touched: its verdict is the pipeline's.
  ExecRelease ReleaseExecHold(uint32_t pid);
  // The end of an exec hold once the agent inspected the executable: marks /proc/<pid>/exe
  // known (`*mark_failed` when the table refused it), then ReleaseExecHold.
  ExecRelease EndExecHold(uint32_t pid, bool* mark_failed);
  // How long an exec hold may last at most, in ms (the guardian's bound plus its poll).
  static uint64_t ExecHoldBoundMs();

  // The verdicts. Both forget the kernel's entry for `pid`; errors carry errno text.
  Status Kill(uint32_t pid);
  Status Release(uint32_t pid);
  int held_map_fd() const;

 private:
  gen::credsentry& skel_;
};

// A child process that outlives the agent for one purpose: no process stays stopped by prevent
// mode. It holds the kernel's held table and a pipe from the agent. While the agent lives it
// releases entries older than `backstop_ns` (an agent that hangs); when the pipe reaches EOF (the
// agent exited, crashed or was SIGKILLed) it releases every entry and exits. It ignores
// SIGTERM/SIGINT/SIGHUP so that stopping the service cannot stop it before it has released.
class PreventGuardian {
 public:
  static Result<std::unique_ptr<PreventGuardian>> Start(int held_map_fd, uint64_t backstop_ns);
  ~PreventGuardian();  // closes the pipe: the guardian releases what is left, then exits
  PreventGuardian(const PreventGuardian&) = delete;
  PreventGuardian& operator=(const PreventGuardian&) = delete;
  pid_t pid() const { return pid_; }

 private:
  PreventGuardian(pid_t pid, int pipe_fd) : pid_(pid), pipe_(pipe_fd) {}
  pid_t pid_;
  UniqueFd pipe_;
};

}  // namespace credsentry::loader
