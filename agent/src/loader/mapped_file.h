// Read-only mapping of a whole file (ELF readers: TLS libraries, Go executables).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "common/result.h"

namespace credsentry::loader {

// Unmapped on destruction. Only regular, non-empty files.
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error{path + ": " + std::strerror(errno)};
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
      close(fd);
      return Error{path + ": not a regular, non-empty file"};
    }
    void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return Error{path + ": mmap: " + std::strerror(errno)};
    return MappedFile(static_cast<const uint8_t*>(p), st.st_size);
  }
  MappedFile(MappedFile&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(o.size_) {}
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  }

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  uint64_t size() const { return size_; }
  // Pointer to `count` objects of T at `off`, or nullptr when that range is outside the file.
  template <class T>
  const T* At(uint64_t off, uint64_t count = 1) const {
    if (off > size_ || count > (size_ - off) / sizeof(T)) return nullptr;
    return reinterpret_cast<const T*>(data_ + off);
  }

 private:
  MappedFile(const uint8_t* d, uint64_t n) : data_(d), size_(n) {}
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace credsentry::loader
