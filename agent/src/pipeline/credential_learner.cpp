#include "pipeline/credential_learner.h"

#include "pipeline/pipeline_counters.h"
#include "report/random_token.h"
#include "state/environ.h"

namespace credsentry::pipeline {
namespace {

// One key per (process, fd).
uint64_t FdKey(uint32_t pid, int32_t fd) {
  return (uint64_t{pid} << 32) | static_cast<uint32_t>(fd);
}

// A value that only its variable's name calls a secret: random, and not a path, a URL without
// credentials in it, a number or a boolean (LooksRandom rejects the last two already).
bool LooksLikeSecretValue(std::string_view v) {
  if (v.starts_with('/') || v.starts_with('.') || v.starts_with('~')) return false;
  if (size_t scheme = v.find("://"); scheme != std::string_view::npos) {
    return v.find('@', scheme) != std::string_view::npos && report::LooksRandom(v);
  }
  return v.find_first_of(" \t\n") == std::string_view::npos && report::LooksRandom(v);
}

}  // namespace

CredentialLearner::CredentialLearner(size_t max_known_secrets,
                                     std::shared_ptr<const match::MatcherDatabase> db,
                                     const report::Fingerprinter& fingerprinter)
    : max_known_secrets_(max_known_secrets), db_(std::move(db)), fingerprinter_(fingerprinter) {
  IndexCredentialEnv();
}

void CredentialLearner::SetDatabase(std::shared_ptr<const match::MatcherDatabase> db) {
  db_ = std::move(db);
  IndexCredentialEnv();
}

void CredentialLearner::IndexCredentialEnv() {
  env_kinds_.clear();
  if (!db_) return;
  for (const auto& kind : db_->rules().kinds) {
    for (const auto& name : kind.env_vars) env_kinds_.try_emplace(name, &kind);
  }
  for (const auto& name : db_->rules().CredentialEnvNames()) env_kinds_.try_emplace(name, nullptr);
  for (const auto& name : state::BuiltinCredentialEnvNames()) env_kinds_.try_emplace(name, nullptr);
}

void CredentialLearner::OnOpen(uint32_t pid, int32_t fd, const std::string& path) {
  credential_fds_[FdKey(pid, fd)] = path;
}

std::string CredentialLearner::PathOf(uint32_t pid, int32_t fd) const {
  auto it = credential_fds_.find(FdKey(pid, fd));
  return it != credential_fds_.end() ? it->second : "";
}

void CredentialLearner::OnClose(uint32_t pid, int32_t fd) { credential_fds_.erase(FdKey(pid, fd)); }

std::vector<int32_t> CredentialLearner::ForgetProcess(uint32_t pid) {
  std::vector<int32_t> fds;
  for (auto it = credential_fds_.begin(); it != credential_fds_.end();) {
    if ((it->first >> 32) == pid) {
      fds.push_back(static_cast<int32_t>(it->first & 0xffffffffu));
      it = credential_fds_.erase(it);
    } else {
      ++it;
    }
  }
  return fds;
}

void CredentialLearner::LearnFromRead(const std::string& path, const SecretReader& reader,
                                      std::span<const uint8_t> bytes) {
  match::MatchStream scan(db_);
  std::vector<std::pair<std::string, std::string>> format_values;  // (kind id, value)
  auto learn = [&](const match::SecretMatch& m) {
    if (!m.value_available) return;
    Learned(m.value, path, reader);
    if (m.kind_index < db_->rules().kinds.size()) {
      format_values.emplace_back(db_->rules().kinds[m.kind_index].id, m.value);
    }
  };
  scan.Feed(bytes, learn);
  scan.Close(learn);
  // And every value, format or not, as a literal for all streams (match/known_values.h).
  std::string_view content(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (const auto& value :
       known_values_->LearnFromCredentialFile(content, path, db_->rules(), format_values)) {
    Learned(value, path, reader);
  }
}

void CredentialLearner::Learned(const std::string& value, const std::string& path,
                                const SecretReader& reader) {
  redactor_.Remember(value);
  AddKnownSecret(fingerprinter_.Of(value), path, reader);
}

bool CredentialLearner::AddKnownSecret(const std::string& fingerprint, const std::string& path,
                                       SecretReader reader) {
  if (auto it = known_secrets_.find(fingerprint); it != known_secrets_.end()) {
    it->second = KnownSecret{path, std::move(reader)};  // the latest place it was stored
    return false;
  }
  if (known_secrets_.size() >= max_known_secrets_) {
    ++counters_.known_secrets_dropped;
    if (refused_secrets_.size() < kMaxRefusedSecrets) refused_secrets_.insert(fingerprint);
    return false;
  }
  known_secrets_.emplace(fingerprint, KnownSecret{path, std::move(reader)});
  return true;
}

const catalogue::CredentialKind* CredentialLearner::FormatOf(const std::string& value) const {
  match::MatchStream scan(db_);
  const catalogue::CredentialKind* format = nullptr;
  auto find = [&](const match::SecretMatch& m) {
    if (!format && m.value_available && m.value == value &&
        m.kind_index < db_->rules().kinds.size()) {
      format = &db_->rules().kinds[m.kind_index];
    }
  };
  scan.Feed(std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size()), find);
  scan.Close(find);
  return format;
}

void CredentialLearner::LearnSecret(const std::string& value, const std::string& source,
                                    const catalogue::CredentialKind* kind, bool literal) {
  const std::string fingerprint = fingerprinter_.Of(value);
  redactor_.Remember(value);                         // no output may show it, whatever its format
  // Every exec repeats it: keep the first offer, kept or refused.
  if (known_secrets_.contains(fingerprint) || refused_secrets_.contains(fingerprint)) return;
  if (AddKnownSecret(fingerprint, source)) {
    ++counters_.secrets_learned_from_environments;
    known_secrets_[fingerprint].from_environment = true;
  }
  // The format's own kind first: OPENAI_API_KEY is listed by the legacy and the project key.
  if (const catalogue::CredentialKind* format = FormatOf(value)) kind = format;
  if (kind) {
    known_values_->Learn({value, source, kind->id, kind->destinations, kind->never_sent, true});
  } else if (literal) {
    known_values_->Learn({value, source, "", {}, false, true});
  }
}

void CredentialLearner::LearnFromEnvironment(const std::string& name, const std::string& value,
                                             const std::string& comm, uint32_t pid) {
  const std::string source =
      "environment variable " + name + " of " + comm + " (pid " + std::to_string(pid) + ")";
  if (auto listed = env_kinds_.find(name); listed != env_kinds_.end()) {
    LearnSecret(value, source, listed->second);
    return;
  }
  // Named a secret by the team (DEPLOY_TOKEN): whatever its value, no output may show it (a
  // passphrase is a secret too); it is learned for matching only when it looks like one.
  redactor_.Remember(value);
  if (value.size() < state::kMinSecretNamedValueLength || !LooksLikeSecretValue(value)) {
    ++counters_.environment_values_not_random;
    return;
  }
  LearnSecret(value, source, nullptr, true);
}

std::unordered_set<std::string> CredentialLearner::CredentialEnvNames() const {
  std::unordered_set<std::string> names;
  for (const auto& [name, kind] : env_kinds_) names.insert(name);
  return names;
}

const KnownSecret* CredentialLearner::Find(const std::string& fingerprint) const {
  auto it = known_secrets_.find(fingerprint);
  return it == known_secrets_.end() ? nullptr : &it->second;
}

void CredentialLearner::ExportCounters(std::map<std::string, uint64_t>& out) const {
  credsentry::ExportCounters(counters_, "", out);
  out["known_secrets"] = known_secrets_.size();
  out["known_values"] = known_values_->size();
  credsentry::ExportCounters(known_values_->counters(), kKnownValuesPrefix, out);
  out["redaction_values"] = redactor_.size();
  out["redaction_values_dropped"] = redactor_.dropped();
}

}  // namespace credsentry::pipeline
