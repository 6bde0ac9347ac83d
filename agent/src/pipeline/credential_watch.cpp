#include "pipeline/credential_watch.h"

#include <sys/stat.h>

#include "common/log.h"
#include "config/credential_files.h"
#include "loader/host.h"

namespace credsentry::pipeline {

Result<CredentialWatchCount> WatchCredentialFiles(loader::CredentialFileTable& table,
                                                  const catalogue::RuleSet& rules) {
  if (auto st = table.Clear(); !st) return Error{st.message()};
  CredentialWatchCount count;
  for (const auto& p : config::ExpandCredentialPaths(rules)) {
    struct stat sb;
    if (stat(p.path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    auto st = table.WatchInode(loader::KernelDev(sb.st_dev), sb.st_ino, p.file_index + 1);
    if (!st) {
      spdlog::warn("cannot watch {}: {}", p.path, st.message());
      continue;
    }
    ++count.inodes;
  }
  for (const auto& k : config::CredentialNameKeys(rules)) {
    auto st = table.WatchName(k.parent, k.name, k.file_index + 1);
    if (!st) {
      spdlog::warn("cannot watch name {}/{}: {}", k.parent, k.name, st.message());
      continue;
    }
    ++count.names;
  }
  return count;
}

}  // namespace credsentry::pipeline
