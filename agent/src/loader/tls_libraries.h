// Finding the TLS libraries to hook, and checking they export the functions we probe.
#pragma once

#include <cstdint>
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

// The system's libssl.so.3 files (real paths, one per inode), from the usual library dirs.
std::vector<std::string> FindSystemLibssl();
// The system's libgnutls.so.30 files, likewise.
std::vector<std::string> FindSystemLibgnutls();

}  // namespace credsentry::loader
