// LoadRules: YAML rule files to a validated RuleSet. Every rejection names file:line and the
// reason, because a drop-in with a typo must fail loudly, never be half-applied (a SIGHUP with a
// broken file keeps the old rules running: the caller swaps only on success).
#include <fnmatch.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "catalogue/rules.h"
#include "catalogue/rules_parse.h"

namespace credsentry::catalogue {
namespace fs = std::filesystem;
namespace {

using internal::ParsedFile;
using internal::SiteOverride;

constexpr size_t kMaxRuleFileBytes = 4 << 20;

Result<std::vector<fs::path>> RuleFilesIn(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Error{"rules directory " + dir + " does not exist"};
  std::vector<fs::path> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto ext = it->path().extension();
    if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file(ec)) out.push_back(it->path());
  }
  if (ec) return Error{"cannot list rules directory " + dir + ": " + ec.message()};
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> ReadSmallFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Error{p.string() + ": cannot open"};
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxRuleFileBytes) {
      return Error{p.string() + ": larger than " + std::to_string(kMaxRuleFileBytes) + " bytes"};
    }
  }
  return data;
}

// Merges one directory's entries: an id seen in an earlier directory is replaced in place, the
// same id twice in this directory is an error naming both places.
template <class Entry>
Status MergeById(std::vector<Entry>& all, std::map<std::string, size_t>& index,
                 std::map<std::string, std::string>& seen_in_dir, Entry e, const char* what) {
  std::string where = e.source_file + ":" + std::to_string(e.source_line);
  auto [it, fresh] = seen_in_dir.emplace(e.id, where);
  if (!fresh) {
    return Error{where + ": duplicate " + std::string(what) + " id '" + e.id +
                 "' (first defined at " + it->second + ")"};
  }
  if (auto found = index.find(e.id); found != index.end()) {
    all[found->second] = std::move(e);
  } else {
    index.emplace(e.id, all.size());
    all.push_back(std::move(e));
  }
  return Status::Ok();
}

Status ApplyOverrides(std::vector<CredentialKind>& kinds, const std::vector<SiteOverride>& os) {
  for (const auto& o : os) {
    size_t matched = 0;
    for (auto& k : kinds) {
      bool hit = std::any_of(o.kind_globs.begin(), o.kind_globs.end(), [&](const auto& g) {
        return fnmatch(g.c_str(), k.id.c_str(), 0) == 0;
      });
      if (!hit || k.never_sent) continue;
      ++matched;
      for (const auto& host : o.allow) {
        if (std::find(k.destinations.begin(), k.destinations.end(), host) == k.destinations.end()) {
          k.destinations.push_back(host);
        }
      }
    }
    if (matched == 0) {
      return Error{o.where + ": destinations override matches no credential kind that may be sent"};
    }
  }
  return Status::Ok();
}

}  // namespace

Result<RuleSet> LoadRules(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return Error{"no rules directory given"};
  RuleSet rules;
  std::vector<bool> enabled;
  std::map<std::string, size_t> kind_index, file_index;
  std::vector<SiteOverride> overrides;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);

  for (const auto& dir : dirs) {
    auto files = RuleFilesIn(dir);
    if (!files) {
      return files.error();
    }
    std::map<std::string, std::string> kinds_in_dir, files_in_dir;
    for (const auto& path : *files) {
      auto text = ReadSmallFile(path);
      if (!text) {
        return text.error();
      }
      YAML::Node root;
      try {
        root = YAML::Load(*text);
      } catch (const YAML::Exception& e) {
        return Error{path.string() + ":" + std::to_string(e.mark.line + 1) +
                     ": YAML syntax error: " + e.msg};
      }
      auto parsed = internal::ParseRuleFile(path.string(), root);
      if (!parsed) {
        return parsed.error();
      }
      std::string name = path.string();
      EVP_DigestUpdate(md.get(), name.data(), name.size() + 1);
      EVP_DigestUpdate(md.get(), text->data(), text->size());
      rules.loaded_files.push_back(name);
      for (size_t i = 0; i < parsed->kinds.size(); ++i) {
        size_t before = rules.kinds.size();
        auto& k = parsed->kinds[i];
        std::string id = k.id;
        if (auto s = MergeById(rules.kinds, kind_index, kinds_in_dir, std::move(k), "credential");
            !s) {
          return Error{s.message()};
        }
        if (rules.kinds.size() > before)
          enabled.push_back(parsed->kind_enabled[i]);
        else
          enabled[kind_index[id]] = parsed->kind_enabled[i];
      }
      for (auto& f : parsed->files) {
        if (auto s =
                MergeById(rules.files, file_index, files_in_dir, std::move(f), "credential file");
            !s) {
          return Error{s.message()};
        }
      }
      for (auto& o : parsed->overrides) overrides.push_back(std::move(o));
      for (auto& e : parsed->env_names) rules.env_names.push_back(std::move(e));
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md.get(), digest, &len);

  std::vector<CredentialKind> active;
  for (size_t i = 0; i < rules.kinds.size(); ++i) {
    if (enabled[i]) active.push_back(std::move(rules.kinds[i]));
  }
  rules.kinds = std::move(active);
  if (rules.kinds.empty()) return Error{"no credential kinds loaded from the rules directories"};
  if (auto s = ApplyOverrides(rules.kinds, overrides); !s) return Error{s.message()};
  for (const auto& f : rules.files) {
    for (const auto& kind : f.kinds) {
      if (!rules.FindKind(kind)) {
        return Error{f.source_file + ":" + std::to_string(f.source_line) + ": credential file '" +
                     f.id + "' names unknown kind '" + kind + "'"};
      }
    }
  }
  for (const auto& k : rules.kinds) {
    rules.env_names.insert(rules.env_names.end(), k.env_vars.begin(), k.env_vars.end());
  }
  std::sort(rules.env_names.begin(), rules.env_names.end());
  rules.env_names.erase(std::unique(rules.env_names.begin(), rules.env_names.end()),
                        rules.env_names.end());
  static const char kHex[] = "0123456789abcdef";
  rules.digest = "sha256:";
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    rules.digest += kHex[digest[i] >> 4];
    rules.digest += kHex[digest[i] & 15];
  }
  return rules;
}

}  // namespace credsentry::catalogue
