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
#include "loader/mapped_file.h"

namespace credsentry::loader {
namespace {

// Calls visit(name, symbol, section holding it) for every function the file defines in .dynsym
// or .symtab. Errors name the file and what is malformed.
// `enough()` is asked after each symbol table: true stops the walk (node's .symtab is four times
// its .dynsym, and what we hook is exported).
template <class Visit, class Enough>
Status ForEachDefinedFunction(const MappedFile& file, const std::string& path, Visit visit,
                              Enough enough) {
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
    if (enough()) break;
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
      *file, path,
      [&](std::string_view name, const Elf64_Sym&, const Elf64_Shdr&) {
        for (std::string_view w : wanted) {
          if (name == w) found.emplace(w);
        }
      },
      [&] { return found.size() == wanted.size(); });
  if (!st) return Error{st.message()};
  return found;
}

Result<uint64_t> ElfFunctionFileOffset(const std::string& path, std::string_view function) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  std::optional<uint64_t> offset;
  Status st = ForEachDefinedFunction(
      *file, path,
      [&](std::string_view name, const Elf64_Sym& sym, const Elf64_Shdr& section) {
        // A uprobe is placed by file offset: the address relative to its section's.
        if (offset || name != function || sym.st_value < section.sh_addr) return;
        offset = sym.st_value - section.sh_addr + section.sh_offset;
      },
      [&] { return offset.has_value(); });
  if (!st) return Error{st.message()};
  if (!offset) return Error{path + " does not define " + std::string(function)};
  return *offset;
}

Result<std::map<std::string, uint64_t>> ElfFunctionFileOffsets(
    const std::string& path, std::span<const std::string_view> wanted,
    std::span<const std::string_view> sufficient) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  std::map<std::string, uint64_t> offsets;
  Status st = ForEachDefinedFunction(
      *file, path,
      [&](std::string_view name, const Elf64_Sym& sym, const Elf64_Shdr& section) {
        if (sym.st_value < section.sh_addr) return;
        for (std::string_view w : wanted) {
          if (name == w) offsets.emplace(w, sym.st_value - section.sh_addr + section.sh_offset);
        }
      },
      [&] {
        if (offsets.size() == wanted.size()) return true;
        if (sufficient.empty()) return false;
        for (std::string_view f : sufficient) {
          if (!offsets.count(std::string(f))) return false;
        }
        return true;
      });
  if (!st) return Error{st.message()};
  return offsets;
}

const char* TlsStackName(TlsStack stack) {
  switch (stack) {
    case TlsStack::kOpenSsl:
      return "OpenSSL";
    case TlsStack::kGnuTls:
      return "GnuTLS";
    case TlsStack::kNone:
      break;
  }
  return "none";
}

Result<TlsStackSymbols> FindTlsStack(const std::string& path) {
  static constexpr std::string_view kAll[] = {"SSL_write", "SSL_write_ex", "SSL_ctrl", "SSL_set_fd",
                                              "gnutls_record_send"};
  // All of OpenSSL's hooks in .dynsym (node exports them): .symtab is not read.
  auto offsets = ElfFunctionFileOffsets(path, kAll, kOpenSslFunctions);
  if (!offsets) return offsets.error();
  TlsStackSymbols out;
  // SSL_write is the one hook without which an OpenSSL file is not worth hooking; a file that
  // carries both stacks (rare) is hooked as OpenSSL, the common one.
  if (offsets->count("SSL_write")) {
    out.stack = TlsStack::kOpenSsl;
  } else if (offsets->count("gnutls_record_send")) {
    out.stack = TlsStack::kGnuTls;
  } else {
    return out;
  }
  std::span<const std::string_view> functions =
      out.stack == TlsStack::kOpenSsl ? std::span<const std::string_view>(kOpenSslFunctions)
                                      : std::span<const std::string_view>(kGnuTlsFunctions);
  for (std::string_view f : functions) {
    if (auto it = offsets->find(std::string(f)); it != offsets->end()) out.offsets.insert(*it);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> UnhookableTlsStacks() {
  std::vector<std::pair<std::string, std::string>> out;
  struct stat st {};
  bool jvm = stat("/usr/lib/jvm", &st) == 0 && S_ISDIR(st.st_mode);
  for (const char* java : {"/usr/bin/java", "/usr/local/bin/java"}) {
    jvm = jvm || access(java, X_OK) == 0;
  }
  std::string why =
      "its TLS runs as JIT-compiled Java, no symbol to probe; plaintext not captured, the "
      "destination is named from the ClientHello SNI; covered by provenance: after a "
      "credential-file read its sends to unexpected names raise tainted-egress";
  out.emplace_back("TLS Java JSSE",
                   std::string(jvm ? "found" : "none found") + ", not hookable (" + why + ")");
  out.emplace_back("TLS rustls",
                   "not hookable (statically linked and inlined Rust, no stable symbols); "
                   "plaintext not captured, the destination is named from the ClientHello SNI; "
                   "covered by provenance (tainted-egress after a credential-file read)");
  return out;
}

std::vector<std::string> FindSystemLibssl() { return FindSystemLibrary("libssl.so.3"); }

std::vector<std::string> FindSystemLibgnutls() { return FindSystemLibrary("libgnutls.so.30"); }

}  // namespace credsentry::loader
