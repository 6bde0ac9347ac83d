// Tells the kernel which files are credential stores: by (dev, inode) for files that exist now,
// and by (parent directory, file name) for files created later or reached by other paths.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "catalogue/rules.h"

namespace credsentry::loader {
class Probes;
}

namespace credsentry::pipeline {

struct CredentialWatchCount {
  size_t inodes = 0;
  size_t names = 0;
};

// Replaces every credential watch with the ones `rules` describes. cred_id = file index + 1.
Result<CredentialWatchCount> WatchCredentialFiles(loader::Probes& probes,
                                                  const catalogue::RuleSet& rules);

}  // namespace credsentry::pipeline
