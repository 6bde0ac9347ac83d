// One rule file's YAML to entries, with every field checked (rules_parse.cpp). LoadRules
// (rules_loader.cpp) merges files and directories; this part knows nothing about either.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "catalogue/rules.h"

namespace credsentry::catalogue::internal {

struct SiteOverride {
  std::vector<std::string> kind_globs;
  std::vector<std::string> allow;
  std::string where;  // file:line
};

struct ParsedFile {
  std::vector<CredentialKind> kinds;
  std::vector<bool> kind_enabled;
  std::vector<CredentialFile> files;
  std::vector<SiteOverride> overrides;
  std::vector<std::string> env_names;  // `credential_env:` entries
};

// Parses the document of one file; errors are "path:line: reason".
Result<ParsedFile> ParseRuleFile(const std::string& path, const YAML::Node& root);

}  // namespace credsentry::catalogue::internal
