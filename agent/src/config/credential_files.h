// Credential-file locations from the rules, turned into what the kernel side can match: concrete
// paths (the loader stats them for dev+inode, which symlinks and hard links cannot evade) and
// (parent directory name, file name) pairs for files that do not exist yet or are reached by a
// path we did not predict. `~/` means every user home in /etc/passwd (UserHomes), plus /root.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalogue/rules.h"

namespace credsentry::config {

// Both name components must fit the kernel's key (CS_DENTRY_NAME_MAX 32 incl. NUL).
inline constexpr size_t kMaxDentryName = 31;
inline constexpr size_t kMaxHomes = 4096;           // passwd entries considered
inline constexpr size_t kMaxExpandedPaths = 65536;  // paths handed to the kernel side

struct ExpandedCredentialPath {
  std::string path;
  uint32_t file_index;  // index into RuleSet::files
};

struct CredentialNameKey {
  std::string parent, name;
  uint32_t file_index;
};

// A passwd home worth watching: an existing directory that is not a system directory given to
// service accounts (/, /bin, /dev, /nonexistent, /var/empty, /run/..., ...). Service homes such
// as /var/lib/jenkins are kept.
bool IsWatchedHome(const std::string& home);

// Distinct home directories from passwd that IsWatchedHome accepts, in file order, at most
// kMaxHomes, plus /root always. A home created later is watched from the next reload (SIGHUP).
std::vector<std::string> UserHomes(const std::string& passwd_path = "/etc/passwd");

// Concrete paths: `~/x` once per home; a wildcard in the last component is expanded with
// glob(3) against what exists now. Nonexistent plain paths are kept (the caller stats them).
std::vector<ExpandedCredentialPath> ExpandCredentialPaths(
    const catalogue::RuleSet& rules, const std::string& passwd_path = "/etc/passwd");

// Name pairs for in-kernel matching at open time. Wildcard names cannot be keys and are
// skipped (their existing matches are included); names over kMaxDentryName are skipped. Both
// are logged at debug per path, and one info line counts what is watched.
std::vector<CredentialNameKey> CredentialNameKeys(const catalogue::RuleSet& rules,
                                                  const std::string& passwd_path = "/etc/passwd");

}  // namespace credsentry::config
