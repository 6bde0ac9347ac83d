#include "loader/exe_attach.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace credsentry::loader {
namespace {

namespace fs = std::filesystem;

// Records what would be attached; can be told to fail.
class FakeUprobes : public UprobeAttacher {
 public:
  Status AttachUprobe(std::string_view program, const std::string& path, uint64_t offset,
                      bool) override {
    uprobes.push_back(std::string(program) + "@" + path + "+" + std::to_string(offset));
    return Status::Ok();
  }
  Result<bool> AttachTlsStack(const std::string& path, const TlsStackSymbols& symbols) override {
    if (fail) return Error{"EPERM (fake)"};
    stacks.emplace_back(path, symbols);
    return true;
  }
  std::vector<std::pair<std::string, TlsStackSymbols>> stacks;
  std::vector<std::string> uprobes;
  bool fail = false;
};

// Claims every file whose name ends in "-go" (as a Go inspector would by its .gopclntab).
class FakeGoInspector : public ExecutableInspector {
 public:
  std::string_view Name() const override { return "fake_go"; }
  Result<bool> OnNewExecutable(const ExecutableFile& f, UprobeAttacher& uprobes) override {
    seen.push_back(f.path);
    if (!f.path.ends_with("-go")) return false;
    if (auto s = uprobes.AttachUprobe("cs_go_tls_write", f.path, 4096, false); !s) {
      return Error{s.message()};
    }
    return true;
  }
  std::vector<std::string> seen;
};

class ExeAttacherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto libs = FindSystemLibssl();
    if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
    libssl_ = libs.front();
    dir_ = fs::path(::testing::TempDir()) / ("cs-exe-attach-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // A copy of the system libssl (a file carrying OpenSSL, with its own inode), executable.
  std::string CopyLibssl(const std::string& name) {
    fs::path p = dir_ / "bin" / name;
    fs::copy_file(libssl_, p);
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  }
  // An executable ELF file without any TLS stack (big enough not to be skipped as tiny).
  std::string CopyNoTls(const std::string& name) {
    fs::path p = dir_ / "bin" / name;
    fs::copy_file("/usr/bin/bash", p);
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  }
  ExeAttachOptions Options() {
    ExeAttachOptions o;
    o.scan_dirs = {(dir_ / "bin").string()};
    return o;
  }
  std::string libssl_;
  fs::path dir_;
};

TEST_F(ExeAttacherTest, StartUpScanHooksFilesCarryingOpenSslOnly) {
  std::string ssl = CopyLibssl("my-node");
  CopyNoTls("plain-tool");
  std::ofstream(dir_ / "bin" / "script.sh") << "#!/bin/sh\nexit 0\n";
  fs::permissions(dir_ / "bin" / "script.sh", fs::perms::owner_all);

  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  attacher.ScanAtStart();
  ASSERT_EQ(uprobes.stacks.size(), 1u);
  EXPECT_EQ(uprobes.stacks[0].first, ssl);
  EXPECT_EQ(uprobes.stacks[0].second.stack, TlsStack::kOpenSsl);
  EXPECT_TRUE(uprobes.stacks[0].second.offsets.count("SSL_write_ex"));
  auto c = attacher.Counters();
  EXPECT_EQ(c["files_hooked"], 1u);
  EXPECT_EQ(c["scan_files"], 2u);  // the script is not an ELF file: not read
}

TEST_F(ExeAttacherTest, EachInodeIsInspectedOnceEvenUnderAnotherName) {
  std::string ssl = CopyLibssl("tool-a");
  fs::create_hard_link(ssl, dir_ / "bin" / "tool-b");
  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  attacher.ScanAtStart();
  attacher.ScanAtStart();
  EXPECT_EQ(uprobes.stacks.size(), 1u);
  EXPECT_EQ(attacher.Counters()["files_inspected"], 1u);
}

TEST_F(ExeAttacherTest, FilesAlreadyHookedAtStartAreNotHookedAgain) {
  std::string ssl = CopyLibssl("libssl-copy");
  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  attacher.MarkSeen(ssl);
  attacher.ScanAtStart();
  EXPECT_TRUE(uprobes.stacks.empty());
}

TEST_F(ExeAttacherTest, EveryFileSeenIsToldToTheKnownSinkOnceHookedOrNot) {
  std::string ssl = CopyLibssl("hooked-tool");
  std::string plain = CopyNoTls("plain-tool");
  std::string marked = CopyNoTls("marked-tool");
  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  std::set<std::pair<uint64_t, uint64_t>> known;
  size_t calls = 0;
  attacher.SetKnownSink([&](uint64_t dev, uint64_t ino) {
    ++calls;
    known.emplace(dev, ino);
    return true;
  });
  attacher.MarkSeen(marked);
  attacher.ScanAtStart();
  attacher.ScanAtStart();
  auto id = [](const std::string& p) {
    struct stat st {};
    EXPECT_EQ(stat(p.c_str(), &st), 0);
    return std::make_pair(uint64_t(st.st_dev), uint64_t(st.st_ino));
  };
  EXPECT_TRUE(known.count(id(ssl)));
  EXPECT_TRUE(known.count(id(plain)));  // inspected, nothing to hook: its execs need no hold
  EXPECT_TRUE(known.count(id(marked)));
  EXPECT_EQ(calls, 3u);  // once each: the second scan finds them seen
  EXPECT_EQ(attacher.Counters()["known_marks_failed"], 0u);

  // A sink that refuses (the kernel table) is counted.
  ExeAttacher refusing(Options(), uprobes);
  refusing.SetKnownSink([](uint64_t, uint64_t) { return false; });
  refusing.MarkSeen(ssl);
  EXPECT_EQ(refusing.Counters()["known_marks_failed"], 1u);
}

TEST_F(ExeAttacherTest, TheAttachedFilesBoundIsKeptAndSkipsAreCounted) {
  CopyLibssl("one");
  CopyLibssl("two");
  CopyLibssl("three");
  FakeUprobes uprobes;
  ExeAttachOptions o = Options();
  o.max_attached_files = 2;
  ExeAttacher attacher(o, uprobes);
  attacher.ScanAtStart();
  EXPECT_EQ(uprobes.stacks.size(), 2u);
  auto c = attacher.Counters();
  EXPECT_EQ(c["files_hooked"], 2u);
  EXPECT_EQ(c["files_skipped_bound"], 1u);
}

TEST_F(ExeAttacherTest, AttachFailureIsCountedAndNotRetried) {
  CopyLibssl("refused");
  FakeUprobes uprobes;
  uprobes.fail = true;
  ExeAttacher attacher(Options(), uprobes);
  attacher.ScanAtStart();
  attacher.ScanAtStart();
  auto c = attacher.Counters();
  EXPECT_EQ(c["attach_failures"], 1u);
  EXPECT_EQ(c["files_hooked"], 0u);
}

TEST_F(ExeAttacherTest, InspectorsSeeFilesWithoutOpenSslAndTheirHooksCount) {
  CopyLibssl("with-openssl");
  std::string go = CopyNoTls("tool-go");
  std::string plain = CopyNoTls("plain");
  FakeUprobes uprobes;
  auto inspector = std::make_unique<FakeGoInspector>();
  FakeGoInspector* go_inspector = inspector.get();
  ExeAttachOptions o = Options();
  o.max_attached_files = 2;
  ExeAttacher attacher(o, uprobes);
  attacher.AddInspector(std::move(inspector));
  attacher.ScanAtStart();
  // Only the two files without OpenSSL reach the inspector (copies of one file, two inodes).
  EXPECT_EQ(go_inspector->seen.size(), 2u);
  ASSERT_EQ(uprobes.uprobes.size(), 1u);
  EXPECT_EQ(uprobes.uprobes[0], "cs_go_tls_write@" + go + "+4096");
  EXPECT_EQ(attacher.Counters()["files_hooked"], 2u);
}

TEST_F(ExeAttacherTest, ExecOfAProcessFindsALibsslItLoadedFromItsOwnDirectory) {
  // The "virtualenv libssl": a copy this process maps, as LD_LIBRARY_PATH or a wheel would.
  std::string venv_ssl = CopyLibssl("libssl.so.3");
  void* handle = dlopen(venv_ssl.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) GTEST_SKIP() << "cannot dlopen " << venv_ssl << ": " << dlerror();
  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  attacher.MarkSeen(libssl_);
  attacher.OnExec(getpid(), "/proc/self/exe", 0);
  dlclose(handle);
  ASSERT_EQ(uprobes.stacks.size(), 1u);
  EXPECT_EQ(uprobes.stacks[0].first, venv_ssl);
  // A second exec of the same process finds nothing new.
  attacher.OnExec(getpid(), "/proc/self/exe", 0);
  EXPECT_EQ(uprobes.stacks.size(), 1u);
}

TEST_F(ExeAttacherTest, ALibraryLoadedAfterExecIsFoundByTheLaterMapsReads) {
  FakeUprobes uprobes;
  ExeAttacher attacher(Options(), uprobes);
  attacher.MarkSeen(libssl_);
  attacher.OnExec(getpid(), "/proc/self/exe", 0);
  EXPECT_TRUE(uprobes.stacks.empty());
  // As Python imports ssl a few ms after its exec.
  std::string late_ssl = CopyLibssl("libssl-late.so.3");
  void* handle = dlopen(late_ssl.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) GTEST_SKIP() << "cannot dlopen " << late_ssl << ": " << dlerror();
  attacher.Tick(0);  // nothing due yet
  EXPECT_TRUE(uprobes.stacks.empty());
  attacher.Tick(UINT64_MAX);
  dlclose(handle);
  ASSERT_EQ(uprobes.stacks.size(), 1u);
  EXPECT_EQ(uprobes.stacks[0].first, late_ssl);
}

TEST(ParseMapsLine, ReadsDeviceInodeAndPathWithSpaces) {
  auto e = ParseMapsLine(
      "7f1c2a000000-7f1c2a0a0000 r-xp 00020000 fd:01 1835012                    "
      "/home/u/my venv/lib/libssl.so.3");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->dev, makedev(0xfd, 0x01));
  EXPECT_EQ(e->ino, 1835012u);
  EXPECT_TRUE(e->executable);
  EXPECT_EQ(e->path, "/home/u/my venv/lib/libssl.so.3");
}

TEST(ParseMapsLine, SkipsWhatIsNotAFile) {
  EXPECT_FALSE(ParseMapsLine("55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0      [heap]"));
  EXPECT_FALSE(ParseMapsLine("7f1c2a000000-7f1c2a0a0000 rw-p 00000000 00:00 0 "));
  EXPECT_FALSE(ParseMapsLine("7f1c2a000000-7f1c2a0a0000 r-xp 00000000 08:01 42 /tmp/x (deleted)"));
  EXPECT_FALSE(ParseMapsLine("garbage"));
  EXPECT_FALSE(ParseMapsLine("7f1c2a000000-7f1c2a0a0000 r-xp 00000000 zz:01 42 /lib/x.so"));
  auto data = ParseMapsLine("7f1c2a000000-7f1c2a0a0000 r--p 00000000 08:01 42 /lib/x.so");
  ASSERT_TRUE(data.has_value());
  EXPECT_FALSE(data->executable);
}

}  // namespace
}  // namespace credsentry::loader
