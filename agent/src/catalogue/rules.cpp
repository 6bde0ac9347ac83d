#include "catalogue/rules.h"

#include <algorithm>
#include <cctype>

#include "decode/ip_address.h"

namespace credsentry::catalogue {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

const CredentialKind* RuleSet::FindKind(std::string_view id) const {
  for (const auto& k : kinds) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::vector<std::string> RuleSet::ExpectedDestinations(const CredentialFile& file) const {
  std::vector<std::string> out;
  auto add = [&](const std::string& glob) {
    if (std::find(out.begin(), out.end(), glob) == out.end()) out.push_back(glob);
  };
  for (const auto& glob : file.destinations) add(glob);
  for (const auto& kind_id : file.kinds) {
    if (const CredentialKind* k = FindKind(kind_id)) {
      for (const auto& glob : k->destinations) add(glob);
    }
  }
  return out;
}

bool HostMatchesGlob(std::string_view host, std::string_view glob) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return false;
  if (glob.starts_with("*.")) {
    std::string_view suffix = glob.substr(1);  // ".example.com"
    return host.size() > suffix.size() &&
           EqualsIgnoreCase(host.substr(host.size() - suffix.size()), suffix);
  }
  return EqualsIgnoreCase(host, glob);
}

bool IsValidHostGlob(std::string_view glob, std::string* why) {
  // An address is an entry too (a gateway reached by IP), IPv6 ones included.
  if (!decode::CanonicalIp(glob).empty()) return true;
  std::string_view rest = glob;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty()) {
    *why = "no host name";
    return false;
  }
  if (rest.find('*') != std::string_view::npos) {
    *why = "'*' is allowed only as the whole first label, as in *.example.com";
    return false;
  }
  size_t label = 0;
  for (size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == '.') {
      if (label == 0 || label > 63) {
        *why = "empty or over-long label";
        return false;
      }
      label = 0;
      continue;
    }
    char c = rest[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      *why = std::string("character '") + c + "' cannot appear in a host name";
      return false;
    }
    ++label;
  }
  return true;
}

bool DestinationAllowed(const CredentialKind& kind, std::string_view host) {
  if (kind.never_sent) return false;
  return std::any_of(kind.destinations.begin(), kind.destinations.end(),
                     [&](const std::string& g) { return HostMatchesGlob(host, g); });
}

}  // namespace credsentry::catalogue
