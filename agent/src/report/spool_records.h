// The spool's record format and the file I/O under it (the layout is described in spool.h):
//   u32 magic | u32 body length | u32 CRC-32 of body | body
// An alert body is (u8 type, u64 seq, u8 severity, u16 id length, id, serialized alert); a
// tombstone body is a list of (u16 length, id). Spool keeps the index and the policy; this file
// only knows bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "alert/alert.h"

namespace credsentry::report::spool_records {

inline constexpr uint32_t kMagic = 0x31525343;  // "CSR1"
inline constexpr uint32_t kHeader = 12;
inline constexpr uint32_t kMaxBody = 16u << 20;

uint32_t Crc32(const char* data, size_t n);

// magic | length | CRC-32 | body.
std::string Frame(const std::string& body);

// Walks framed records in `data`, calling fn(offset, body, whole record length); stops at the
// first torn or corrupt one and returns the offset where good data ends.
template <class Fn>
size_t ForEachRecord(const std::string& data, Fn&& fn) {
  size_t pos = 0;
  while (pos + kHeader <= data.size()) {
    uint32_t magic, len, crc;
    std::memcpy(&magic, data.data() + pos, 4);
    std::memcpy(&len, data.data() + pos + 4, 4);
    std::memcpy(&crc, data.data() + pos + 8, 4);
    if (magic != kMagic || len > kMaxBody || pos + kHeader + len > data.size()) break;
    if (Crc32(data.data() + pos + kHeader, len) != crc) break;
    fn(pos, data.substr(pos + kHeader, len), kHeader + len);
    pos += kHeader + len;
  }
  return pos;
}

struct AlertRecordKey {
  uint64_t seq = 0;
  alert::Severity severity = alert::Severity::kHigh;
  std::string id;
};

// The body of an alert record (unframed).
std::string AlertBody(uint64_t seq, alert::Severity severity, const std::string& id,
                      const std::string& payload);
// The seq, severity and id of an alert body; nullopt when it is not a well-formed one.
std::optional<AlertRecordKey> ParseAlertBody(const std::string& body);
// Where the serialized alert starts in a framed alert record whose id has `id_size` bytes.
size_t AlertPayloadOffset(size_t id_size);

// The body of a tombstone record naming `ids`.
std::string TombstoneBody(const std::vector<std::string>& ids);
// The ids a tombstone body names, up to the first malformed one.
std::vector<std::string> ParseTombstoneBody(const std::string& body);

// Whole-file read and positioned write, retried until done; false on an error (errno is set).
bool ReadAll(int fd, std::string* out);
bool WriteAt(int fd, const std::string& data, uint64_t offset);
// fsync of a directory, so a created or deleted segment survives a power cut.
void SyncDir(const std::string& dir);

}  // namespace credsentry::report::spool_records
