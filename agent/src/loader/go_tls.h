// Go crypto/tls capture (bpf/go_tls.bpf.c): finding crypto/tls.(*Conn).Write in a Go
// executable, stripped or not, and attaching the entry uprobe to it.
//
// Most Go CLIs and exfiltration tools are static and stripped (-ldflags="-s -w"): no .symtab,
// but the runtime's own function table (.gopclntab) is always there, because the garbage
// collector and tracebacks need it. The reader below never trusts the file: every offset is
// bounds-checked, a corrupt table is an error naming the file, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "loader/exe_attach.h"

namespace credsentry::loader {

inline constexpr std::string_view kGoTlsWriteFunction = "crypto/tls.(*Conn).Write";
inline constexpr std::string_view kGoTlsWriteProgram = "cs_go_tls_write";  // bpf/go_tls.bpf.c

// pclntab header magics, by the Go release that introduced the layout.
inline constexpr uint32_t kPclntabGo12 = 0xfffffffb;
inline constexpr uint32_t kPclntabGo116 = 0xfffffffa;
inline constexpr uint32_t kPclntabGo118 = 0xfffffff0;
inline constexpr uint32_t kPclntabGo120 = 0xfffffff1;

// What an ELF file is, as far as Go TLS capture cares.
struct GoExecutable {
  bool is_go = false;                       // has Go build info or a Go function table
  std::string go_version;                   // "go1.19.8" from the build info; empty when absent
  uint32_t pclntab_magic = 0;               // 0 when no table was found
  bool register_abi = false;                // arguments in registers: what cs_go_tls_write reads
  std::optional<uint64_t> tls_write_vaddr;  // crypto/tls.(*Conn).Write, when linked in
  std::optional<uint64_t> tls_write_file_offset;  // where its uprobe goes
  std::string found_via;                          // "symtab" or "gopclntab"
};

// How a function is located: tests force the function table on unstripped binaries too.
enum class GoSymbolSource { kSymtabThenPclntab, kPclntabOnly };

// Inspects an ELF image held in memory. `name` only labels errors. Not an ELF file, or an ELF
// for another machine than this agent's, is an error; an ELF that is not Go is {is_go = false}.
Result<GoExecutable> InspectGoImage(std::span<const uint8_t> image, const std::string& name,
                                    GoSymbolSource source = GoSymbolSource::kSymtabThenPclntab);

// Same, for a file (mapped read-only, never executed).
Result<GoExecutable> InspectGoExecutable(
    const std::string& path, GoSymbolSource source = GoSymbolSource::kSymtabThenPclntab);

// Attaches one BPF program by name to `path` at `file_offset` (an entry uprobe). The agent's
// exe-attach hook and the start-up path both provide one.
using GoUprobeAttach =
    std::function<Status(std::string_view program, const std::string& path, uint64_t file_offset)>;

// Result of trying a file for Go TLS capture.
enum class GoTlsAttach {
  kNotGo,        // not a Go executable: nothing to do
  kNoCryptoTls,  // Go, but crypto/tls is not linked in
  kRefusedAbi,   // Go older than the register ABI (go1.17 amd64 / go1.18 arm64): not hooked
  kAttached,
};

// Inspects `path` and, for a register-ABI Go executable that links crypto/tls, attaches
// cs_go_tls_write at the entry of crypto/tls.(*Conn).Write. Never a return probe: Go moves
// goroutine stacks and a uretprobe corrupts them. Errors: unreadable/corrupt file, or attach
// failure; both name the file.
Result<GoTlsAttach> AttachGoTlsIfGo(const std::string& path, const GoUprobeAttach& attach);

// The exe-attach hook's view of the above: every new executable (and the start-up scan) is
// offered to it. Registered with ExeAttacher::AddInspector(std::make_unique<GoTlsInspector>()).
class GoTlsInspector : public ExecutableInspector {
 public:
  std::string_view Name() const override { return "go_tls"; }
  Result<bool> OnNewExecutable(const ExecutableFile& file, UprobeAttacher& uprobes) override;
  // go_binaries_hooked, go_binaries_refused_abi, go_binaries_without_crypto_tls.
  std::map<std::string, uint64_t> Counters() const { return counters_; }

 private:
  std::map<std::string, uint64_t> counters_;
  bool refused_logged_ = false;
};

}  // namespace credsentry::loader
