// The collector output's durable spool: alerts wait here, on disk, until the collector
// acknowledges their ids. It survives agent restarts and reboots, replays oldest first, and is
// bounded by bytes.
//
// On disk: append-only segment files `seg-<n>.log` in one directory, each with a companion
// `seg-<n>.ack` holding tombstones for its own records (ids the collector acknowledged or the
// spool dropped), so any segment can be compacted or deleted on its own. Each record is
//   u32 magic | u32 body length | u32 CRC-32 of body | body
// where an alert body is (seq, severity, id, serialized alert) and a tombstone body is a list of
// ids. Loading replays segments in order; a torn or corrupt tail (agent killed mid-write, power
// loss) is cut off at the last good record and counted. Records are keyed by alert id: a second
// append of a pending id is ignored, and the collector deduplicates by id too, so a replay never
// duplicates.
//
// fsync policy: Append returns after write(), so a spooled alert survives the agent being
// killed (SIGKILL, crash); the collector sender calls Sync() (fdatasync) as soon as it wakes
// for the new alert, so a power cut can lose only alerts spooled in the last moments
// (`sync_each_append` syncs inside Append instead, at ~ms per alert). Tombstones are never
// synced: one lost to a power cut only causes a resend that the collector deduplicates.
// Compaction syncs the copies before deleting the originals; segment creation and deletion
// sync the directory.
//
// Full: the oldest segment is compacted (its live records copied to the tail) when that frees
// space; otherwise the oldest record of the lowest severity present is dropped (never a
// critical one) and counted. If only critical alerts remain, the new alert is refused (counted).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "alert/alert.h"

namespace credsentry::report {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 64ull << 20;
  uint64_t segment_bytes = 4ull << 20;  // rotation size; clamped to max_bytes / 8
  bool sync_each_append = false;
};

struct SpoolRecord {
  uint64_t seq = 0;
  std::string id;
  alert::Severity severity = alert::Severity::kHigh;
  std::string payload;
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> Open(const SpoolOptions& opts);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Durable when it returns ok. An error names the directory and the OS error (disk full...).
  Status Append(const std::string& id, alert::Severity severity, const std::string& payload);
  // fdatasync of every segment appended to since the last Sync.
  Status Sync();
  // The oldest pending records, up to `max_records` and about `max_bytes` of payload.
  Result<std::vector<SpoolRecord>> Oldest(size_t max_records, size_t max_bytes);
  // Forgets ids the collector acknowledged (or rejected); unknown ids are ignored.
  Status Remove(const std::vector<std::string>& ids);

  size_t pending() const;
  uint64_t bytes_on_disk() const;
  // queued, removed, dropped_full, refused_full, duplicate, io_errors, corrupt_records, ...
  std::map<std::string, uint64_t> Counters() const;

 private:
  struct Entry {
    uint64_t seq;
    uint64_t segment;  // number of the segment file holding it
    uint64_t offset;   // of the record header
    uint32_t length;   // whole record
    alert::Severity severity;
  };
  struct Segment {
    UniqueFd fd;      // seg-<n>.log
    UniqueFd ack_fd;  // seg-<n>.ack
    uint64_t size = 0, ack_size = 0;
    size_t live = 0;
    uint64_t live_bytes = 0;
    uint64_t dead_bytes() const { return size + ack_size - live_bytes; }
  };

  explicit Spool(SpoolOptions opts) : opts_(std::move(opts)) {}
  Status Load();
  Status LoadSegment(uint64_t n, std::set<std::string>& seen);
  Status OpenSegment(uint64_t n, bool create);
  Status Rotate();
  Status AppendRecord(const std::string& raw, uint64_t* segment, uint64_t* offset,
                      bool sync = true);
  Status WriteTombstones(uint64_t segment, const std::vector<std::string>& ids);
  Status MakeRoom(uint64_t needed);
  Status Compact(uint64_t segment);
  void DeleteSegment(uint64_t segment);
  void DeleteEmptySegments();
  void Forget(const std::string& id);
  bool DropOneNonCritical();
  std::string PathOf(uint64_t n, const char* ext) const;
  Error IoError(const std::string& what, int err);

  SpoolOptions opts_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_id_;
  std::map<uint64_t, std::string> by_seq_;        // replay order
  std::set<uint64_t> by_severity_[4];            // seqs per severity, for drop-oldest-lowest
  std::map<uint64_t, Segment> segments_;         // by number; the last one is the tail
  uint64_t next_seq_ = 1;
  uint64_t next_segment_ = 1;
  std::set<uint64_t> unsynced_;
  uint64_t total_bytes_ = 0;
  std::map<std::string, uint64_t> counters_;
};

}  // namespace credsentry::report
