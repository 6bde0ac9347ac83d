#include "state/environ.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace credsentry::state {
namespace {

std::string Synthetic(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36]);
  return s;
}

std::string Block(std::initializer_list<std::string> entries) {
  std::string out;
  for (const auto& e : entries) {
    out += e;
    out.push_back('\0');
  }
  return out;
}

TEST(Environment, NamesCredentialVariablesAndKeepsValuesApart) {
  const std::string key = "sk-" + Synthetic(40);
  const std::string aws = Synthetic(40);
  auto found = InspectEnvironment(
      Block({"PATH=/usr/bin", "OPENAI_API_KEY=" + key, "AWS_SECRET_ACCESS_KEY=" + aws, "HOME=/root",
             "GITHUB_TOKEN=", "OPENAI_API_KEY=second"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(found.credential_names,
            (std::vector<std::string>{"AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY"}));
  ASSERT_EQ(found.credential_values.size(), 2u);
  EXPECT_EQ(found.credential_values[0].second, key);  // the first of a repeated name wins
  EXPECT_EQ(found.credential_values[1].second, aws);
  EXPECT_TRUE(found.ci.empty());
}

TEST(Environment, ShortValuesAreNamedButNotLearned) {
  auto found = InspectEnvironment(Block({"HF_TOKEN=abc"}), BuiltinCredentialEnvNames());
  EXPECT_EQ(found.credential_names, std::vector<std::string>{"HF_TOKEN"});
  EXPECT_TRUE(found.credential_values.empty());
}

TEST(Environment, RulesNamesAreHonouredAndNamesAreBounded) {
  std::unordered_set<std::string> names;
  std::string block;
  for (size_t i = 0; i < kMaxCredentialNames + 5; ++i) {
    names.insert("K" + std::to_string(i));
    block += "K" + std::to_string(i) + "=" + Synthetic(12) + '\0';
  }
  auto found = InspectEnvironment(block, names);
  EXPECT_EQ(found.credential_names.size(), kMaxCredentialNames);
  EXPECT_TRUE(found.truncated);
}

TEST(Environment, MalformedEntriesAreIgnored) {
  auto found = InspectEnvironment(std::string("=x\0NOEQUALS\0\0OPENAI_API_KEY", 28),
                                  BuiltinCredentialEnvNames());
  EXPECT_TRUE(found.credential_names.empty());
}

TEST(Environment, GithubActionsJob) {
  auto found = InspectEnvironment(
      Block({"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/widgets", "GITHUB_WORKFLOW=release",
             "GITHUB_RUN_ID=4242", "GITHUB_JOB=publish"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(found.ci.provider, "github-actions");
  EXPECT_EQ(found.ci.repository, "acme/widgets");
  EXPECT_EQ(found.ci.workflow, "release");
  EXPECT_EQ(found.ci.run_id, "4242");
  EXPECT_EQ(found.ci.job, "publish");
}

TEST(Environment, GitlabJobAndNoJobWithoutTheMarker) {
  auto gitlab = InspectEnvironment(
      Block({"GITLAB_CI=true", "CI_PROJECT_PATH=acme/api", "CI_JOB_ID=77", "CI_PIPELINE_ID=9"}),
      BuiltinCredentialEnvNames());
  EXPECT_EQ(gitlab.ci.provider, "gitlab-ci");
  EXPECT_EQ(gitlab.ci.repository, "acme/api");
  EXPECT_EQ(gitlab.ci.job, "77");
  EXPECT_EQ(gitlab.ci.run_id, "9");
  // GITHUB_* variables without GITHUB_ACTIONS=true are not a runner (anyone can set them).
  auto none =
      InspectEnvironment(Block({"GITHUB_REPOSITORY=acme/widgets"}), BuiltinCredentialEnvNames());
  EXPECT_TRUE(none.ci.empty());
}

TEST(Environment, ReadEnvironIsBoundedAndErrorsNameThePath) {
  auto root = std::filesystem::temp_directory_path() / ("cs-env-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "42");
  { std::ofstream(root / "42" / "environ") << std::string(100, 'x'); }
  auto whole = ReadEnviron(root.string(), 42, 100);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->bytes.size(), 100u);
  EXPECT_FALSE(whole->truncated);
  auto cut = ReadEnviron(root.string(), 42, 64);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->bytes.size(), 64u);
  EXPECT_TRUE(cut->truncated);
  auto missing = ReadEnviron(root.string(), 43);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("43/environ"), std::string::npos);
  std::filesystem::remove_all(root);
}

TEST(Environment, WipeClears) {
  std::string s = Synthetic(32);
  Wipe(s);
  EXPECT_TRUE(s.empty());
}

TEST(SystemdUnit, LastServiceOrScopeComponent) {
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/nginx.service"), "nginx.service");
  EXPECT_EQ(SystemdUnitFromCgroup("/user.slice/user-1000.slice/session-3.scope"),
            "session-3.scope");
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/docker-" + std::string(64, 'a') + ".scope"),
            "docker-" + std::string(64, 'a') + ".scope");
  EXPECT_EQ(SystemdUnitFromCgroup("/system.slice/runner.service/job-1"), "runner.service");
  EXPECT_EQ(SystemdUnitFromCgroup("/credsentry-test/inner"), "");
  EXPECT_EQ(SystemdUnitFromCgroup(""), "");
}

// A pod uid as kubelet writes it: dashed for the cgroupfs driver, '_' for the systemd driver.
constexpr std::string_view kPodUid = "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901";
const std::string kPodUidSystemd = "1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901";
const std::string kCtr(64, 'c');

TEST(PodUid, SystemdDriverBurstableBestEffortAndGuaranteed) {
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                             kPodUidSystemd + ".slice/cri-containerd-" + kCtr + ".scope"),
            kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                             kPodUidSystemd + ".slice/crio-" + kCtr + ".scope"),
            kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-pod" + kPodUidSystemd +
                             ".slice/cri-containerd-" + kCtr + ".scope"),
            kPodUid);
  // The pod's own slice (the pause container's parent) is in the pod too.
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-pod" + kPodUidSystemd + ".slice"), kPodUid);
}

TEST(PodUid, CgroupfsDriver) {
  const std::string uid(kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods/burstable/pod" + uid + "/" + kCtr), kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods/besteffort/pod" + uid + "/" + kCtr), kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod" + uid + "/" + kCtr), kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod1B2C3D4E-5F60-7182-93A4-B5C6D7E8F901/" + kCtr),
            kPodUid);  // canonical form is lowercase
}

TEST(PodUid, NestedUnderAPrefix) {
  const std::string uid(kPodUid);
  // kind: the node is a docker container, its kubepods hierarchy sits below it.
  EXPECT_EQ(PodUidFromCgroup("/docker/" + std::string(64, 'd') + "/kubepods/burstable/pod" + uid +
                             "/" + kCtr),
            kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/system.slice/containerd.service/kubepods-burstable-pod" +
                             kPodUidSystemd + ".slice/cri-containerd-" + kCtr + ".scope"),
            kPodUid);
  EXPECT_EQ(PodUidFromCgroup("/actions_job/" + std::string(64, 'e') +
                             "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                             kPodUidSystemd + ".slice/cri-containerd-" + kCtr + ".scope"),
            kPodUid);
}

TEST(PodUid, NotAPod) {
  const std::string uid(kPodUid);
  EXPECT_EQ(PodUidFromCgroup(""), "");
  EXPECT_EQ(PodUidFromCgroup("/"), "");
  EXPECT_EQ(PodUidFromCgroup("/system.slice/docker-" + kCtr + ".scope"), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-burstable.slice"), "");
  // 32 hex digits without the "pod" prefix, or without dashes: not a pod uid.
  EXPECT_EQ(PodUidFromCgroup("/kubepods/burstable/1b2c3d4e5f60718293a4b5c6d7e8f901/" + kCtr), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods/burstable/pod1b2c3d4e5f60718293a4b5c6d7e8f901/" + kCtr),
            "");
  // Truncated, overlong, non-hex, misplaced separators.
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod" + uid.substr(0, 35) + "/" + kCtr), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod" + uid + "0/" + kCtr), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f90g/" + kCtr), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod1b2c3d4e5-f60-7182-93a4-b5c6d7e8f901/" + kCtr), "");
  EXPECT_EQ(
      PodUidFromCgroup("/kubepods.slice/kubepods-pod" + kPodUidSystemd.substr(0, 30) + ".slice"),
      "");
  // The systemd driver never writes '-' inside the uid ('-' nests slices), cgroupfs never '_'.
  EXPECT_EQ(PodUidFromCgroup("/kubepods.slice/kubepods-pod" + uid + ".slice"), "");
  EXPECT_EQ(PodUidFromCgroup("/kubepods/pod" + kPodUidSystemd + "/" + kCtr), "");
  // pod<uid> outside any kubepods hierarchy is somebody's directory name, not kubelet's.
  EXPECT_EQ(PodUidFromCgroup("/system.slice/pod" + uid + "/" + kCtr), "");
  EXPECT_EQ(
      PodUidFromCgroup("/machine.slice/machine-libpod_pod_" + std::string(64, 'a') + ".slice"), "");
}

TEST(KubePodEnvironment, NameAndNamespaceFromTheDownwardApi) {
  auto found =
      InspectEnvironment(Block({"PATH=/bin", "POD_NAME=exfil-7d9f", "POD_NAMESPACE=ci-jobs",
                                "KUBERNETES_SERVICE_HOST=10.0.0.1", "HOSTNAME=other"}),
                         BuiltinCredentialEnvNames());
  EXPECT_EQ(found.pod.name, "exfil-7d9f");  // POD_NAME wins over HOSTNAME
  EXPECT_EQ(found.pod.ns, "ci-jobs");
  EXPECT_TRUE(found.pod.uid.empty());  // the uid is the cgroup's to say
  EXPECT_FALSE(found.pod.empty());
  EXPECT_TRUE(found.credential_names.empty());  // pod identity is not a credential
}

TEST(KubePodEnvironment, FirstSetVariableInOrderOfPreference) {
  auto found =
      InspectEnvironment(Block({"MY_POD_NAMESPACE=third", "KUBERNETES_NAMESPACE=second",
                                "MY_POD_NAME=mine", "POD_NAMESPACE="}),  // set but empty: not set
                         BuiltinCredentialEnvNames());
  EXPECT_EQ(found.pod.ns, "second");
  EXPECT_EQ(found.pod.name, "mine");
  found = InspectEnvironment(Block({"POD_NAME=first", "POD_NAME=second"}), {});
  EXPECT_EQ(found.pod.name, "first");  // a repeated name: the C library uses the first one
}

TEST(KubePodEnvironment, HostnameNamesThePodOnlyInsideKubernetes) {
  auto found =
      InspectEnvironment(Block({"HOSTNAME=exfil-7d9f", "KUBERNETES_SERVICE_HOST=10.0.0.1"}), {});
  EXPECT_EQ(found.pod.name, "exfil-7d9f");
  EXPECT_TRUE(found.pod.ns.empty());
  found = InspectEnvironment(Block({"HOSTNAME=build-host-3"}), {});
  EXPECT_TRUE(found.pod.name.empty());
  EXPECT_TRUE(found.pod.empty());
  found = InspectEnvironment(Block({"HOSTNAME=build-host-3", "KUBERNETES_SERVICE_HOST="}), {});
  EXPECT_TRUE(found.pod.name.empty());
}

TEST(KubePodEnvironment, ValuesAreBoundedAndPrintable) {
  auto found = InspectEnvironment(
      Block({"POD_NAME=" + std::string(4000, 'n'), "POD_NAMESPACE=ci\x1b[31m-jobs\x7f\n"}), {});
  EXPECT_EQ(found.pod.name, std::string(kMaxPodFieldLength, 'n'));
  EXPECT_EQ(found.pod.ns, "ci[31m-jobs");
  found = InspectEnvironment(Block({"POD_NAME=\x01\x02", "MY_POD_NAME=fallback"}), {});
  EXPECT_EQ(found.pod.name, "fallback");  // nothing printable left: as if unset
}

}  // namespace
}  // namespace credsentry::state
