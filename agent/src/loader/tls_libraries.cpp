#include "loader/tls_libraries.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace credsentry::loader {
namespace {

// Read-only mapping of a whole file, unmapped on destruction.
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
  // Pointer to `count` objects of T at `off`, or nullptr when that range is outside the file.
  template <class T>
  const T* At(uint64_t off, uint64_t count = 1) const {
    if (off > size_ || count > (size_ - off) / sizeof(T)) return nullptr;
    return reinterpret_cast<const T*>(data_ + off);
  }
  uint64_t size() const { return size_; }

 private:
  MappedFile(const uint8_t* d, uint64_t n) : data_(d), size_(n) {}
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace

Result<std::set<std::string>> ElfDefinedFunctions(const std::string& path,
                                                  std::span<const std::string_view> wanted) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  const auto* eh = file->At<Elf64_Ehdr>(0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64) {
    return Error{path + ": not a 64-bit ELF file"};
  }
  if (eh->e_shentsize != sizeof(Elf64_Shdr))
    return Error{path + ": unexpected section header size"};
  const auto* sections = file->At<Elf64_Shdr>(eh->e_shoff, eh->e_shnum);
  if (!sections) return Error{path + ": section headers outside the file (truncated?)"};

  std::set<std::string> found;
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    const Elf64_Shdr& sh = sections[i];
    if ((sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) || sh.sh_link >= eh->e_shnum ||
        sh.sh_entsize != sizeof(Elf64_Sym)) {
      continue;
    }
    const Elf64_Shdr& strtab = sections[sh.sh_link];
    const auto* syms = file->At<Elf64_Sym>(sh.sh_offset, sh.sh_size / sizeof(Elf64_Sym));
    const auto* strs = file->At<char>(strtab.sh_offset, strtab.sh_size);
    if (!syms || !strs) return Error{path + ": symbol table outside the file (truncated?)"};
    for (uint64_t s = 0; s < sh.sh_size / sizeof(Elf64_Sym); ++s) {
      const Elf64_Sym& sym = syms[s];
      if (sym.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym.st_info) != STT_FUNC ||
          sym.st_name >= strtab.sh_size) {
        continue;
      }
      std::string_view name(strs + sym.st_name,
                            strnlen(strs + sym.st_name, strtab.sh_size - sym.st_name));
      for (std::string_view w : wanted) {
        if (name == w) found.emplace(w);
      }
    }
  }
  return found;
}

std::vector<std::string> FindSystemLibssl() {
  static constexpr const char* kCandidates[] = {
      "/usr/lib/x86_64-linux-gnu/libssl.so.3",
      "/lib/x86_64-linux-gnu/libssl.so.3",
      "/usr/lib/aarch64-linux-gnu/libssl.so.3",
      "/lib/aarch64-linux-gnu/libssl.so.3",
      "/usr/lib64/libssl.so.3",
      "/lib64/libssl.so.3",
      "/usr/lib/libssl.so.3",
  };
  std::vector<std::string> libs;
  std::set<std::pair<dev_t, ino_t>> seen;  // merged /usr: /lib and /usr/lib are one file
  for (const char* candidate : kCandidates) {
    struct stat st {};
    if (stat(candidate, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!seen.emplace(st.st_dev, st.st_ino).second) continue;
    char real[PATH_MAX];
    libs.emplace_back(realpath(candidate, real) ? real : candidate);
  }
  return libs;
}

}  // namespace credsentry::loader
