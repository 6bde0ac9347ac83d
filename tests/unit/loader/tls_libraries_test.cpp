#include "loader/tls_libraries.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace credsentry::loader {
namespace {

std::string TempPath(const char* name) {
  return std::string(::testing::TempDir()) + "cs-loader-" + std::to_string(getpid()) + "-" + name;
}

TEST(ElfDefinedFunctions, FindsTheOpenSslWriteFunctionsInSystemLibssl) {
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  auto found = ElfDefinedFunctions(libs.front(), kOpenSslFunctions);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_TRUE(found->count("SSL_write"));
  EXPECT_TRUE(found->count("SSL_write_ex"));
  EXPECT_TRUE(found->count("SSL_ctrl"));
}

TEST(ElfDefinedFunctions, ImportedSymbolsDoNotCount) {
  // libssl imports (does not define) libcrypto's functions: an undefined symbol is not a hook.
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  const std::string_view wanted[] = {"EVP_EncryptUpdate", "SSL_write"};
  auto found = ElfDefinedFunctions(libs.front(), wanted);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_FALSE(found->count("EVP_EncryptUpdate"));
  EXPECT_TRUE(found->count("SSL_write"));
}

TEST(ElfDefinedFunctions, NotAnElfFileIsAClearError) {
  std::string path = TempPath("text");
  std::ofstream(path) << "not an ELF file, just text long enough to hold a header........";
  auto found = ElfDefinedFunctions(path, kOpenSslFunctions);
  std::remove(path.c_str());
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find("not a 64-bit ELF file"), std::string::npos) << found.message();
  EXPECT_NE(found.message().find(path), std::string::npos);
}

TEST(ElfDefinedFunctions, TruncatedLibraryIsAnErrorNotACrash) {
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  std::ifstream in(libs.front(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::string path = TempPath("truncated");
  std::ofstream(path, std::ios::binary).write(bytes.data(), 4096);
  auto found = ElfDefinedFunctions(path, kOpenSslFunctions);
  std::remove(path.c_str());
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find("outside the file"), std::string::npos) << found.message();
}

TEST(ElfDefinedFunctions, MissingFileNamesThePath) {
  auto found = ElfDefinedFunctions("/nonexistent/libssl.so.3", kOpenSslFunctions);
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find("/nonexistent/libssl.so.3"), std::string::npos);
}

TEST(FindSystemLibssl, ListsEachLibraryFileOnce) {
  auto libs = FindSystemLibssl();
  std::set<std::string> unique(libs.begin(), libs.end());
  EXPECT_EQ(unique.size(), libs.size());
  for (const auto& lib : libs) EXPECT_EQ(lib.front(), '/') << lib;
}

// The uprobe goes where ElfFunctionFileOffset points: the bytes there in the file must be the
// function's first instructions, as the dynamic loader maps them.
void ExpectOffsetHoldsFunction(const std::string& lib, const char* function) {
  auto offset = ElfFunctionFileOffset(lib, function);
  ASSERT_TRUE(offset.ok()) << offset.message();
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) GTEST_SKIP() << "cannot dlopen " << lib << ": " << dlerror();
  const void* code = dlsym(handle, function);
  ASSERT_NE(code, nullptr) << function;
  std::ifstream in(lib, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(*offset));
  char bytes[16] = {};
  ASSERT_TRUE(in.read(bytes, sizeof bytes)) << "offset " << *offset << " past the end of " << lib;
  EXPECT_EQ(std::string(bytes, sizeof bytes), std::string(static_cast<const char*>(code), 16))
      << function << " at file offset " << *offset;
  dlclose(handle);
}

TEST(ElfFunctionFileOffset, PointsAtSslWriteInLibssl) {
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  ExpectOffsetHoldsFunction(libs.front(), "SSL_write");
  ExpectOffsetHoldsFunction(libs.front(), "SSL_write_ex");
}

TEST(ElfFunctionFileOffset, PointsAtGnutlsRecordSend) {
  auto libs = FindSystemLibgnutls();
  if (libs.empty()) GTEST_SKIP() << "no libgnutls.so.30 on this host";
  ExpectOffsetHoldsFunction(libs.front(), "gnutls_record_send");
}

TEST(ElfFunctionFileOffset, MissingFunctionIsAnErrorNamingIt) {
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  auto offset = ElfFunctionFileOffset(libs.front(), "cs_no_such_function");
  ASSERT_FALSE(offset.ok());
  EXPECT_NE(offset.message().find("cs_no_such_function"), std::string::npos) << offset.message();
  EXPECT_NE(offset.message().find(libs.front()), std::string::npos) << offset.message();
}

TEST(FindSystemLibgnutls, ListsRealPathsThatExportRecordSend) {
  auto libs = FindSystemLibgnutls();
  if (libs.empty()) GTEST_SKIP() << "no libgnutls.so.30 on this host";
  std::set<std::string> unique(libs.begin(), libs.end());
  EXPECT_EQ(unique.size(), libs.size());
  for (const auto& lib : libs) {
    auto found = ElfDefinedFunctions(lib, kGnuTlsFunctions);
    ASSERT_TRUE(found.ok()) << found.message();
    EXPECT_TRUE(found->count("gnutls_record_send")) << lib;
  }
}

TEST(FindTlsStack, SystemLibsslIsOpenSslWithOffsetsAtTheFunctions) {
  auto libs = FindSystemLibssl();
  if (libs.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  auto found = FindTlsStack(libs.front());
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->stack, TlsStack::kOpenSsl);
  ASSERT_EQ(found->offsets.size(), 4u);
  // The one-pass offsets must be where the per-function lookup (checked against dlsym above) is.
  for (const auto& [function, offset] : found->offsets) {
    auto one = ElfFunctionFileOffset(libs.front(), function);
    ASSERT_TRUE(one.ok()) << one.message();
    EXPECT_EQ(offset, *one) << function;
  }
}

TEST(FindTlsStack, NodeCarriesOpenSslLinkedIntoTheExecutable) {
  if (access("/usr/bin/node", R_OK) != 0) GTEST_SKIP() << "no /usr/bin/node on this host";
  auto found = FindTlsStack("/usr/bin/node");
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->stack, TlsStack::kOpenSsl);
  for (const char* f : {"SSL_write", "SSL_write_ex", "SSL_ctrl", "SSL_set_fd"}) {
    ASSERT_TRUE(found->offsets.count(f)) << f;
    auto one = ElfFunctionFileOffset("/usr/bin/node", f);
    ASSERT_TRUE(one.ok()) << one.message();
    EXPECT_EQ(found->offsets.at(f), *one) << f;
  }
}

TEST(FindTlsStack, AProgramImportingSslWriteCarriesNoStack) {
  // curl calls libssl's SSL_write: the library is hooked, not curl.
  if (access("/usr/bin/curl", R_OK) != 0) GTEST_SKIP() << "no /usr/bin/curl on this host";
  auto found = FindTlsStack("/usr/bin/curl");
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->stack, TlsStack::kNone);
  EXPECT_TRUE(found->offsets.empty());
}

TEST(FindTlsStack, GnutlsIsTold) {
  auto libs = FindSystemLibgnutls();
  if (libs.empty()) GTEST_SKIP() << "no libgnutls.so.30 on this host";
  auto found = FindTlsStack(libs.front());
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->stack, TlsStack::kGnuTls);
  EXPECT_TRUE(found->offsets.count("gnutls_record_send"));
}

TEST(FindTlsStack, NotElfIsAnErrorNamingTheFile) {
  std::string path = TempPath("script");
  std::ofstream(path) << "#!/bin/sh\necho this is a shell script, not an ELF file at all....\n";
  auto found = FindTlsStack(path);
  std::remove(path.c_str());
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find(path), std::string::npos) << found.message();
}

}  // namespace
}  // namespace credsentry::loader
