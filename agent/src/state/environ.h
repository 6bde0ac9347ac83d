// What a process's environment says about it: which credential variables it holds (names go
// into alerts, values stay in agent memory for known-value matching) and which CI job it runs
// in. Read once per exec from /proc/<pid>/environ, bounded, and only for in-scope processes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/result.h"

namespace credsentry::state {

// The CI job a process runs in, from the runner's variables; empty provider = none.
struct CiJob {
  std::string provider;    // "github-actions", "gitlab-ci"
  std::string repository;  // GITHUB_REPOSITORY / CI_PROJECT_PATH
  std::string workflow;    // GITHUB_WORKFLOW / CI_PIPELINE_NAME
  std::string run_id;      // GITHUB_RUN_ID / CI_PIPELINE_ID
  std::string job;         // GITHUB_JOB / CI_JOB_ID
  bool empty() const { return provider.empty(); }
};

// The Kubernetes pod a process runs in. The uid comes from the cgroup path (kubelet names the
// pod's cgroup after it); name and namespace are in no cgroup path, so they come from the
// environment when the pod spec exposes them. These are identities, not credentials.
struct KubePod {
  std::string uid;   // canonical 8-4-4-4-12 lowercase hex, or ""
  std::string name;  // POD_NAME / MY_POD_NAME, else HOSTNAME inside Kubernetes
  std::string ns;    // POD_NAMESPACE / KUBERNETES_NAMESPACE / MY_POD_NAMESPACE
  bool empty() const { return uid.empty() && name.empty(); }
};

// Longest pod name or namespace kept: a DNS subdomain (the longest Kubernetes object name).
inline constexpr size_t kMaxPodFieldLength = 253;

struct EnvironmentFindings {
  std::vector<std::string> credential_names;  // sorted, unique, at most kMaxCredentialNames
  // (name, value) of credential variables with a non-trivial value. Never logged or reported:
  // handed to known-value matching and then dropped.
  std::vector<std::pair<std::string, std::string>> credential_values;
  CiJob ci;
  KubePod pod;             // name and namespace only: the uid is the cgroup's (PodUidFromCgroup)
  bool truncated = false;  // the block hit the read bound; later variables were not seen
};

inline constexpr size_t kMaxEnvironBytes = 64 * 1024;
inline constexpr size_t kMaxCredentialNames = 32;
inline constexpr size_t kMinLearnedValueLength = 8;  // shorter values match too much to learn

// Shortest value kept of a variable that only its name calls a secret (IsSecretVariableName).
inline constexpr size_t kMinSecretNamedValueLength = 20;

// Whether a variable's name says it holds a secret, whatever the team called it: it contains
// TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, APIKEY or API_KEY, or AUTH as a word (_AUTH,
// AUTH_), or ends in _KEY or _PAT (case-insensitive); unless it ends in _FILE, _PATH, _DIR,
// _URL or _SOCK (where a secret is, not what it is).
bool IsSecretVariableName(std::string_view name);

// Variable names that hold credentials whatever the rules say (the rules' `env:` lists add to
// these): cloud, CI and package-registry secrets that no key format identifies on its own.
const std::unordered_set<std::string>& BuiltinCredentialEnvNames();

// Parses a NUL-separated environment block. `credential_names` are exact variable names; a
// variable IsSecretVariableName() accepts counts too when its value has at least
// kMinSecretNamedValueLength bytes (the learner then judges whether it looks random).
EnvironmentFindings InspectEnvironment(std::string_view block,
                                       const std::unordered_set<std::string>& credential_names,
                                       bool truncated = false);

// Reads /proc/<pid>/environ under `proc_root`, at most `cap` bytes (truncated set when more).
// The caller wipes the block when done (it holds every value the process has).
struct EnvironBlock {
  std::string bytes;
  bool truncated = false;
};
Result<EnvironBlock> ReadEnviron(const std::string& proc_root, uint32_t pid,
                                 size_t cap = kMaxEnvironBytes);
// Overwrites and clears `s` so a secret does not linger in freed heap memory.
void Wipe(std::string& s);

// The systemd unit a cgroup path names: its last `*.service` or `*.scope` component, or "".
std::string SystemdUnitFromCgroup(std::string_view cgroup_path);

// The Kubernetes pod uid a cgroup path names, dashed and lowercase, or "". Knows the systemd
// driver (`kubepods[-<qos>]-pod<uid with _>.slice`), the cgroupfs driver (`pod<uid>` below a
// `kubepods` component) and both nested under a prefix (kind, k3s in docker). The deepest wins.
std::string PodUidFromCgroup(std::string_view cgroup_path);

}  // namespace credsentry::state
