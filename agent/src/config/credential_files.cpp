#include "config/credential_files.h"

#include <glob.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string_view>
#include <utility>

#include "common/log.h"

namespace credsentry::config {
namespace {

bool HasWildcard(const std::string& p) { return p.find_first_of("*?[") != std::string::npos; }

// "**/dir/name" (rules.h): the file in any directory, known to the kernel by its two names.
bool IsAnyDirectoryPath(const std::string& p) { return p.rfind("**/", 0) == 0; }

// Every concrete spelling of one rule path: one per home for "~/", glob results for wildcards.
std::vector<std::string> Concretize(const std::string& path, const std::vector<std::string>& homes,
                                    bool expand_wildcards) {
  std::vector<std::string> spelled;
  if (path.rfind("~/", 0) == 0) {
    for (const auto& home : homes) {
      spelled.push_back((home == "/" ? "" : home) + path.substr(1));
    }
  } else {
    spelled.push_back(path);
  }
  if (!expand_wildcards) return spelled;
  std::vector<std::string> out;
  for (const auto& p : spelled) {
    if (!HasWildcard(p)) {
      out.push_back(p);
      continue;
    }
    glob_t g{};
    if (glob(p.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  return out;
}

std::pair<std::string, std::string> ParentAndName(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string name = path.substr(slash + 1);
  std::string dir = path.substr(0, slash);
  size_t pslash = dir.rfind('/');
  std::string parent = pslash == std::string::npos ? dir : dir.substr(pslash + 1);
  return {parent, name};
}

// Homes that passwd gives system accounts (daemon, bin, sys, nobody, _apt ...): no user keeps
// credentials there, and watching ~/.netrc under /bin or /dev only adds noise and keys.
bool IsSystemDirectory(std::string_view home) {
  static constexpr std::string_view kSystem[] = {
      "/",           "/bin",     "/sbin",     "/lib",       "/lib64",
      "/usr",        "/usr/bin", "/usr/sbin", "/usr/games", "/usr/lib",
      "/usr/local",  "/etc",     "/boot",     "/dev",       "/proc",
      "/sys",        "/run",     "/tmp",      "/var",       "/var/empty",
      "/var/run",    "/var/tmp", "/var/mail", "/var/spool", "/var/cache/man",
      "/nonexistent"};
  for (auto dir : kSystem) {
    if (home == dir) return true;
  }
  // Pseudo and runtime filesystems and mail or print spools (irc: /run/ircd, lp:
  // /var/spool/lpd).
  for (std::string_view prefix :
       {"/dev/", "/proc/", "/sys/", "/run/", "/var/run/", "/var/spool/", "/nonexistent/"}) {
    if (home.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

bool IsWatchedHome(const std::string& home) {
  if (IsSystemDirectory(home)) return false;
  struct stat sb;
  return stat(home.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

std::vector<std::string> UserHomes(const std::string& passwd_path) {
  std::vector<std::string> homes;
  std::set<std::string> seen;
  auto add = [&](std::string h) {
    while (h.size() > 1 && h.back() == '/') h.pop_back();
    if (h.empty() || h[0] != '/' || homes.size() >= kMaxHomes) return;
    if (seen.insert(h).second) homes.push_back(std::move(h));
  };
  size_t skipped = 0;
  std::ifstream in(passwd_path);
  if (!in)
    spdlog::warn("cannot read {}: credential files are watched under /root only", passwd_path);
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line) && ++lines <= 4 * kMaxHomes) {
    // name:passwd:uid:gid:gecos:home:shell
    size_t pos = 0;
    for (int field = 0; field < 5 && pos != std::string::npos; ++field) {
      pos = line.find(':', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    std::string home = line.substr(pos, line.find(':', pos) - pos);
    if (home != "/root" && !IsWatchedHome(home)) {
      spdlog::debug(
          "home {} in {} is not watched: missing, not a directory, or a system "
          "directory",
          home, passwd_path);
      ++skipped;
      continue;
    }
    add(std::move(home));
  }
  if (skipped > 0) {
    spdlog::debug("{} homes in {} skipped (missing or system directories)", skipped, passwd_path);
  }
  if (homes.size() >= kMaxHomes) {
    spdlog::warn("{} lists more than {} homes; the rest are not watched", passwd_path, kMaxHomes);
  }
  add("/root");
  return homes;
}

std::vector<ExpandedCredentialPath> ExpandCredentialPaths(const catalogue::RuleSet& rules,
                                                          const std::string& passwd_path) {
  std::vector<std::string> homes = UserHomes(passwd_path);
  std::vector<ExpandedCredentialPath> out;
  std::set<std::string> seen;
  for (uint32_t i = 0; i < rules.files.size(); ++i) {
    for (const auto& rule_path : rules.files[i].paths) {
      if (IsAnyDirectoryPath(rule_path)) continue;  // no concrete path: name keys only
      for (auto& p : Concretize(rule_path, homes, /*expand_wildcards=*/true)) {
        if (out.size() >= kMaxExpandedPaths) {
          spdlog::warn("more than {} credential paths; the rest are not watched by inode",
                       kMaxExpandedPaths);
          return out;
        }
        if (seen.insert(p).second) out.push_back({std::move(p), i});
      }
    }
  }
  return out;
}

std::vector<CredentialNameKey> CredentialNameKeys(const catalogue::RuleSet& rules,
                                                  const std::string& passwd_path) {
  std::vector<std::string> homes = UserHomes(passwd_path);
  std::vector<CredentialNameKey> out;
  std::set<std::pair<std::string, std::string>> seen;
  size_t paths = 0, inode_only = 0;
  for (uint32_t i = 0; i < rules.files.size(); ++i) {
    for (const auto& rule_path : rules.files[i].paths) {
      const std::string spelled =
          IsAnyDirectoryPath(rule_path) ? rule_path.substr(2) : rule_path;  // "/dir/name"
      const size_t spellings = Concretize(spelled, homes, /*expand_wildcards=*/false).size();
      paths += spellings;
      if (!IsAnyDirectoryPath(rule_path) &&
          HasWildcard(rule_path.substr(rule_path.rfind('/') + 1))) {
        spdlog::debug("credential path {} has a wildcard name: matched by inode only", rule_path);
        inode_only += spellings;
      }
      for (const auto& p : Concretize(spelled, homes, /*expand_wildcards=*/true)) {
        auto [parent, name] = ParentAndName(p);
        if (parent.size() > kMaxDentryName || name.size() > kMaxDentryName) {
          spdlog::debug(
              "credential path {}: a name is longer than {} bytes, matched by inode "
              "only",
              p, kMaxDentryName);
          ++inode_only;
          continue;
        }
        if (parent.empty()) continue;  // a file directly under / has no parent to key on
        if (seen.emplace(parent, name).second) out.push_back({parent, name, i});
        if (out.size() >= kMaxExpandedPaths) return out;
      }
    }
  }
  spdlog::info(
      "watching {} credential paths across {} homes ({} matched by inode only: "
      "wildcard or long names)",
      paths, homes.size(), inode_only);
  return out;
}

}  // namespace credsentry::config
