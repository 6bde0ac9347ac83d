#include "loader/tls_libraries.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
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

// Calls visit(name, symbol, section holding it) for every function the file defines in .dynsym
// or .symtab. Errors name the file and what is malformed.
template <class Visit>
Status ForEachDefinedFunction(const MappedFile& file, const std::string& path, Visit visit) {
  const auto* eh = file.At<Elf64_Ehdr>(0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64) {
    return Error{path + ": not a 64-bit ELF file"};
  }
  if (eh->e_shentsize != sizeof(Elf64_Shdr))
    return Error{path + ": unexpected section header size"};
  const auto* sections = file.At<Elf64_Shdr>(eh->e_shoff, eh->e_shnum);
  if (!sections) return Error{path + ": section headers outside the file (truncated?)"};

  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    const Elf64_Shdr& sh = sections[i];
    if ((sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) || sh.sh_link >= eh->e_shnum ||
        sh.sh_entsize != sizeof(Elf64_Sym)) {
      continue;
    }
    const Elf64_Shdr& strtab = sections[sh.sh_link];
    const auto* syms = file.At<Elf64_Sym>(sh.sh_offset, sh.sh_size / sizeof(Elf64_Sym));
    const auto* strs = file.At<char>(strtab.sh_offset, strtab.sh_size);
    if (!syms || !strs) return Error{path + ": symbol table outside the file (truncated?)"};
    for (uint64_t s = 0; s < sh.sh_size / sizeof(Elf64_Sym); ++s) {
      const Elf64_Sym& sym = syms[s];
      if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= eh->e_shnum ||
          ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= strtab.sh_size) {
        continue;
      }
      std::string_view name(strs + sym.st_name,
                            strnlen(strs + sym.st_name, strtab.sh_size - sym.st_name));
      visit(name, sym, sections[sym.st_shndx]);
    }
  }
  return Status::Ok();
}

// The real paths of `soname` in the usual library directories, one per inode (merged /usr:
// /lib and /usr/lib are one file).
std::vector<std::string> FindSystemLibrary(std::string_view soname) {
  static constexpr const char* kDirs[] = {
      "/usr/lib/x86_64-linux-gnu",
      "/lib/x86_64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      "/lib/aarch64-linux-gnu",
      "/usr/lib64",
      "/lib64",
      "/usr/lib",
  };
  std::vector<std::string> libs;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const char* dir : kDirs) {
    std::string candidate = std::string(dir) + "/" + std::string(soname);
    struct stat st {};
    if (stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!seen.emplace(st.st_dev, st.st_ino).second) continue;
    char real[PATH_MAX];
    libs.emplace_back(realpath(candidate.c_str(), real) ? real : candidate);
  }
  return libs;
}

}  // namespace

Result<std::set<std::string>> ElfDefinedFunctions(const std::string& path,
                                                  std::span<const std::string_view> wanted) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  std::set<std::string> found;
  Status st = ForEachDefinedFunction(
      *file, path, [&](std::string_view name, const Elf64_Sym&, const Elf64_Shdr&) {
        for (std::string_view w : wanted) {
          if (name == w) found.emplace(w);
        }
      });
  if (!st) return Error{st.message()};
  return found;
}

Result<uint64_t> ElfFunctionFileOffset(const std::string& path, std::string_view function) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  std::optional<uint64_t> offset;
  Status st = ForEachDefinedFunction(
      *file, path, [&](std::string_view name, const Elf64_Sym& sym, const Elf64_Shdr& section) {
        // A uprobe is placed by file offset: the address relative to its section's.
        if (offset || name != function || sym.st_value < section.sh_addr) return;
        offset = sym.st_value - section.sh_addr + section.sh_offset;
      });
  if (!st) return Error{st.message()};
  if (!offset) return Error{path + " does not define " + std::string(function)};
  return *offset;
}

std::vector<std::string> FindSystemLibssl() { return FindSystemLibrary("libssl.so.3"); }

std::vector<std::string> FindSystemLibgnutls() { return FindSystemLibrary("libgnutls.so.30"); }

}  // namespace credsentry::loader
