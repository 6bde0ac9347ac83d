#include "loader/go_tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace credsentry::loader {
namespace {

namespace fs = std::filesystem;

// A Go program that links crypto/tls and calls (*Conn).Write, and one that does not.
constexpr const char* kTlsClientSource = R"(package main

import (
	"crypto/tls"
	"os"
)

func main() {
	c, err := tls.Dial("tcp", os.Args[1], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		os.Exit(1)
	}
	c.Write([]byte("x"))
}
)";

constexpr const char* kHelloSource = R"(package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
)";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Records what the exe-attach hook would attach.
class RecordingUprobes : public UprobeAttacher {
 public:
  Status AttachUprobe(std::string_view program, const std::string& path, uint64_t file_offset,
                      bool retprobe) override {
    calls.push_back({std::string(program), path, file_offset, retprobe});
    return Status::Ok();
  }
  Result<bool> AttachTlsStack(const std::string&, const TlsStackSymbols&) override {
    ADD_FAILURE() << "the Go inspector hooks no OpenSSL/GnuTLS stack";
    return false;
  }
  struct Call {
    std::string program, path;
    uint64_t offset;
    bool retprobe;
  };
  std::vector<Call> calls;
};

// Kept between runs: a -buildmode=pie build recompiles the standard library (minutes on a
// loaded 2-core machine) the first time only.
std::string CacheDir() { return std::string(::testing::TempDir()) + "credsentry-go-build-cache"; }

// Go binaries built once for the whole suite (a build costs seconds).
class GoBinaries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::path(::testing::TempDir()) / ("cs-go-tls-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const char* go_path = nullptr;
    for (const char* p : {"/usr/bin/go", "/usr/lib/go/bin/go"}) {
      if (access(p, X_OK) == 0) {
        go_path = p;
        break;
      }
    }
    if (!go_path) {
      skip_reason_ = "go is not installed (scripts/install-deps.sh installs golang-go)";
      return;
    }
    std::ofstream(dir_ / "tls.go") << kTlsClientSource;
    std::ofstream(dir_ / "hello.go") << kHelloSource;
    // Hermetic: our own cache and home, no modules, no network.
    const std::string env = "cd '" + dir_.string() + "' && HOME='" + dir_.string() + "' GOCACHE='" +
                            CacheDir() + "' GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0 " +
                            go_path;
    const std::vector<std::pair<std::string, std::string>> builds = {
        {"plain", "build -o plain tls.go"},
        {"stripped", "build -ldflags='-s -w' -o stripped tls.go"},
        {"pie", "build -buildmode=pie -ldflags='-s -w' -o pie tls.go"},
        {"hello", "build -o hello hello.go"},
    };
    for (const auto& [out, args] : builds) {
      std::string cmd = env + " " + args + " > build-" + out + ".log 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        build_error_ = "go " + args + " failed: " + Slurp((dir_ / ("build-" + out + ".log")));
        return;
      }
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    if (!build_error_.empty()) FAIL() << build_error_;
    if (!skip_reason_.empty()) {
      // CI installs go: there a missing toolchain is a failure, not a skip.
      if (std::getenv("CI")) FAIL() << skip_reason_ << " and CI is set";
      GTEST_SKIP() << skip_reason_;
    }
  }
  static std::string Path(const char* name) { return (dir_ / name).string(); }

  static inline fs::path dir_;
  static inline std::string skip_reason_;
  static inline std::string build_error_;
};

TEST_F(GoBinaries, UnstrippedBinaryIsFoundThroughItsSymbolTable) {
  auto go = InspectGoExecutable(Path("plain"));
  ASSERT_TRUE(go.ok()) << go.message();
  EXPECT_TRUE(go->is_go);
  EXPECT_EQ(go->go_version.rfind("go1.", 0), 0u) << go->go_version;
  EXPECT_TRUE(go->register_abi);
  ASSERT_TRUE(go->tls_write_file_offset);
  EXPECT_EQ(go->found_via, "symtab");
}

TEST_F(GoBinaries, FunctionTableAgreesWithTheSymbolTable) {
  auto by_symtab = InspectGoExecutable(Path("plain"));
  auto by_pclntab = InspectGoExecutable(Path("plain"), GoSymbolSource::kPclntabOnly);
  ASSERT_TRUE(by_symtab.ok() && by_pclntab.ok());
  EXPECT_EQ(by_pclntab->found_via, "gopclntab");
  ASSERT_TRUE(by_pclntab->tls_write_vaddr && by_symtab->tls_write_vaddr);
  EXPECT_EQ(*by_pclntab->tls_write_vaddr, *by_symtab->tls_write_vaddr);
  EXPECT_EQ(*by_pclntab->tls_write_file_offset, *by_symtab->tls_write_file_offset);
}

TEST_F(GoBinaries, StrippedBinaryIsFoundThroughGopclntab) {
  auto plain = InspectGoExecutable(Path("plain"));
  auto stripped = InspectGoExecutable(Path("stripped"));
  ASSERT_TRUE(plain.ok() && stripped.ok()) << stripped.message();
  EXPECT_TRUE(stripped->is_go);
  EXPECT_TRUE(stripped->register_abi);
  EXPECT_EQ(stripped->found_via, "gopclntab");
  ASSERT_TRUE(stripped->tls_write_file_offset);
  // -s -w drops symbols and DWARF only: the code, and so the function, sits where it did.
  EXPECT_EQ(*stripped->tls_write_file_offset, *plain->tls_write_file_offset);
  // The bytes there are the same function's code.
  std::string a = Slurp(Path("plain")), b = Slurp(Path("stripped"));
  EXPECT_EQ(a.substr(*plain->tls_write_file_offset, 16),
            b.substr(*stripped->tls_write_file_offset, 16));
}

TEST_F(GoBinaries, StrippedPositionIndependentBinaryIsFound) {
  auto pie = InspectGoExecutable(Path("pie"));
  ASSERT_TRUE(pie.ok()) << pie.message();
  ASSERT_TRUE(pie->tls_write_file_offset);
  EXPECT_EQ(pie->found_via, "gopclntab");
  // The code of (*Conn).Write starts like the non-PIE build's (same first instruction: the
  // stack-bound check every non-leaf Go function opens with).
  std::string plain = Slurp(Path("plain"));
  auto p = InspectGoExecutable(Path("plain"));
  std::string bytes = Slurp(Path("pie"));
  EXPECT_EQ(bytes.substr(*pie->tls_write_file_offset, 4),
            plain.substr(*p->tls_write_file_offset, 4));
}

TEST_F(GoBinaries, GoWithoutCryptoTlsIsGoButHasNothingToHook) {
  auto go = InspectGoExecutable(Path("hello"));
  ASSERT_TRUE(go.ok()) << go.message();
  EXPECT_TRUE(go->is_go);
  EXPECT_FALSE(go->tls_write_file_offset);
  auto attached = AttachGoTlsIfGo(Path("hello"), [](auto, auto&, auto) {
    ADD_FAILURE() << "attach called for a binary without crypto/tls";
    return Status::Ok();
  });
  ASSERT_TRUE(attached.ok());
  EXPECT_EQ(*attached, GoTlsAttach::kNoCryptoTls);
}

TEST_F(GoBinaries, AttachPlacesTheEntryProbeAtTheFunction) {
  std::string program, path;
  uint64_t offset = 0;
  auto attached = AttachGoTlsIfGo(Path("stripped"),
                                  [&](std::string_view prog, const std::string& p, uint64_t off) {
                                    program = prog;
                                    path = p;
                                    offset = off;
                                    return Status::Ok();
                                  });
  ASSERT_TRUE(attached.ok()) << attached.message();
  EXPECT_EQ(*attached, GoTlsAttach::kAttached);
  EXPECT_EQ(program, "cs_go_tls_write");
  EXPECT_EQ(path, Path("stripped"));
  EXPECT_EQ(offset, *InspectGoExecutable(Path("stripped"))->tls_write_file_offset);
}

TEST_F(GoBinaries, AttachFailureIsAnErrorNamingTheFile) {
  auto attached = AttachGoTlsIfGo(
      Path("plain"), [](auto, auto&, auto) { return Status(Error{"uprobe refused: EPERM"}); });
  ASSERT_FALSE(attached.ok());
  EXPECT_NE(attached.message().find(Path("plain")), std::string::npos) << attached.message();
  EXPECT_NE(attached.message().find("EPERM"), std::string::npos) << attached.message();
}

TEST_F(GoBinaries, PreRegisterAbiGoIsRefusedNotAttached) {
  // The same binary claiming an older toolchain in its build info: go1.16 passes arguments on
  // the stack, so the registers cs_go_tls_write reads would be garbage.
  std::string bytes = Slurp(Path("stripped"));
  auto go = InspectGoImage(AsBytes(bytes), "x");
  ASSERT_TRUE(go.ok());
  auto at = bytes.rfind(go->go_version);  // the build info sits after rodata
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "go1.1");
  bytes[at + 5] = '6';
  const std::string old_path = Path("old");
  std::ofstream(old_path, std::ios::binary) << bytes;
  auto old = InspectGoExecutable(old_path);
  ASSERT_TRUE(old.ok()) << old.message();
  EXPECT_EQ(old->go_version.substr(0, 6), "go1.16");
  EXPECT_FALSE(old->register_abi);
  auto attached = AttachGoTlsIfGo(old_path, [](auto, auto&, auto) {
    ADD_FAILURE() << "attach called for a stack-ABI binary";
    return Status::Ok();
  });
  ASSERT_TRUE(attached.ok()) << attached.message();
  EXPECT_EQ(*attached, GoTlsAttach::kRefusedAbi);
  // Through the exe-attach hook: not hooked, not an error, counted each time.
  GoTlsInspector inspector;
  RecordingUprobes uprobes;
  ExecutableFile file;
  file.path = old_path;
  for (int i = 0; i < 2; ++i) {
    auto r = inspector.OnNewExecutable(file, uprobes);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_FALSE(*r);
  }
  EXPECT_TRUE(uprobes.calls.empty());
  EXPECT_EQ(inspector.Counters()["go_binaries_refused_abi"], 2u);
}

TEST_F(GoBinaries, TruncatedBinariesAreErrorsOrPartialNeverACrash) {
  std::string bytes = Slurp(Path("stripped"));
  size_t errors = 0;
  for (size_t len : {size_t{0}, size_t{10}, size_t{64}, size_t{200}, size_t{4096}, bytes.size() / 3,
                     bytes.size() / 2, bytes.size() - 4096, bytes.size() - 1}) {
    auto go = InspectGoImage(AsBytes(bytes).first(len), "cut-" + std::to_string(len));
    if (!go.ok()) {
      ++errors;
      EXPECT_NE(go.message().find("cut-" + std::to_string(len)), std::string::npos);
    } else if (go->tls_write_file_offset) {
      // Whatever it still finds must lie inside what it was given.
      EXPECT_LT(*go->tls_write_file_offset, len);
    }
  }
  EXPECT_GT(errors, 0u);  // the short ones at least are not ELF files any more
}

TEST_F(GoBinaries, CorruptFunctionTableHeaderIsAClearError) {
  std::string bytes = Slurp(Path("stripped"));
  auto pcln = bytes.find(std::string("\xf0\xff\xff\xff\x00\x00", 6));
  ASSERT_NE(pcln, std::string::npos);
  // nfunc far larger than the table.
  std::string huge = bytes;
  for (int i = 0; i < 8; ++i) huge[pcln + 8 + i] = '\x7f';
  auto go = InspectGoImage(AsBytes(huge), "huge-nfunc");
  ASSERT_FALSE(go.ok());
  EXPECT_NE(go.message().find("huge-nfunc: .gopclntab function count"), std::string::npos)
      << go.message();
  // Table offsets pointing past the end.
  std::string far = bytes;
  for (int i = 0; i < 8; ++i) far[pcln + 8 + 3 * 8 + i] = '\x7f';
  go = InspectGoImage(AsBytes(far), "far-names");
  ASSERT_FALSE(go.ok());
  EXPECT_NE(go.message().find("outside the table"), std::string::npos) << go.message();
  // Unknown magic.
  std::string magic = bytes;
  magic[pcln] = '\x42';
  go = InspectGoImage(AsBytes(magic), "bad-magic");
  ASSERT_FALSE(go.ok());
  EXPECT_NE(go.message().find("unknown .gopclntab magic"), std::string::npos) << go.message();
}

TEST_F(GoBinaries, ScribbledFunctionTableNeverCrashes) {
  std::string bytes = Slurp(Path("stripped"));
  auto pcln = bytes.find(std::string("\xf0\xff\xff\xff\x00\x00", 6));
  ASSERT_NE(pcln, std::string::npos);
  uint32_t seed = 12345;
  for (int round = 0; round < 40; ++round) {
    std::string bad = bytes;
    for (int i = 0; i < 64; ++i) {
      seed = seed * 1103515245 + 12345;
      size_t at = pcln + (seed >> 8) % (1u << 20);
      if (at < bad.size()) bad[at] = static_cast<char>(seed >> 3);
    }
    auto go = InspectGoImage(AsBytes(bad), "scribbled");
    if (go.ok() && go->tls_write_file_offset) {
      EXPECT_LT(*go->tls_write_file_offset, bad.size());
    }
  }
}

TEST_F(GoBinaries, InspectorHooksGoBinariesWithAnEntryProbeOnly) {
  GoTlsInspector inspector;
  RecordingUprobes uprobes;
  ExecutableFile file;
  file.path = Path("stripped");
  auto r = inspector.OnNewExecutable(file, uprobes);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(*r);
  ASSERT_EQ(uprobes.calls.size(), 1u);
  EXPECT_EQ(uprobes.calls[0].program, "cs_go_tls_write");
  EXPECT_FALSE(uprobes.calls[0].retprobe) << "a uretprobe on Go code corrupts goroutine stacks";
  EXPECT_EQ(inspector.Counters()["go_binaries_hooked"], 1u);

  file.path = Path("hello");
  r = inspector.OnNewExecutable(file, uprobes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(inspector.Counters()["go_binaries_without_crypto_tls"], 1u);

  file.path = "/proc/self/exe";  // a C++ program: not Go, not an error
  r = inspector.OnNewExecutable(file, uprobes);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(*r);
  EXPECT_EQ(uprobes.calls.size(), 1u);
}

TEST(GoTlsInspect, NonGoExecutableIsNotGo) {
  auto go = InspectGoExecutable("/proc/self/exe");
  ASSERT_TRUE(go.ok()) << go.message();
  EXPECT_FALSE(go->is_go);
  auto attached = AttachGoTlsIfGo("/proc/self/exe", [](auto, auto&, auto) {
    ADD_FAILURE() << "attach called for a C++ binary";
    return Status::Ok();
  });
  ASSERT_TRUE(attached.ok());
  EXPECT_EQ(*attached, GoTlsAttach::kNotGo);
}

TEST(GoTlsInspect, NotAnElfFileIsAClearError) {
  const std::string text = "#!/bin/sh\necho this is a script, not an executable image\n";
  auto go = InspectGoImage(AsBytes(text), "script.sh");
  ASSERT_FALSE(go.ok());
  EXPECT_NE(go.message().find("script.sh: not a 64-bit little-endian ELF file"), std::string::npos)
      << go.message();
}

TEST(GoTlsInspect, MissingFileIsAClearError) {
  auto go = InspectGoExecutable("/nonexistent/credsentry-go-client");
  ASSERT_FALSE(go.ok());
  EXPECT_NE(go.message().find("/nonexistent/credsentry-go-client"), std::string::npos);
}

}  // namespace
}  // namespace credsentry::loader
