#include "loader/ring_reader.h"

#include <bpf/libbpf.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "common/clock.h"
#include "credsentry_abi.h"

namespace credsentry::loader {
namespace {

// Payload records do not wake the reader (bpf/helpers/payload.bpf.h, cs_chunk_wakeup): it reads
// the data ring at least this often, which adds at most this much to an alert. A wakeup costs
// the writing process an interrupt and a cross-CPU wake of this thread, about as much as copying
// the 4 KiB it announces; 20 timer wakeups a second cost the idle reader far less. A burst that
// fills the ring past data_wakeup_bytes still wakes it at once.
constexpr int kDataPeriodMs = 50;

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace

Result<std::unique_ptr<RingReader>> RingReader::Open(int control_map_fd, int data_map_fd) {
  std::unique_ptr<RingReader> r(new RingReader());
  r->control_ = ring_buffer__new(control_map_fd, &RingReader::OnControl, r.get(), nullptr);
  if (!r->control_) return Error{"creating the control ring reader failed: " + Errno(errno)};
  r->data_ = ring_buffer__new(data_map_fd, &RingReader::OnData, r.get(), nullptr);
  if (!r->data_) return Error{"creating the data ring reader failed: " + Errno(errno)};
  return r;
}

RingReader::~RingReader() {
  if (data_) ring_buffer__free(data_);
  if (control_) ring_buffer__free(control_);
}

uint64_t RingReader::Timestamp(std::span<const uint8_t> record) {
  uint64_t ts = 0;
  if (record.size() >= offsetof(cs_event_header, ts_ns) + sizeof ts) {
    std::memcpy(&ts, record.data() + offsetof(cs_event_header, ts_ns), sizeof ts);
  }
  return ts;
}

int RingReader::OnControl(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  auto* bytes = static_cast<const uint8_t*>(data);
  self->held_.emplace_back(bytes, bytes + size);
  return 0;
}

int RingReader::OnData(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  std::span<const uint8_t> record{static_cast<const uint8_t*>(data), size};
  const uint64_t ts = Timestamp(record);
  // The data ring is walked while the kernel keeps writing both rings, and each record is
  // matched before the next is read, so a backlog takes long to walk. A record stamped after
  // the control ring was last read may have control records (its connect, its SNI) that were
  // published after that read: read the control ring again before handing it over.
  if (ts > self->control_read_ns_) self->ReadControl();
  self->HandOverControlUpTo(ts);
  (*self->sink_)(record);
  ++self->handed_;
  return 0;
}

int RingReader::ReadControl() {
  control_read_ns_ = MonotonicNs();
  return ring_buffer__consume(control_);
}

void RingReader::HandOverControlUpTo(uint64_t ts) {
  while (!held_.empty() && Timestamp(held_.front()) <= ts) {
    (*sink_)(held_.front());
    held_.pop_front();
    ++handed_;
  }
}

Result<int> RingReader::Poll(int timeout_ms, const Sink& sink) {
  pollfd fds[2] = {{ring_buffer__epoll_fd(control_), POLLIN, 0},
                   {ring_buffer__epoll_fd(data_), POLLIN, 0}};
  int wait_ms = timeout_ms < 0 || timeout_ms > kDataPeriodMs ? kDataPeriodMs : timeout_ms;
  if (::poll(fds, 2, wait_ms) < 0 && errno != EINTR) {
    return Error{"polling the ring buffers failed: " + Errno(errno)};
  }
  // Both rings are read whatever woke us (a control record, a data burst or the period): data
  // records are submitted without a wakeup and are collected here.
  sink_ = &sink;
  handed_ = 0;
  int err = ReadControl();
  if (err >= 0) err = ring_buffer__consume(data_);
  HandOverControlUpTo(std::numeric_limits<uint64_t>::max());
  sink_ = nullptr;
  if (err < 0 && err != -EINTR) return Error{"reading the ring buffers failed: " + Errno(err)};
  return handed_;
}

}  // namespace credsentry::loader
