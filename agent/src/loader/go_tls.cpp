#include "loader/go_tls.h"

#include <elf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>
#include "loader/mapped_file.h"

namespace credsentry::loader {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
constexpr int kFirstRegisterAbiMinor = 17;  // go1.17: regabi on amd64
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
constexpr int kFirstRegisterAbiMinor = 18;  // go1.18: regabi on arm64
#else
#error "Go TLS capture: unsupported architecture"
#endif

// Bounds on what a hostile file can make us do.
constexpr uint64_t kMaxFunctions = 4u << 20;  // far above the largest real Go binaries (~200k)
constexpr uint64_t kMaxVersionLen = 128;

// Little-endian, bounds-checked reads from a byte span. Every accessor fails softly.
class Bytes {
 public:
  explicit Bytes(std::span<const uint8_t> b) : b_(b) {}
  uint64_t size() const { return b_.size(); }
  template <class T>
  std::optional<T> Read(uint64_t off) const {
    if (off > b_.size() || sizeof(T) > b_.size() - off) return std::nullopt;
    T v;
    std::memcpy(&v, b_.data() + off, sizeof(T));
    return v;
  }
  std::optional<uint64_t> Word(uint64_t off, uint8_t ptr_size) const {
    if (ptr_size == 8) return Read<uint64_t>(off);
    auto v = Read<uint32_t>(off);
    return v ? std::optional<uint64_t>(*v) : std::nullopt;
  }
  std::optional<Bytes> Sub(uint64_t off, uint64_t n = UINT64_MAX) const {
    if (off > b_.size()) return std::nullopt;
    n = std::min(n, b_.size() - off);
    return Bytes(b_.subspan(off, n));
  }
  // NUL-terminated string at off (bounded by the span); nullopt when unterminated.
  std::optional<std::string_view> CString(uint64_t off) const {
    if (off >= b_.size()) return std::nullopt;
    const void* end = std::memchr(b_.data() + off, 0, b_.size() - off);
    if (!end) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(b_.data() + off),
                            static_cast<const uint8_t*>(end) - (b_.data() + off));
  }

 private:
  std::span<const uint8_t> b_;
};

struct ElfView {
  Bytes file{{}};
  Elf64_Ehdr eh{};
  std::vector<Elf64_Shdr> sections;
  std::vector<Elf64_Phdr> segments;
  Bytes shstr{{}};

  const Elf64_Shdr* Section(std::string_view name) const {
    for (const auto& sh : sections) {
      auto n = shstr.CString(sh.sh_name);
      if (n && *n == name) return &sh;
    }
    return nullptr;
  }
  std::optional<Bytes> SectionBytes(const Elf64_Shdr& sh) const {
    if (sh.sh_type == SHT_NOBITS) return std::nullopt;
    if (sh.sh_offset > file.size() || sh.sh_size > file.size() - sh.sh_offset) return std::nullopt;
    return file.Sub(sh.sh_offset, sh.sh_size);
  }
  // File offset of a virtual address backed by file bytes of a PT_LOAD segment.
  std::optional<uint64_t> FileOffset(uint64_t vaddr, bool executable = false) const {
    for (const auto& ph : segments) {
      if (ph.p_type != PT_LOAD || (executable && !(ph.p_flags & PF_X))) continue;
      if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
        uint64_t off = vaddr - ph.p_vaddr + ph.p_offset;
        if (off < file.size()) return off;
      }
    }
    return std::nullopt;
  }
};

Result<ElfView> ParseElf(std::span<const uint8_t> image, const std::string& name) {
  ElfView v;
  v.file = Bytes(image);
  auto eh = v.file.Read<Elf64_Ehdr>(0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
    return Error{name + ": not a 64-bit little-endian ELF file"};
  }
  v.eh = *eh;
  if (v.eh.e_machine != kHostMachine) {
    return Error{name + ": ELF machine " + std::to_string(v.eh.e_machine) +
                 " is not this agent's architecture"};
  }
  if (v.eh.e_shnum && v.eh.e_shentsize != sizeof(Elf64_Shdr))
    return Error{name + ": unexpected section header size"};
  if (v.eh.e_phnum && v.eh.e_phentsize != sizeof(Elf64_Phdr))
    return Error{name + ": unexpected program header size"};
  for (unsigned i = 0; i < v.eh.e_shnum; ++i) {
    auto sh = v.file.Read<Elf64_Shdr>(v.eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr));
    if (!sh) return Error{name + ": section headers outside the file (truncated?)"};
    v.sections.push_back(*sh);
  }
  for (unsigned i = 0; i < v.eh.e_phnum; ++i) {
    auto ph = v.file.Read<Elf64_Phdr>(v.eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
    if (!ph) return Error{name + ": program headers outside the file (truncated?)"};
    v.segments.push_back(*ph);
  }
  if (v.eh.e_shstrndx < v.sections.size()) {
    if (auto s = v.SectionBytes(v.sections[v.eh.e_shstrndx])) v.shstr = *s;
  }
  return v;
}

// Address of function `function` in .symtab (absent in stripped binaries).
std::optional<uint64_t> SymtabFunction(const ElfView& elf, std::string_view function) {
  for (const auto& sh : elf.sections) {
    if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= elf.sections.size() ||
        sh.sh_entsize != sizeof(Elf64_Sym)) {
      continue;
    }
    auto syms = elf.SectionBytes(sh);
    auto strs = elf.SectionBytes(elf.sections[sh.sh_link]);
    if (!syms || !strs) continue;
    for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= syms->size(); off += sizeof(Elf64_Sym)) {
      auto sym = syms->Read<Elf64_Sym>(off);
      if (!sym || sym->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym->st_info) != STT_FUNC) continue;
      auto n = strs->CString(sym->st_name);
      if (n && *n == function) return sym->st_value;
    }
  }
  return std::nullopt;
}

// The runtime's function table: header fields (runtime/symtab.go, pcHeader) and the tables.
struct Pclntab {
  uint32_t magic = 0;
  uint8_t ptr_size = 0;
  uint64_t nfunc = 0;
  uint64_t text_start = 0;  // go1.18+: entries are 32-bit offsets from here
  Bytes funcnames{{}};
  Bytes functab{{}};  // also the base of the _func records (funcoff is relative to it)
};

Result<Pclntab> ParsePclntab(Bytes data, uint64_t text_fallback, const std::string& name) {
  Pclntab t;
  auto magic = data.Read<uint32_t>(0);
  auto pad = data.Read<uint16_t>(4);
  auto quantum = data.Read<uint8_t>(6);
  auto ptr_size = data.Read<uint8_t>(7);
  if (!magic || !pad || !quantum || !ptr_size) return Error{name + ": .gopclntab truncated"};
  t.magic = *magic;
  if (t.magic == kPclntabGo12) return Error{name + ": Go before 1.16 (pclntab 0xfffffffb)"};
  if (t.magic != kPclntabGo116 && t.magic != kPclntabGo118 && t.magic != kPclntabGo120)
    return Error{name + ": unknown .gopclntab magic"};
  if (*pad != 0 || (*quantum != 1 && *quantum != 2 && *quantum != 4) ||
      (*ptr_size != 4 && *ptr_size != 8)) {
    return Error{name + ": malformed .gopclntab header"};
  }
  t.ptr_size = *ptr_size;
  const bool go118 = t.magic != kPclntabGo116;
  // Header words after the 8 fixed bytes: nfunc, nfiles, [textStart (1.18+)], funcnameOffset,
  // cuOffset, filetabOffset, pctabOffset, pclnOffset.
  auto word = [&](int i) { return data.Word(8 + uint64_t(i) * t.ptr_size, t.ptr_size); };
  const int names_word = go118 ? 3 : 2, functab_word = go118 ? 7 : 6;
  auto nfunc = word(0), names = word(names_word), functab = word(functab_word);
  if (!nfunc || !names || !functab) return Error{name + ": .gopclntab header truncated"};
  if (go118) {
    auto text = word(2);
    if (!text) return Error{name + ": .gopclntab header truncated"};
    // In position-independent files the field is filled by a relocation at load time.
    t.text_start = *text ? *text : text_fallback;
  }
  auto names_bytes = data.Sub(*names);
  auto functab_bytes = data.Sub(*functab);
  if (!names_bytes || !functab_bytes || names_bytes->size() == 0)
    return Error{name + ": .gopclntab table offsets outside the table"};
  const uint64_t field = go118 ? 4 : t.ptr_size;
  if (*nfunc > kMaxFunctions || *nfunc > functab_bytes->size() / (2 * field))
    return Error{name + ": .gopclntab function count larger than its table"};
  t.nfunc = *nfunc;
  t.funcnames = *names_bytes;
  t.functab = *functab_bytes;
  return t;
}

// Entry PC of `function`, by a linear walk of the function table (a few ms for 100k functions,
// paid once per executable file).
std::optional<uint64_t> PclntabFunction(const Pclntab& t, std::string_view function) {
  const bool go118 = t.magic != kPclntabGo116;
  const uint64_t field = go118 ? 4 : t.ptr_size;
  for (uint64_t i = 0; i < t.nfunc; ++i) {
    auto entry = t.functab.Word(i * 2 * field, uint8_t(field));
    auto funcoff = t.functab.Word(i * 2 * field + field, uint8_t(field));
    if (!entry || !funcoff) return std::nullopt;
    // _func: entry (uint32 offset in 1.18+, uintptr before), then nameOff int32.
    auto name_off = t.functab.Read<int32_t>(*funcoff + field);
    if (!name_off || *name_off < 0) continue;
    auto name = t.funcnames.CString(uint64_t(*name_off));
    if (name && *name == function) return go118 ? t.text_start + *entry : *entry;
  }
  return std::nullopt;
}

// "go1.21.3" -> 21; "devel go1.22-abc" -> 22; nullopt when there is no go1.N in it.
std::optional<int> GoMinorVersion(std::string_view v) {
  auto at = v.find("go1.");
  if (at == std::string_view::npos) return std::nullopt;
  int minor = 0;
  const char* b = v.data() + at + 4;
  auto [end, ec] = std::from_chars(b, v.data() + v.size(), minor);
  if (ec != std::errc() || end == b) return std::nullopt;
  return minor;
}

// The Go version from .go.buildinfo (debug/buildinfo's format): since go1.18 inline after a
// 32-byte header; before, through pointers to a Go string header.
std::string BuildInfoVersion(const ElfView& elf) {
  const Elf64_Shdr* sh = elf.Section(".go.buildinfo");
  if (!sh) return "";
  auto b = elf.SectionBytes(*sh);
  static constexpr char kMagic[] = "\xff Go buildinf:";
  if (!b || b->size() < 32) return "";
  for (size_t i = 0; i < sizeof(kMagic) - 1; ++i) {
    if (b->Read<char>(i) != kMagic[i]) return "";
  }
  const uint8_t ptr_size = b->Read<uint8_t>(14).value_or(0);
  const uint8_t flags = b->Read<uint8_t>(15).value_or(0);
  auto bounded = [](Bytes s, uint64_t off, uint64_t len) -> std::string {
    if (len > kMaxVersionLen) return "";
    auto sub = s.Sub(off, len);
    if (!sub || sub->size() != len) return "";
    std::string out(len, '\0');
    for (uint64_t i = 0; i < len; ++i) out[i] = *sub->Read<char>(i);
    return out;
  };
  if (flags & 2) {  // inline: uvarint length, then the bytes
    uint64_t len = 0, off = 32;
    for (int shift = 0; shift < 63; shift += 7) {
      auto c = b->Read<uint8_t>(off++);
      if (!c) return "";
      len |= uint64_t(*c & 0x7f) << shift;
      if (!(*c & 0x80)) break;
    }
    return bounded(*b, off, len);
  }
  if ((flags & 1) || (ptr_size != 4 && ptr_size != 8)) return "";  // big-endian: not our host
  auto str_hdr = b->Word(16, ptr_size);
  if (!str_hdr) return "";
  auto hdr_off = elf.FileOffset(*str_hdr);
  if (!hdr_off) return "";
  auto data = elf.file.Word(*hdr_off, ptr_size);
  auto len = elf.file.Word(*hdr_off + ptr_size, ptr_size);
  if (!data || !len) return "";
  auto data_off = elf.FileOffset(*data);
  return data_off ? bounded(elf.file, *data_off, *len) : "";
}

}  // namespace

Result<GoExecutable> InspectGoImage(std::span<const uint8_t> image, const std::string& name,
                                    GoSymbolSource source) {
  auto elf = ParseElf(image, name);
  if (!elf) return elf.error();
  GoExecutable go;
  go.go_version = BuildInfoVersion(*elf);
  // Position-independent builds keep the table in relocated data, under another name.
  const Elf64_Shdr* pcln_sh = elf->Section(".gopclntab");
  if (!pcln_sh) pcln_sh = elf->Section(".data.rel.ro.gopclntab");
  std::optional<Pclntab> pcln;
  if (pcln_sh) {
    auto bytes = elf->SectionBytes(*pcln_sh);
    if (!bytes) return Error{name + ": .gopclntab outside the file (truncated?)"};
    const Elf64_Shdr* text = elf->Section(".text");
    auto parsed = ParsePclntab(*bytes, text ? text->sh_addr : 0, name);
    if (!parsed) {
      // An old Go (1.2-1.15 layout) is still Go: refused below, not an error.
      if (bytes->Read<uint32_t>(0) != kPclntabGo12) return parsed.error();
      go.pclntab_magic = kPclntabGo12;
    } else {
      pcln = *parsed;
      go.pclntab_magic = pcln->magic;
    }
  }
  go.is_go = !go.go_version.empty() || pcln_sh != nullptr;
  if (!go.is_go) return go;

  if (auto minor = GoMinorVersion(go.go_version)) {
    go.register_abi = *minor >= kFirstRegisterAbiMinor;
  } else {
    // No build info: only the 1.18+ table layouts prove a register-ABI toolchain (1.16 and
    // 1.17 share a layout, and 1.16 passes arguments on the stack).
    go.register_abi = go.pclntab_magic == kPclntabGo118 || go.pclntab_magic == kPclntabGo120;
  }

  std::optional<uint64_t> vaddr;
  if (source == GoSymbolSource::kSymtabThenPclntab) {
    vaddr = SymtabFunction(*elf, kGoTlsWriteFunction);
    if (vaddr) go.found_via = "symtab";
  }
  if (!vaddr && pcln) {
    vaddr = PclntabFunction(*pcln, kGoTlsWriteFunction);
    if (vaddr) go.found_via = "gopclntab";
  }
  if (!vaddr) return go;
  auto offset = elf->FileOffset(*vaddr, /*executable=*/true);
  if (!offset) {
    return Error{name + ": " + std::string(kGoTlsWriteFunction) +
                 " is not inside an executable segment (corrupt function table?)"};
  }
  go.tls_write_vaddr = vaddr;
  go.tls_write_file_offset = offset;
  return go;
}

Result<GoExecutable> InspectGoExecutable(const std::string& path, GoSymbolSource source) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  return InspectGoImage(file->bytes(), path, source);
}

Result<GoTlsAttach> AttachGoTlsIfGo(const std::string& path, const GoUprobeAttach& attach) {
  auto file = MappedFile::Open(path);
  if (!file) return file.error();
  // Scripts and other architectures' binaries are simply not ours: not an error.
  auto eh = Bytes(file->bytes()).Read<Elf64_Ehdr>(0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != kHostMachine) {
    return GoTlsAttach::kNotGo;
  }
  auto go = InspectGoImage(file->bytes(), path);
  if (!go) return go.error();
  if (!go->is_go) return GoTlsAttach::kNotGo;
  if (!go->register_abi) return GoTlsAttach::kRefusedAbi;
  if (!go->tls_write_file_offset) return GoTlsAttach::kNoCryptoTls;
  if (auto s = attach(kGoTlsWriteProgram, path, *go->tls_write_file_offset); !s) {
    return Error{path + ": attaching " + std::string(kGoTlsWriteFunction) + ": " + s.message()};
  }
  spdlog::info("go_tls: crypto/tls.(*Conn).Write hooked in {} ({}, found through {})", path,
               go->go_version.empty() ? "version unknown" : go->go_version, go->found_via);
  return GoTlsAttach::kAttached;
}

Result<bool> GoTlsInspector::OnNewExecutable(const ExecutableFile& file, UprobeAttacher& uprobes) {
  auto attach = [&uprobes](std::string_view program, const std::string& path, uint64_t offset) {
    return uprobes.AttachUprobe(program, path, offset, /*retprobe=*/false);
  };
  auto r = AttachGoTlsIfGo(file.path, attach);
  if (!r) return r.error();
  switch (*r) {
    case GoTlsAttach::kAttached:
      ++counters_["go_binaries_hooked"];
      return true;
    case GoTlsAttach::kRefusedAbi:
      ++counters_["go_binaries_refused_abi"];
      if (!refused_logged_) {
        refused_logged_ = true;
        spdlog::warn(
            "go_tls: {} is built by a Go older than the register ABI (go1.17 on amd64, go1.18 on "
            "arm64): its TLS plaintext is not captured (further such files are only counted)",
            file.path);
      }
      return false;
    case GoTlsAttach::kNoCryptoTls:
      ++counters_["go_binaries_without_crypto_tls"];
      return false;
    case GoTlsAttach::kNotGo:
      return false;
  }
  return false;
}

}  // namespace credsentry::loader
