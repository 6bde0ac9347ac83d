// What the agent learns of the secrets on this host: the values in credential files as processes
// read them, and the credential variables of process environments. Each value becomes a
// fingerprint (so its egress names where it was stored), a literal matched in every stream, and
// a value no output may show.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalogue/rules.h"
#include "common/counters.h"
#include "match/known_values.h"
#include "match/matcher.h"
#include "report/fingerprint.h"
#include "report/text_redaction.h"

namespace credsentry::pipeline {

// The process that read a secret from a credential file (for evidence on its egress).
struct SecretReader {
  uint32_t pid = 0;  // 0: not read by a process we saw (the inventory found it on disk)
  std::string comm;
  uint64_t mono_ns = 0;
};

// Where a learned secret is stored.
struct KnownSecret {
  std::string path;  // the credential file, or the environment variable that held it
  SecretReader reader;
  bool from_environment = false;  // `path` describes an environment variable, not a file
};


#define CREDSENTRY_CREDENTIAL_LEARNER_COUNTERS(X)                           \
  X(known_secrets_dropped, "credential-file secrets not kept (table full)") \
  X(secrets_learned_from_environments, "credential values learned from process environments")  \
  X(environment_values_not_random,                                                   \
    "values of variables named like secrets not learned: short or not random")

struct CredentialLearnerCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_CREDENTIAL_LEARNER_COUNTERS, CredentialLearnerCounters)
};

class CredentialLearner {
 public:
  CredentialLearner(size_t max_known_secrets, std::shared_ptr<const match::MatcherDatabase> db,
                    const report::Fingerprinter& fingerprinter);

  void SetDatabase(std::shared_ptr<const match::MatcherDatabase> db);

  // A credential file `pid` opened as `fd`, so that its reads can name the file.
  void OnOpen(uint32_t pid, int32_t fd, const std::string& path);
  // The file `pid` has open as `fd`; "" when its open was not seen.
  std::string PathOf(uint32_t pid, int32_t fd) const;
  void OnClose(uint32_t pid, int32_t fd);
  // Forgets the credential files `pid` had open and returns their fds.
  std::vector<int32_t> ForgetProcess(uint32_t pid);

  // Learns the secrets in `bytes`, read from `path` by `reader`: every catalogue match, and every
  // value the file's format gives, matched as a literal in every stream.
  void LearnFromRead(const std::string& path, const SecretReader& reader,
                     std::span<const uint8_t> bytes);
  // A secret known to be stored in `path` (from the inventory, or a read by `reader`). False
  // when it was not added: already known (its place is updated), or the table is full.
  bool AddKnownSecret(const std::string& fingerprint, const std::string& path,
                      SecretReader reader = {});
  // A secret value learned from an environment variable: its egress names `source`. The value
  // is matched as a literal in every stream, judged as the catalogue format it matches (an
  // OpenAI project key in OPENAI_API_KEY is one), else as `kind` (whose env list names the
  // variable), else as a known value no destination is expected for. `literal` false with no
  // format and no kind: fingerprint only.
  void LearnSecret(const std::string& value, const std::string& source,
                   const catalogue::CredentialKind* kind = nullptr, bool literal = false);
  // A credential variable found in the environment of process `pid` (`comm`): one the rules or
  // the built-in list name, or one whose name says it is a secret (state::IsSecretVariableName)
  // holding a value of state::kMinSecretNamedValueLength or more that looks random
  // (report::LooksRandom) and is no path, URL without credentials, number or boolean.
  void LearnFromEnvironment(const std::string& name, const std::string& value,
                            const std::string& comm, uint32_t pid);
  // The variable names whose values are learned: the built-in ones, every kind's `env:` and the
  // catalogue's `credential_env:`.
  std::unordered_set<std::string> CredentialEnvNames() const;

  const KnownSecret* Find(const std::string& fingerprint) const;
  // `text` with every learned value, catalogue match, `also` and secret shape hidden.
  std::string Redact(std::string_view text, report::HiddenValue also = {}) const {
    return redactor_.Redact(text, db_, std::span(&also, 1));
  }
  const report::TextRedactor& redactor() const { return redactor_; }
  const std::shared_ptr<match::KnownValues>& known_values() const { return known_values_; }

  // Its counters and the sizes of what it keeps, for --stats-file.
  void ExportCounters(std::map<std::string, uint64_t>& out) const;

 private:
  void Learned(const std::string& value, const std::string& path, const SecretReader& reader);
  // Indexes the credential variable names of db_ (once per database).
  void IndexCredentialEnv();
  // The catalogue kind `value` is a match of, whole; null when it fits no format.
  const catalogue::CredentialKind* FormatOf(const std::string& value) const;

  size_t max_known_secrets_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  const report::Fingerprinter& fingerprinter_;
  // Every credential variable name -> the first kind whose `env:` lists it (null: a built-in or
  // `credential_env:` name of no kind).
  std::unordered_map<std::string, const catalogue::CredentialKind*> env_kinds_;
  // (pid, fd) of open credential files -> path.
  std::unordered_map<uint64_t, std::string> credential_fds_;
  // Fingerprints of learned secrets -> where they were stored.
  std::unordered_map<std::string, KnownSecret> known_secrets_;
  // Fingerprints the full table refused, so that an environment every exec repeats is not
  // learned again each time (bounded: past it, a refused value is offered again).
  static constexpr size_t kMaxRefusedSecrets = 4096;
  std::unordered_set<std::string> refused_secrets_;
  // Values read from credential files, matched as literals in every stream.
  std::shared_ptr<match::KnownValues> known_values_ = std::make_shared<match::KnownValues>();
  // Every secret value learned on this host, so that no output shows one (bounded).
  report::TextRedactor redactor_;
  CredentialLearnerCounters counters_;
};

}  // namespace credsentry::pipeline
