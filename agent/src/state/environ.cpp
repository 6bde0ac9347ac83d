#include "state/environ.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <unordered_map>

#include "common/unique_fd.h"

namespace credsentry::state {
namespace {

CiJob CiJobFrom(const std::unordered_map<std::string_view, std::string_view>& ci_vars) {
  auto get = [&](std::string_view name) -> std::string {
    auto it = ci_vars.find(name);
    return it == ci_vars.end() ? std::string() : std::string(it->second);
  };
  CiJob job;
  if (get("GITHUB_ACTIONS") == "true") {
    job.provider = "github-actions";
    job.repository = get("GITHUB_REPOSITORY");
    job.workflow = get("GITHUB_WORKFLOW");
    job.run_id = get("GITHUB_RUN_ID");
    job.job = get("GITHUB_JOB");
  } else if (get("GITLAB_CI") == "true" || !get("CI_JOB_ID").empty()) {
    if (get("CI_PROJECT_PATH").empty() && get("CI_JOB_ID").empty()) return job;
    job.provider = "gitlab-ci";
    job.repository = get("CI_PROJECT_PATH");
    job.workflow = get("CI_PIPELINE_NAME");
    job.run_id = get("CI_PIPELINE_ID");
    job.job = get("CI_JOB_ID");
  }
  return job;
}

bool IsCiVariable(std::string_view name) {
  static const std::unordered_set<std::string_view> kNames = {
      "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_WORKFLOW",  "GITHUB_RUN_ID",  "GITHUB_JOB",
      "GITLAB_CI",      "CI_PROJECT_PATH",   "CI_PIPELINE_NAME", "CI_PIPELINE_ID", "CI_JOB_ID"};
  return kNames.contains(name);
}

bool IsPodVariable(std::string_view name) {
  static const std::unordered_set<std::string_view> kNames = {
      "POD_NAME",         "MY_POD_NAME", "POD_NAMESPACE",          "KUBERNETES_NAMESPACE",
      "MY_POD_NAMESPACE", "HOSTNAME",    "KUBERNETES_SERVICE_HOST"};
  return kNames.contains(name);
}

// Any process can set these variables to anything, and they end up in alerts and logs: keep
// printable ASCII only, and no more than a Kubernetes name can be long.
std::string PodField(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (out.size() >= kMaxPodFieldLength) break;
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
  }
  return out;
}

KubePod KubePodFrom(const std::unordered_map<std::string_view, std::string_view>& pod_vars) {
  auto first = [&](std::initializer_list<std::string_view> names) -> std::string {
    for (std::string_view name : names) {
      auto it = pod_vars.find(name);
      if (it == pod_vars.end()) continue;
      if (std::string v = PodField(it->second); !v.empty()) return v;
    }
    return {};
  };
  KubePod pod;
  pod.ns = first({"POD_NAMESPACE", "KUBERNETES_NAMESPACE", "MY_POD_NAMESPACE"});
  pod.name = first({"POD_NAME", "MY_POD_NAME"});
  // kubelet sets a pod's hostname to the pod name (hostNetwork pods excepted: theirs is the
  // node's); outside Kubernetes, HOSTNAME names a machine or a docker container, not a pod.
  auto service = pod_vars.find("KUBERNETES_SERVICE_HOST");
  if (pod.name.empty() && service != pod_vars.end() && !service->second.empty()) {
    pod.name = first({"HOSTNAME"});
  }
  return pod;
}

// `text` is a whole pod uid: 32 hex digits with `sep` at 8, 13, 18 and 23. The systemd driver
// writes '_' there because '-' means nesting in slice names.
std::string CanonicalPodUid(std::string_view text, char sep) {
  if (text.size() != 36) return {};
  std::string uid(text);
  for (size_t i = 0; i < uid.size(); ++i) {
    char& c = uid[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != sep) return {};
      c = '-';
    } else if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return {};
    }
  }
  return uid;
}

}  // namespace

bool IsSecretVariableName(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string_view n(upper);
  for (std::string_view place : {"_FILE", "_PATH", "_DIR", "_URL", "_SOCK"}) {
    if (n.ends_with(place)) return false;
  }
  for (std::string_view word : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "APIKEY",
                                "API_KEY", "_AUTH", "AUTH_"}) {
    if (n.find(word) != std::string_view::npos) return true;
  }
  return n.ends_with("_KEY") || n.ends_with("_PAT");
}

const std::unordered_set<std::string>& BuiltinCredentialEnvNames() {
  static const std::unordered_set<std::string> kNames = {
      // Cloud
      "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_OPENAI_API_KEY",
      "GOOGLE_API_KEY", "ARM_CLIENT_SECRET", "DIGITALOCEAN_TOKEN",
      // AI providers
      "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
      "DATABRICKS_TOKEN", "GEMINI_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "COHERE_API_KEY",
      "TOGETHER_API_KEY", "FIREWORKS_API_KEY", "DEEPSEEK_API_KEY", "PINECONE_API_KEY",
      "WANDB_API_KEY", "REPLICATE_API_TOKEN",
      // CI and registries
      "GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
      "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD", "NPM_TOKEN", "NODE_AUTH_TOKEN",
      "PYPI_TOKEN", "TWINE_PASSWORD", "DOCKER_PASSWORD", "VAULT_TOKEN"};
  return kNames;
}

EnvironmentFindings InspectEnvironment(std::string_view block,
                                       const std::unordered_set<std::string>& credential_names,
                                       bool truncated) {
  EnvironmentFindings out;
  out.truncated = truncated;
  std::unordered_map<std::string_view, std::string_view> ci_vars;
  std::unordered_map<std::string_view, std::string_view> pod_vars;
  size_t start = 0;
  while (start < block.size()) {
    size_t end = block.find('\0', start);
    if (end == std::string_view::npos) end = block.size();
    std::string_view entry = block.substr(start, end - start);
    start = end + 1;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;  // not NAME=value: ignore
    std::string_view name = entry.substr(0, eq);
    std::string_view value = entry.substr(eq + 1);
    if (IsCiVariable(name)) ci_vars[name] = value;
    if (IsPodVariable(name)) pod_vars.try_emplace(name, value);  // the first one counts
    if (value.empty()) continue;
    if (!credential_names.contains(std::string(name)) &&
        (value.size() < kMinSecretNamedValueLength || !IsSecretVariableName(name))) {
      continue;
    }
    if (out.credential_names.size() >= kMaxCredentialNames) {
      out.truncated = true;
      continue;
    }
    if (std::find(out.credential_names.begin(), out.credential_names.end(), name) !=
        out.credential_names.end()) {
      continue;  // a repeated name: the C library uses the first one
    }
    out.credential_names.emplace_back(name);
    if (value.size() >= kMinLearnedValueLength) out.credential_values.emplace_back(name, value);
  }
  std::sort(out.credential_names.begin(), out.credential_names.end());
  out.ci = CiJobFrom(ci_vars);
  out.pod = KubePodFrom(pod_vars);
  return out;
}

Result<EnvironBlock> ReadEnviron(const std::string& proc_root, uint32_t pid, size_t cap) {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/environ";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Error{path + ": " + std::strerror(errno)};
  EnvironBlock block;
  block.bytes.resize(cap + 1);  // one byte more tells "exactly cap" from "more than cap"
  size_t used = 0;
  while (used < block.bytes.size()) {
    ssize_t n = read(fd.get(), block.bytes.data() + used, block.bytes.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      Wipe(block.bytes);
      return Error{path + ": " + std::strerror(err)};
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  block.truncated = used > cap;
  block.bytes.resize(std::min(used, cap));
  return block;
}

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
  s.shrink_to_fit();
}

std::string SystemdUnitFromCgroup(std::string_view cgroup_path) {
  std::string_view unit;
  size_t start = 0;
  while (start <= cgroup_path.size()) {
    size_t end = cgroup_path.find('/', start);
    if (end == std::string_view::npos) end = cgroup_path.size();
    std::string_view part = cgroup_path.substr(start, end - start);
    if (part.ends_with(".service") || part.ends_with(".scope")) unit = part;
    start = end + 1;
  }
  return std::string(unit);
}

std::string PodUidFromCgroup(std::string_view cgroup_path) {
  std::string uid;
  bool under_kubepods = false;  // cgroupfs `pod<uid>` counts only below a kubepods component
  size_t start = 0;
  while (start < cgroup_path.size()) {
    size_t end = cgroup_path.find('/', start);
    if (end == std::string_view::npos) end = cgroup_path.size();
    std::string_view part = cgroup_path.substr(start, end - start);
    start = end + 1;
    if (part.starts_with("kubepods")) {
      under_kubepods = true;
      // systemd driver: kubepods-pod<uid>.slice (guaranteed), kubepods-<qos>-pod<uid>.slice.
      if (!part.ends_with(".slice")) continue;
      std::string_view slice = part.substr(0, part.size() - 6);
      size_t pod = slice.rfind("-pod");
      if (pod == std::string_view::npos) continue;
      if (std::string u = CanonicalPodUid(slice.substr(pod + 4), '_'); !u.empty()) uid = u;
    } else if (under_kubepods && part.starts_with("pod")) {
      // cgroupfs driver: /kubepods/pod<uid> (guaranteed), /kubepods/<qos>/pod<uid>.
      if (std::string u = CanonicalPodUid(part.substr(3), '-'); !u.empty()) uid = u;
    }
  }
  return uid;
}

}  // namespace credsentry::state
