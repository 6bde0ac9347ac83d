// The credential catalogue as the agent holds it after loading: credential kinds (formats,
// expected destinations), credential files, and the site overrides already applied. LoadRules
// is the only way in, so every RuleSet the matcher sees has passed validation.
//
// Rule file format (YAML, `version: 1`; every field below is checked, unknown ones are errors):
//
//   version: 1
//   credentials:
//     - id: openai-project-key          # unique per directory; a later --rules dir replaces it
//       provider: openai                # required
//       name: OpenAI project API key    # required
//       severity: high                  # low|medium|high|critical (default high)
//       pattern: 'sk-proj-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200}'   # Hyperscan
//       charset: 'A-Za-z0-9_-'          # token alphabet: boundaries + value extraction
//       boundary: both                  # both (default) | end: no left boundary, for patterns
//                                       #   that open with their own delimiter (-----BEGIN)
//       preview_prefix: 8               # characters shown before the ellipsis (0-16)
//       validate: [openai-marker]       # catalogue/validators.h names
//       destinations: ['api.openai.com', '*.example.com']   # host globs, or:
//       never_sent: true                # no legitimate destination (exclusive with the above)
//       env: [OPENAI_API_KEY]
//       note: 'format evidence / uncertainty'
//       enabled: false                  # a drop-in may switch a kind off with just id+enabled
//   credential_files:
//     - id: aws-credentials
//       paths: ['~/.aws/credentials', '/etc/x', '~/.ssh/id_*']  # ~ = every home; * last only
//              # '**/.git/config': that dir/name anywhere (kernel name match only, no stat)
//       kinds: [aws-access-key-id]      # must name loaded kinds
//       destinations: ['*.amazonaws.com']  # host globs, beside the kinds' own (optional)
//   credential_env: [AWS_SESSION_TOKEN]  # more variable names holding credentials (with every
//                                       #   kind's env: they make CredentialEnvNames())
//   destinations:                       # site overrides, applied after every directory loaded
//     - kinds: ['openai-*']             # fnmatch globs over kind ids; must match a kind
//       allow: ['llm-gateway.corp.example']
//
// The secret value of a match is the run of `charset` bytes that ends where the pattern ends,
// so a pattern may carry context before the value (`aws_secret_access_key = `).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alert/severity.h"
#include "common/result.h"

namespace credsentry::catalogue {

struct CredentialKind {
  std::string id, provider, name;
  alert::Severity severity = alert::Severity::kHigh;
  // Hyperscan regex for the credential, possibly with context before the value (e.g.
  // `aws_secret_access_key = `). The secret value is the run of `charset` bytes that ends
  // where the pattern ends.
  std::string pattern;
  std::string charset;  // token alphabet as a bracket-expression body, e.g. "A-Za-z0-9_-"
  // Whether the byte before the match must be outside the charset. Off for patterns that open
  // with their own delimiter (-----BEGIN …) and whose charset includes line breaks.
  bool left_boundary = true;
  size_t preview_prefix = 4;
  std::vector<std::string> validators;    // names from catalogue/validators.h
  std::vector<std::string> destinations;  // host globs (after site overrides are applied)
  bool never_sent = false;                // no legitimate destination exists
  std::vector<std::string> env_vars;
  std::string note;
  std::string source_file;
  int source_line = 0;
};

struct CredentialFile {
  std::string id;
  std::vector<std::string> paths;  // as written (may start with ~/, last component may hold *)
  std::vector<std::string> kinds;  // kind ids expected inside (informational, may be empty)
  std::string source_file;
  int source_line = 0;
  // Host globs the file's secrets go to besides their kinds' (a value of no known format, a
  // client that read the file): RuleSet::ExpectedDestinations() is the union.
  std::vector<std::string> destinations;
};

struct RuleSet {
  std::vector<CredentialKind> kinds;
  std::vector<CredentialFile> files;
  std::string digest;  // "sha256:<16 hex>" over every loaded file: reported as the rules version
  std::vector<std::string> loaded_files;
  // Every environment variable name that holds a credential: the kinds' `env:` lists plus the
  // `credential_env:` sections, sorted, without duplicates.
  std::vector<std::string> env_names;

  const CredentialKind* FindKind(std::string_view id) const;
  // Where the secrets of `file` may go: its own destinations, then its kinds' (site overrides
  // included), without duplicates. Empty: none known, so any egress is unexpected.
  std::vector<std::string> ExpectedDestinations(const CredentialFile& file) const;
  const std::vector<std::string>& CredentialEnvNames() const { return env_names; }
};

// Loads every *.yaml / *.yml file of each directory (sorted by name). A kind or credential file
// whose id appears again in a later directory replaces the earlier one; the same id twice in one
// directory is an error. `destinations:` overrides are applied last. Every error names
// file:line and what is wrong.
Result<RuleSet> LoadRules(const std::vector<std::string>& dirs);

// Case-insensitive host match. "*.example.com" matches any name below example.com (not
// example.com itself); anything else matches exactly. A trailing dot on the host is ignored.
bool HostMatchesGlob(std::string_view host, std::string_view glob);

// True when `glob` is a host glob LoadRules accepts; otherwise sets `why`.
bool IsValidHostGlob(std::string_view glob, std::string* why);

// True when `host` matches one of the kind's destinations (never for never_sent kinds).
bool DestinationAllowed(const CredentialKind& kind, std::string_view host);

}  // namespace credsentry::catalogue
