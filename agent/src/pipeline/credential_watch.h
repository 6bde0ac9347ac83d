// Tells the kernel which files are credential stores: by (dev, inode) for files that exist now,
// and by (parent directory, file name) for files created later or reached by other paths.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "catalogue/rules.h"
#include "loader/kernel_tables.h"


namespace credsentry::pipeline {

struct CredentialWatchCount {
  size_t inodes = 0;
  size_t names = 0;
};

// Replaces every credential watch with the ones `rules` describes. cred_id = file index + 1.
// A watch the table refuses is logged and left out of the count.
Result<CredentialWatchCount> WatchCredentialFiles(loader::CredentialFileTable& table,
                                                  const catalogue::RuleSet& rules);

}  // namespace credsentry::pipeline
