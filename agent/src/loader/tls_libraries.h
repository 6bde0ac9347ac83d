// Finding the TLS libraries to hook, and checking they export the functions we probe.
#pragma once

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

// Which of `wanted` a shared object or executable defines as functions in .dynsym or .symtab.
// Reads the ELF file directly (never dlopen: that would run the library's constructors).
Result<std::set<std::string>> ElfDefinedFunctions(const std::string& path,
                                                  std::span<const std::string_view> wanted);

// The system's libssl.so.3 files (real paths, one per inode), from the usual library dirs.
std::vector<std::string> FindSystemLibssl();

}  // namespace credsentry::loader
