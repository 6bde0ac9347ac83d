// Field-by-field validation of one rule file. Typos must not be silently ignored: every key is
// checked against the known set, and every rejection names file:line and the reason.
#include "catalogue/rules_parse.h"

#include <hs/hs.h>

#include <algorithm>
#include <set>

#include "catalogue/rules_charset.h"
#include "catalogue/validators.h"

namespace credsentry::catalogue::internal {
namespace {

constexpr size_t kMaxPreviewPrefix = 16;

int LineOf(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

bool IsEnvName(std::string_view s) {
  if (s.empty() || s.size() > 128 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

class FileParser {
 public:
  explicit FileParser(std::string path) : path_(std::move(path)) {}

  Error At(const YAML::Node& n, const std::string& what) const {
    return Error{path_ + ":" + std::to_string(LineOf(n)) + ": " + what};
  }
  std::string Where(const YAML::Node& n) const { return path_ + ":" + std::to_string(LineOf(n)); }

  // Typos must not be silently ignored: every key is checked against the known set, and a key
  // given twice is an error too (yaml-cpp would keep one of them without a word).
  Status CheckFields(const YAML::Node& map, const std::string& what,
                     std::initializer_list<std::string_view> allowed) const {
    if (!map.IsMap()) return At(map, what + " must be a mapping");
    std::set<std::string> seen;
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return At(kv.first, "unknown field '" + key + "' in " + what + " (known: " + list + ")");
      }
      if (!seen.insert(key).second) return At(kv.first, "field '" + key + "' given twice");
    }
    return Status::Ok();
  }

  Result<std::string> String(const YAML::Node& map, const char* key, const std::string& what,
                             bool required) const {
    YAML::Node n = map[key];
    if (!n) {
      if (required) return At(map, what + " is missing required field '" + key + "'");
      return std::string();
    }
    if (!n.IsScalar()) return At(n, std::string("field '") + key + "' must be a string");
    if (required && n.Scalar().empty()) return At(n, std::string("field '") + key + "' is empty");
    return n.Scalar();
  }

  Result<std::vector<std::string>> List(const YAML::Node& map, const char* key) const {
    std::vector<std::string> out;
    YAML::Node n = map[key];
    if (!n) return out;
    if (!n.IsSequence()) return At(n, std::string("field '") + key + "' must be a list");
    for (const auto& item : n) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        return At(item, std::string("'") + key + "' entries must be non-empty strings");
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  // The `destinations` list of a kind or a credential file: host globs or addresses.
  Result<std::vector<std::string>> Destinations(const YAML::Node& map) const {
    auto dests = List(map, "destinations");
    if (!dests) return dests.error();
    for (size_t i = 0; i < dests->size(); ++i) {
      std::string why;
      if (!IsValidHostGlob((*dests)[i], &why)) {
        return At(map["destinations"][i], "bad destination glob '" + (*dests)[i] + "': " + why);
      }
    }
    return dests;
  }

  Result<bool> Bool(const YAML::Node& map, const char* key, bool fallback) const {
    YAML::Node n = map[key];
    if (!n) return fallback;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return At(n, std::string("field '") + key + "' must be true or false");
    }
    return v;
  }

  Result<ParsedFile> Parse(const YAML::Node& root) const;

 private:
  Result<CredentialKind> ParseKind(const YAML::Node& n, bool* enabled) const;
  Result<CredentialFile> ParseFile(const YAML::Node& n) const;
  Result<SiteOverride> ParseOverride(const YAML::Node& n) const;

  std::string path_;
};

Result<alert::Severity> ParseSeverity(std::string_view s) {
  if (s == "low") return alert::Severity::kLow;
  if (s == "medium") return alert::Severity::kMedium;
  if (s == "high") return alert::Severity::kHigh;
  if (s == "critical") return alert::Severity::kCritical;
  return Error{"severity '" + std::string(s) + "' is not one of low, medium, high, critical"};
}

// Compiles the kind's bounded expression alone, so a Hyperscan error names its rule.
Status CheckPattern(const CredentialKind& k, const ByteSet& charset) {
  std::string expr = BoundedExpression(k.pattern, charset, k.left_boundary);
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  hs_error_t rc = hs_compile(expr.c_str(), PatternFlags(), HS_MODE_STREAM, nullptr, &db, &err);
  if (rc != HS_SUCCESS) {
    std::string why = err && err->message ? err->message : "unknown Hyperscan error";
    hs_free_compile_error(err);
    return Error{"pattern of '" + k.id + "' does not compile with Hyperscan: " + why};
  }
  hs_free_database(db);
  return Status::Ok();
}

Result<CredentialKind> FileParser::ParseKind(const YAML::Node& n, bool* enabled) const {
  if (!n.IsMap()) return At(n, "credential entry must be a mapping");
  std::string what = "credential";
  if (n["id"] && n["id"].IsScalar()) what += " '" + n["id"].Scalar() + "'";
  if (auto s = CheckFields(
          n, what,
          {"id", "provider", "name", "severity", "pattern", "charset", "preview_prefix", "boundary",
           "validate", "destinations", "never_sent", "env", "note", "enabled"});
      !s) {
    return Error{s.message()};
  }
  CredentialKind k;
  k.source_file = path_;
  k.source_line = LineOf(n);
  auto id = String(n, "id", what, true);
  if (!id) return id.error();
  k.id = *id;
  auto en = Bool(n, "enabled", true);
  if (!en) return en.error();
  *enabled = *en;
  // A drop-in may switch a shipped kind off with just {id, enabled: false}.
  if (!*enabled) return k;

  auto provider = String(n, "provider", what, true);
  auto name = String(n, "name", what, true);
  auto pattern = String(n, "pattern", what, true);
  auto charset = String(n, "charset", what, true);
  auto severity = String(n, "severity", what, false);
  auto note = String(n, "note", what, false);
  for (auto* r : {&provider, &name, &pattern, &charset, &severity, &note}) {
    if (!*r) return r->error();
  }
  k.provider = *provider;
  k.name = *name;
  k.pattern = *pattern;
  k.charset = *charset;
  k.note = *note;
  if (!severity->empty()) {
    auto sev = ParseSeverity(*severity);
    if (!sev) return At(n["severity"], sev.message());
    k.severity = *sev;
  }
  if (YAML::Node p = n["preview_prefix"]) {
    long v = -1;
    if (!p.IsScalar() || !YAML::convert<long>::decode(p, v) || v < 0 ||
        v > static_cast<long>(kMaxPreviewPrefix)) {
      return At(p,
                "preview_prefix must be an integer from 0 to " + std::to_string(kMaxPreviewPrefix));
    }
    k.preview_prefix = static_cast<size_t>(v);
  }
  auto boundary = String(n, "boundary", what, false);
  if (!boundary) return boundary.error();
  if (*boundary == "end") {
    k.left_boundary = false;
  } else if (!boundary->empty() && *boundary != "both") {
    return At(n["boundary"], "boundary '" + *boundary + "' is not one of both, end");
  }
  auto validators = List(n, "validate");
  if (!validators) return validators.error();
  for (size_t i = 0; i < validators->size(); ++i) {
    if (!catalogue::FindValidator((*validators)[i])) {
      std::string known;
      for (const auto& v : catalogue::ValidatorNames()) known += (known.empty() ? "" : ", ") + v;
      return At(n["validate"][i],
                "unknown validator '" + (*validators)[i] + "' (known: " + known + ")");
    }
  }
  k.validators = *validators;
  auto dests = Destinations(n);
  if (!dests) return dests.error();
  k.destinations = *dests;
  auto never = Bool(n, "never_sent", false);
  if (!never) return never.error();
  k.never_sent = *never;
  if (k.never_sent && !k.destinations.empty()) {
    return At(n, what + " has both never_sent and destinations");
  }
  if (!k.never_sent && k.destinations.empty()) {
    return At(n, what + " needs destinations (or never_sent: true)");
  }
  auto env = List(n, "env");
  if (!env) return env.error();
  for (size_t i = 0; i < env->size(); ++i) {
    if (!IsEnvName((*env)[i])) {
      return At(n["env"][i], "'" + (*env)[i] + "' is not an environment variable name");
    }
  }
  k.env_vars = *env;

  auto set = ParseCharset(k.charset);
  if (!set) return At(n["charset"], "bad charset: " + set.message());
  if (auto s = CheckPattern(k, *set); !s) return At(n["pattern"], s.message());
  return k;
}

Status CheckCredentialPath(const std::string& p) {
  if (p.rfind("**/", 0) == 0) {
    // "**/dir/name": that file in any directory (.git/config of every checkout), matched in the
    // kernel by its last two names only; nothing to expand or stat.
    std::string_view rest = std::string_view(p).substr(3);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size() ||
        rest.find('/', slash + 1) != std::string_view::npos ||
        rest.find_first_of("*?[") != std::string_view::npos || rest.substr(0, slash) == "..") {
      return Error{"path '" + p + "': **/ must be followed by exactly dir/name, without wildcards"};
    }
    return Status::Ok();
  }
  if (p.rfind("~/", 0) != 0 && p.rfind("/", 0) != 0) {
    return Error{"path '" + p + "' must start with ~/ or / (or **/ for any directory)"};
  }
  if (p.find("/../") != std::string::npos || p.ends_with("/..")) {
    return Error{"path '" + p + "' must not contain .."};
  }
  size_t last = p.rfind('/');
  if (p.find_first_of("*?[") < last) {
    return Error{"path '" + p + "' may use wildcards only in its last component"};
  }
  if (last + 1 == p.size()) return Error{"path '" + p + "' names a directory, not a file"};
  return Status::Ok();
}

Result<CredentialFile> FileParser::ParseFile(const YAML::Node& n) const {
  std::string what = "credential file";
  if (n.IsMap() && n["id"] && n["id"].IsScalar()) what += " '" + n["id"].Scalar() + "'";
  if (auto s = CheckFields(n, what, {"id", "paths", "kinds", "destinations", "note"}); !s) {
    return Error{s.message()};
  }
  CredentialFile f;
  f.source_file = path_;
  f.source_line = LineOf(n);
  auto id = String(n, "id", what, true);
  if (!id) return id.error();
  f.id = *id;
  auto paths = List(n, "paths");
  if (!paths) return paths.error();
  if (paths->empty()) return At(n, what + " is missing required field 'paths'");
  for (size_t i = 0; i < paths->size(); ++i) {
    if (auto s = CheckCredentialPath((*paths)[i]); !s) return At(n["paths"][i], s.message());
  }
  f.paths = *paths;
  auto kinds = List(n, "kinds");
  if (!kinds) return kinds.error();
  f.kinds = *kinds;
  auto dests = Destinations(n);
  if (!dests) return dests.error();
  f.destinations = *dests;
  auto note = String(n, "note", what, false);
  if (!note) return note.error();
  return f;
}

Result<SiteOverride> FileParser::ParseOverride(const YAML::Node& n) const {
  if (auto s = CheckFields(n, "destinations override", {"kinds", "allow", "note"}); !s) {
    return Error{s.message()};
  }
  SiteOverride o;
  o.where = Where(n);
  auto kinds = List(n, "kinds");
  if (!kinds) return kinds.error();
  if (kinds->empty()) return At(n, "destinations override is missing required field 'kinds'");
  auto allow = List(n, "allow");
  if (!allow) return allow.error();
  if (allow->empty()) return At(n, "destinations override is missing required field 'allow'");
  for (size_t i = 0; i < allow->size(); ++i) {
    std::string why;
    if (!IsValidHostGlob((*allow)[i], &why)) {
      return At(n["allow"][i], "bad destination glob '" + (*allow)[i] + "': " + why);
    }
  }
  o.kind_globs = *kinds;
  o.allow = *allow;
  return o;
}

Result<ParsedFile> FileParser::Parse(const YAML::Node& root) const {
  ParsedFile out;
  if (!root || root.IsNull()) return out;  // an empty drop-in is allowed
  if (auto s = CheckFields(root, "rule file",
                           {"version", "credentials", "credential_files", "destinations",
                            "credential_env"});
      !s) {
    return Error{s.message()};
  }
  YAML::Node version = root["version"];
  if (!version) return At(root, "rule file is missing required field 'version'");
  if (!version.IsScalar() || version.Scalar() != "1") {
    return At(version, "unsupported rules version '" + version.Scalar() + "' (this agent reads 1)");
  }
  auto section = [&](const char* key) -> Result<YAML::Node> {
    YAML::Node n = root[key];
    if (n && !n.IsSequence()) return At(n, std::string("'") + key + "' must be a list");
    return n;
  };
  auto creds = section("credentials");
  if (!creds) return creds.error();
  if (*creds) {
    for (const auto& item : *creds) {
      bool enabled = true;
      auto k = ParseKind(item, &enabled);
      if (!k) return k.error();
      out.kinds.push_back(std::move(*k));
      out.kind_enabled.push_back(enabled);
    }
  }
  auto files = section("credential_files");
  if (!files) return files.error();
  if (*files) {
    for (const auto& item : *files) {
      auto f = ParseFile(item);
      if (!f) return f.error();
      out.files.push_back(std::move(*f));
    }
  }
  auto env = List(root, "credential_env");
  if (!env) return env.error();
  for (size_t i = 0; i < env->size(); ++i) {
    if (!IsEnvName((*env)[i])) {
      return At(root["credential_env"][i],
                "'" + (*env)[i] + "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
  }
  out.env_names = *env;
  auto overrides = section("destinations");
  if (!overrides) return overrides.error();
  if (*overrides) {
    for (const auto& item : *overrides) {
      auto o = ParseOverride(item);
      if (!o) return o.error();
      out.overrides.push_back(std::move(*o));
    }
  }
  return out;
}

}  // namespace

Result<ParsedFile> ParseRuleFile(const std::string& path, const YAML::Node& root) {
  return FileParser(path).Parse(root);
}

}  // namespace credsentry::catalogue::internal
