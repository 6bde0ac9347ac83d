#include "report/spool_records.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "common/unique_fd.h"

namespace credsentry::report::spool_records {
namespace {

constexpr uint8_t kAlertRecord = 1;

template <class T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
bool Get(const std::string& in, size_t& pos, T* v) {
  if (pos + sizeof(T) > in.size()) return false;
  std::memcpy(v, in.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

}  // namespace

uint32_t Crc32(const char* data, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string Frame(const std::string& body) {
  std::string rec;
  rec.reserve(kHeader + body.size());
  Put(rec, kMagic);
  Put(rec, static_cast<uint32_t>(body.size()));
  Put(rec, Crc32(body.data(), body.size()));
  return rec + body;
}

std::string AlertBody(uint64_t seq, alert::Severity severity, const std::string& id,
                      const std::string& payload) {
  std::string body;
  Put(body, kAlertRecord);
  Put(body, seq);
  Put(body, static_cast<uint8_t>(severity));
  Put(body, static_cast<uint16_t>(id.size()));
  body += id;
  body += payload;
  return body;
}

std::optional<AlertRecordKey> ParseAlertBody(const std::string& body) {
  size_t pos = 0;
  uint8_t type, sev;
  uint64_t seq;
  uint16_t id_len;
  if (!Get(body, pos, &type) || type != kAlertRecord || !Get(body, pos, &seq) ||
      !Get(body, pos, &sev) || !Get(body, pos, &id_len) || pos + id_len > body.size() ||
      sev > 3) {
    return std::nullopt;
  }
  return AlertRecordKey{seq, static_cast<alert::Severity>(sev), body.substr(pos, id_len)};
}

size_t AlertPayloadOffset(size_t id_size) {
  return kHeader + sizeof(kAlertRecord) + sizeof(uint64_t) + sizeof(uint8_t) + sizeof(uint16_t) +
         id_size;
}

std::string TombstoneBody(const std::vector<std::string>& ids) {
  std::string body;
  for (const auto& id : ids) {
    Put(body, static_cast<uint16_t>(id.size()));
    body += id;
  }
  return body;
}

std::vector<std::string> ParseTombstoneBody(const std::string& body) {
  std::vector<std::string> ids;
  size_t pos = 0;
  uint16_t len;
  while (Get(body, pos, &len) && pos + len <= body.size()) {
    ids.push_back(body.substr(pos, len));
    pos += len;
  }
  return ids;
}

bool ReadAll(int fd, std::string* out) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  out->resize(st.st_size);
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = pread(fd, out->data() + done, out->size() - done, done);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

bool WriteAt(int fd, const std::string& data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, offset + done);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

void SyncDir(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) fsync(fd.get());
}

}  // namespace credsentry::report::spool_records
