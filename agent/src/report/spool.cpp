#include "report/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "report/spool_records.h"

namespace credsentry::report {

using spool_records::AlertBody;
using spool_records::AlertPayloadOffset;
using spool_records::ForEachRecord;
using spool_records::Frame;
using spool_records::kMaxBody;
using spool_records::ParseAlertBody;
using spool_records::ParseTombstoneBody;
using spool_records::ReadAll;
using spool_records::SyncDir;
using spool_records::TombstoneBody;
using spool_records::WriteAt;

Error Spool::IoError(const std::string& what, int err) {
  ++counters_["io_errors"];
  return Error{"spool " + opts_.dir + ": " + what + ": " + std::strerror(err)};
}

std::string Spool::PathOf(uint64_t n, const char* ext) const {
  char name[64];
  snprintf(name, sizeof name, "/seg-%010llu.%s", static_cast<unsigned long long>(n), ext);
  return opts_.dir + name;
}

Result<std::unique_ptr<Spool>> Spool::Open(const SpoolOptions& opts) {
  if (opts.dir.empty()) return Error{"spool directory not set"};
  if (opts.max_bytes < 64 * 1024) return Error{"spool max size below 64 KiB"};
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) return Error{"cannot create spool directory '" + opts.dir + "': " + ec.message()};
  std::unique_ptr<Spool> spool(new Spool(opts));
  spool->opts_.segment_bytes = std::max<uint64_t>(
      4096, std::min(opts.segment_bytes, opts.max_bytes / 8));
  std::lock_guard lock(spool->mu_);
  if (auto st = spool->Load(); !st.ok()) return Error{st.message()};
  return spool;
}

Spool::~Spool() = default;

Status Spool::OpenSegment(uint64_t n, bool create) {
  Segment seg;
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  seg.fd = UniqueFd(open(PathOf(n, "log").c_str(), flags, 0600));
  if (seg.fd.get() < 0) return IoError("open " + PathOf(n, "log"), errno);
  seg.ack_fd = UniqueFd(open(PathOf(n, "ack").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (seg.ack_fd.get() < 0) return IoError("open " + PathOf(n, "ack"), errno);
  segments_[n] = std::move(seg);
  next_segment_ = std::max(next_segment_, n + 1);
  if (create) SyncDir(opts_.dir);
  return Status::Ok();
}

Status Spool::Load() {
  std::vector<uint64_t> numbers;
  if (DIR* d = opendir(opts_.dir.c_str())) {
    while (dirent* e = readdir(d)) {
      unsigned long long n;
      char ext[8];
      if (sscanf(e->d_name, "seg-%llu.%3s", &n, ext) == 2 && std::string(ext) == "log") {
        numbers.push_back(n);
      }
    }
    closedir(d);
  } else {
    return IoError("list", errno);
  }
  std::sort(numbers.begin(), numbers.end());
  std::set<std::string> seen;  // ids met in earlier segments, live or acknowledged
  for (uint64_t n : numbers) {
    if (auto st = LoadSegment(n, seen); !st.ok()) return st;
  }
  DeleteEmptySegments();
  // A fresh tail: earlier segments become compactable, and a torn tail is never appended to.
  if (auto st = OpenSegment(next_segment_, true); !st.ok()) return st;
  if (!by_id_.empty()) {
    spdlog::info("collector spool {}: {} alerts waiting from before", opts_.dir, by_id_.size());
  }
  return Status::Ok();
}

Status Spool::LoadSegment(uint64_t n, std::set<std::string>& seen) {
  if (auto st = OpenSegment(n, false); !st.ok()) return st;
  Segment& seg = segments_[n];
  std::string data;
  if (!ReadAll(seg.fd.get(), &data)) return IoError("read " + PathOf(n, "log"), errno);
  std::vector<std::string> stale;  // leftovers of an interrupted compaction
  size_t good = ForEachRecord(data, [&](size_t offset, const std::string& body, uint32_t len) {
    auto key = ParseAlertBody(body);
    if (!key) {
      ++counters_["corrupt_records"];
      return;
    }
    if (!seen.insert(key->id).second) {
      stale.push_back(key->id);
      return;
    }
    by_id_[key->id] = {key->seq, n, offset, len, key->severity};
    by_seq_[key->seq] = key->id;
    by_severity_[static_cast<int>(key->severity)].insert(key->seq);
    ++seg.live;
    seg.live_bytes += len;
    next_seq_ = std::max(next_seq_, key->seq + 1);
  });
  if (good < data.size()) {
    ++counters_["corrupt_tail"];
    spdlog::warn("collector spool {}: cut {} torn/corrupt bytes at the end of {}", opts_.dir,
                 data.size() - good, PathOf(n, "log"));
    if (ftruncate(seg.fd.get(), good) != 0) return IoError("truncate " + PathOf(n, "log"), errno);
  }
  seg.size = good;

  std::string acks;
  if (!ReadAll(seg.ack_fd.get(), &acks)) return IoError("read " + PathOf(n, "ack"), errno);
  size_t good_acks = ForEachRecord(acks, [&](size_t, const std::string& body, uint32_t) {
    for (const auto& id : ParseTombstoneBody(body)) {
      auto it = by_id_.find(id);
      if (it != by_id_.end() && it->second.segment == n) Forget(id);
    }
  });
  if (good_acks < acks.size() && ftruncate(seg.ack_fd.get(), good_acks) != 0) {
    return IoError("truncate " + PathOf(n, "ack"), errno);
  }
  seg.ack_size = good_acks;
  total_bytes_ += seg.size + seg.ack_size;
  if (!stale.empty()) (void)WriteTombstones(n, stale);
  return Status::Ok();
}

void Spool::Forget(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  const Entry& e = it->second;
  auto seg = segments_.find(e.segment);
  if (seg != segments_.end()) {
    --seg->second.live;
    seg->second.live_bytes -= e.length;
  }
  by_seq_.erase(e.seq);
  by_severity_[static_cast<int>(e.severity)].erase(e.seq);
  by_id_.erase(it);
}

Status Spool::Rotate() {
  return OpenSegment(next_segment_, true);
}

Status Spool::AppendRecord(const std::string& raw, uint64_t* segment, uint64_t* offset,
                           bool sync) {
  if (segments_.rbegin()->second.size >= opts_.segment_bytes) {
    if (auto st = Rotate(); !st.ok()) return st;
  }
  auto& [n, tail] = *segments_.rbegin();
  if (!WriteAt(tail.fd.get(), raw, tail.size) || (sync && fdatasync(tail.fd.get()) != 0)) {
    int err = errno;
    // Leave no half record behind: the next append starts at a record boundary.
    (void)ftruncate(tail.fd.get(), tail.size);
    return IoError("write " + PathOf(n, "log"), err);
  }
  *segment = n;
  *offset = tail.size;
  tail.size += raw.size();
  total_bytes_ += raw.size();
  return Status::Ok();
}

Status Spool::WriteTombstones(uint64_t segment, const std::vector<std::string>& ids) {
  auto it = segments_.find(segment);
  if (it == segments_.end()) return Status::Ok();
  std::string raw = Frame(TombstoneBody(ids));
  Segment& seg = it->second;
  // No sync: a tombstone lost to a power cut only means a resend the collector deduplicates.
  if (!WriteAt(seg.ack_fd.get(), raw, seg.ack_size)) {
    int err = errno;
    (void)ftruncate(seg.ack_fd.get(), seg.ack_size);
    return IoError("write " + PathOf(segment, "ack"), err);
  }
  seg.ack_size += raw.size();
  total_bytes_ += raw.size();
  return Status::Ok();
}

void Spool::DeleteSegment(uint64_t n) {
  auto it = segments_.find(n);
  if (it == segments_.end()) return;
  it->second.fd = UniqueFd();
  it->second.ack_fd = UniqueFd();
  unsynced_.erase(n);
  // The log goes first: an ack file without its log is ignored at load.
  unlink(PathOf(n, "log").c_str());
  unlink(PathOf(n, "ack").c_str());
  total_bytes_ -= it->second.size + it->second.ack_size;
  segments_.erase(it);
  SyncDir(opts_.dir);
}

void Spool::DeleteEmptySegments() {
  if (segments_.empty()) return;
  uint64_t tail = segments_.rbegin()->first;
  std::vector<uint64_t> empty;
  for (auto& [n, seg] : segments_) {
    if (seg.live == 0 && n != tail) empty.push_back(n);
  }
  for (uint64_t n : empty) DeleteSegment(n);
  // All acknowledged: reset the tail instead of letting it grow.
  auto& [n, seg] = *segments_.rbegin();
  if (seg.live == 0 && seg.size + seg.ack_size > 0 && ftruncate(seg.fd.get(), 0) == 0 &&
      ftruncate(seg.ack_fd.get(), 0) == 0) {
    total_bytes_ -= seg.size + seg.ack_size;
    seg.size = seg.ack_size = 0;
  }
}

Status Spool::Compact(uint64_t n) {
  Segment& seg = segments_[n];
  std::string data;
  if (!ReadAll(seg.fd.get(), &data)) return IoError("read " + PathOf(n, "log"), errno);
  std::vector<std::string> live;
  for (auto& [id, e] : by_id_) {
    if (e.segment == n) live.push_back(id);
  }
  std::sort(live.begin(), live.end(),
            [&](const auto& a, const auto& b) { return by_id_[a].seq < by_id_[b].seq; });
  std::set<uint64_t> written;
  for (const auto& id : live) {
    Entry& e = by_id_[id];
    uint64_t new_seg, new_off;
    auto st = AppendRecord(data.substr(e.offset, e.length), &new_seg, &new_off, false);
    if (!st.ok()) return st;
    written.insert(new_seg);
    --segments_[n].live;
    segments_[n].live_bytes -= e.length;
    e.segment = new_seg;
    e.offset = new_off;
    ++segments_[new_seg].live;
    segments_[new_seg].live_bytes += e.length;
  }
  // One sync for all copies, and before the originals go.
  for (uint64_t w : written) {
    if (fdatasync(segments_[w].fd.get()) != 0) return IoError("sync " + PathOf(w, "log"), errno);
  }
  ++counters_["compactions"];
  DeleteSegment(n);
  return Status::Ok();
}

bool Spool::DropOneNonCritical() {
  for (int sev = 0; sev < 3; ++sev) {  // low, medium, high; never critical
    if (by_severity_[sev].empty()) continue;
    std::string id = by_seq_[*by_severity_[sev].begin()];
    uint64_t segment = by_id_[id].segment;
    // Even if the tombstone cannot be written, the in-memory drop still frees room once the
    // segment is compacted; at worst the alert comes back after a restart.
    (void)WriteTombstones(segment, {id});
    Forget(id);
    ++counters_["dropped_full"];
    static const char* kNames[] = {"low", "medium", "high"};
    ++counters_[std::string("dropped_full_") + kNames[sev]];
    return true;
  }
  return false;
}

Status Spool::MakeRoom(uint64_t needed) {
  if (total_bytes_ + needed <= opts_.max_bytes) return Status::Ok();
  // Once full, free half a segment more than needed, so the compaction and directory syncs
  // happen once per half segment, not once per alert.
  const uint64_t target = needed + opts_.segment_bytes / 2;
  while (total_bytes_ + target > opts_.max_bytes) {
    DeleteEmptySegments();
    if (total_bytes_ + target <= opts_.max_bytes) break;
    uint64_t tail = segments_.rbegin()->first;
    // The non-tail segment with the most dead bytes is the cheapest room.
    uint64_t best = 0, best_dead = 0;
    for (auto& [n, seg] : segments_) {
      if (n != tail && seg.dead_bytes() > best_dead) {
        best = n;
        best_dead = seg.dead_bytes();
      }
    }
    if (best_dead > 0) {
      if (auto st = Compact(best); !st.ok()) return st;
      continue;
    }
    if (segments_[tail].dead_bytes() > 0) {
      if (auto st = Rotate(); !st.ok()) return st;
      continue;
    }
    if (!DropOneNonCritical()) {
      if (total_bytes_ + needed <= opts_.max_bytes) break;
      ++counters_["refused_full"];
      return Error{"spool " + opts_.dir + " is full of critical alerts (" +
                   std::to_string(total_bytes_) + " of " + std::to_string(opts_.max_bytes) +
                   " bytes); new alert not spooled"};
    }
  }
  return Status::Ok();
}

Status Spool::Append(const std::string& id, alert::Severity severity, const std::string& payload) {
  if (id.empty() || id.size() > 1024) return Error{"alert id empty or longer than 1024 bytes"};
  std::lock_guard lock(mu_);
  if (by_id_.count(id)) {
    ++counters_["duplicate"];
    return Status::Ok();
  }
  uint64_t seq = next_seq_;
  std::string body = AlertBody(seq, severity, id, payload);
  if (body.size() > kMaxBody) return Error{"alert " + id + " too large for the spool"};
  std::string raw = Frame(body);
  if (raw.size() > opts_.max_bytes / 2) return Error{"alert " + id + " too large for the spool"};
  if (auto st = MakeRoom(raw.size()); !st.ok()) return st;
  uint64_t segment, offset;
  if (auto st = AppendRecord(raw, &segment, &offset, opts_.sync_each_append); !st.ok()) return st;
  if (!opts_.sync_each_append) unsynced_.insert(segment);
  ++next_seq_;
  by_id_[id] = {seq, segment, offset, static_cast<uint32_t>(raw.size()), severity};
  by_seq_[seq] = id;
  by_severity_[static_cast<int>(severity)].insert(seq);
  ++segments_[segment].live;
  segments_[segment].live_bytes += raw.size();
  ++counters_["queued"];
  return Status::Ok();
}

Status Spool::Sync() {
  std::lock_guard lock(mu_);
  for (uint64_t n : unsynced_) {
    auto it = segments_.find(n);
    if (it != segments_.end() && fdatasync(it->second.fd.get()) != 0) {
      return IoError("sync " + PathOf(n, "log"), errno);
    }
  }
  unsynced_.clear();
  return Status::Ok();
}

Result<std::vector<SpoolRecord>> Spool::Oldest(size_t max_records, size_t max_bytes) {
  std::lock_guard lock(mu_);
  std::vector<SpoolRecord> out;
  size_t bytes = 0;
  for (auto& [seq, id] : by_seq_) {
    if (out.size() >= max_records || (bytes > 0 && bytes >= max_bytes)) break;
    const Entry& e = by_id_[id];
    std::string raw(e.length, '\0');
    ssize_t n = pread(segments_[e.segment].fd.get(), raw.data(), e.length, e.offset);
    if (n != static_cast<ssize_t>(e.length)) {
      return IoError("read back alert " + id, n < 0 ? errno : EIO);
    }
    out.push_back({seq, id, e.severity, raw.substr(AlertPayloadOffset(id.size()))});
    bytes += e.length;
  }
  return out;
}

Status Spool::Remove(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  std::map<uint64_t, std::vector<std::string>> by_segment;
  for (const auto& id : ids) {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) by_segment[it->second.segment].push_back(id);
  }
  Status result;
  for (auto& [segment, seg_ids] : by_segment) {
    auto st = WriteTombstones(segment, seg_ids);
    if (!st.ok()) result = st;  // still forget: worst case a resend the collector dedups
    for (const auto& id : seg_ids) Forget(id);
    counters_["removed"] += seg_ids.size();
  }
  DeleteEmptySegments();
  return result;
}

size_t Spool::pending() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

uint64_t Spool::bytes_on_disk() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}

std::map<std::string, uint64_t> Spool::Counters() const {
  std::lock_guard lock(mu_);
  auto out = counters_;
  out["pending"] = by_id_.size();
  out["bytes"] = total_bytes_;
  return out;
}

}  // namespace credsentry::report
