// Reads the two kernel ring buffers in the order things happened.
//
// Control records (exec, open, connect, SNI, close, exit) and data records (reads, writes, TLS
// plaintext) travel on separate rings so a burst of payload cannot crowd out the small records
// that give it meaning. Read ring by ring, a write could reach the pipeline after the close of its
// socket, or a credential read before the open that names the file. The reader takes the control
// records first (copied: they are small), then walks the data ring and hands each data record
// over after every control record stamped no later than it. A control record is published after
// every data record its own thread made before it, so taking control first never misses one;
// and a data record stamped after the last read of the control ring makes the reader read it
// again first, so a connect or SNI published while a backlog of data is walked still comes
// before the writes that follow it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"

struct ring_buffer;

namespace credsentry::loader {

class RingReader {
 public:
  using Sink = std::function<void(std::span<const uint8_t>)>;

  // Reads the rings behind these BPF map fds (the maps stay owned by the caller).
  static Result<std::unique_ptr<RingReader>> Open(int control_map_fd, int data_map_fd);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Waits up to timeout_ms for either ring, then hands every record available to `sink`, in
  // kernel time order. Returns the number of records handed over.
  Result<int> Poll(int timeout_ms, const Sink& sink);

  // Kernel timestamp of a record (0 when it is too short to carry the common header).
  static uint64_t Timestamp(std::span<const uint8_t> record);

 private:
  RingReader() = default;
  static int OnControl(void* ctx, void* data, size_t size);
  static int OnData(void* ctx, void* data, size_t size);
  void HandOverControlUpTo(uint64_t ts);
  int ReadControl();  // ring_buffer__consume of the control ring, stamped

  ring_buffer* control_ = nullptr;
  ring_buffer* data_ = nullptr;
  std::deque<std::vector<uint8_t>> held_;  // control records not yet handed over
  const Sink* sink_ = nullptr;
  int handed_ = 0;
  uint64_t control_read_ns_ = 0;  // CLOCK_MONOTONIC when the control ring was last read
};

}  // namespace credsentry::loader
