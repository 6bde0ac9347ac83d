// Finding the TLS libraries to hook, and checking they export the functions we probe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace credsentry::loader {

// Functions hooked in OpenSSL 3 (tls.bpf.c). SSL_write_ex and SSL_ctrl are optional per library:
// without them Python's writes or SNI are missed, which --check reports.
inline constexpr std::string_view kOpenSslFunctions[] = {"SSL_write", "SSL_write_ex", "SSL_ctrl",
                                                         "SSL_set_fd"};

// Functions hooked in GnuTLS 3 (Debian's wget, git, apt): the plaintext of every record sent.
inline constexpr std::string_view kGnuTlsFunctions[] = {"gnutls_record_send"};

// Which of `wanted` a shared object or executable defines as functions in .dynsym or .symtab.
// Reads the ELF file directly (never dlopen: that would run the library's constructors).
Result<std::set<std::string>> ElfDefinedFunctions(const std::string& path,
                                                  std::span<const std::string_view> wanted);

// File offset of function `function` defined in the ELF file at `path`: where a uprobe on it
// is placed. An error names the file when it is malformed or lacks the function.
Result<uint64_t> ElfFunctionFileOffset(const std::string& path, std::string_view function);

// File offsets of those of `wanted` that the ELF file at `path` defines as functions, in one pass
// over its symbol tables (a 100 MB node binary is read once, not once per function). The walk
// stops after a symbol table once all of `wanted`, or all of `sufficient` (if given), are found.
Result<std::map<std::string, uint64_t>> ElfFunctionFileOffsets(
    const std::string& path, std::span<const std::string_view> wanted,
    std::span<const std::string_view> sufficient = {});

// Which TLS stack a library or executable carries, told by the functions it defines.
enum class TlsStack { kNone, kOpenSsl, kGnuTls };
const char* TlsStackName(TlsStack stack);

struct TlsStackSymbols {
  TlsStack stack = TlsStack::kNone;
  std::map<std::string, uint64_t> offsets;  // function -> file offset, for the stack's hooks
};

// Reads the ELF file at `path` and tells whether it carries OpenSSL/BoringSSL (defines SSL_write:
// libssl, or an executable with it linked in such as node) or GnuTLS (gnutls_record_send).
// Importing SSL_write (curl) is not carrying it: the library it imports from is hooked instead.
// Errors name the file (not ELF, truncated, unreadable).
Result<TlsStackSymbols> FindTlsStack(const std::string& path);

// TLS stacks that cannot be hooked by symbol, found on this host (for --check): Java JSSE (a JVM
// under /usr/lib/jvm or on PATH) and rustls (statically linked Rust: nothing to tell it by).
std::vector<std::pair<std::string, std::string>> UnhookableTlsStacks();

// The system's libssl.so.3 files (real paths, one per inode), from the usual library dirs.
std::vector<std::string> FindSystemLibssl();
// The system's libgnutls.so.30 files, likewise.
std::vector<std::string> FindSystemLibgnutls();

}  // namespace credsentry::loader
