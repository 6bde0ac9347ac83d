#include "loader/ring_reader.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "credsentry_abi.h"

namespace credsentry::loader {
namespace {

constexpr useconds_t kPayloadCoalesceUs = 2000;  // adds at most 2 ms to an alert

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
  self->HandOverControlUpTo(Timestamp(record));
  (*self->sink_)(record);
  ++self->handed_;
  return 0;
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
  if (::poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
    return Error{"polling the ring buffers failed: " + Errno(errno)};
  }
  // Woken by payload alone: let a little more arrive before reading. While records wait, the
  // kernel sees a consumer that has not caught up and skips the wakeup of each new record, so a
  // bulk upload costs a few hundred wakeups a second instead of one per SSL_write. Control
  // records (exec: attach on exec) are read at once.
  if ((fds[1].revents & POLLIN) && !(fds[0].revents & POLLIN)) {
    ::usleep(kPayloadCoalesceUs);
  }
  // Both rings are read whatever woke us: data records submitted without a wakeup (all but the
  // last record of a multi-record call) are collected here too.
  sink_ = &sink;
  handed_ = 0;
  int err = ring_buffer__consume(control_);
  if (err >= 0) err = ring_buffer__consume(data_);
  HandOverControlUpTo(std::numeric_limits<uint64_t>::max());
  sink_ = nullptr;
  if (err < 0 && err != -EINTR) return Error{"reading the ring buffers failed: " + Errno(err)};
  return handed_;
}

}  // namespace credsentry::loader
