#include "report/text_redaction.h"

#include <algorithm>

#include "match/matcher.h"
#include "report/redact.h"
#include "report/secret_shapes.h"

namespace credsentry::report {

void TextRedactor::Remember(std::string_view value) {
  if (value.size() < kMinValueBytes || value.size() > kMaxValueBytes) return;
  if (values_.size() >= kMaxValues) {
    if (!values_.contains(std::string(value))) ++dropped_;
    return;
  }
  values_.emplace(value);
}

std::string TextRedactor::Redact(std::string_view text,
                                 const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                                 std::span<const HiddenValue> also) const {
  std::string out(text);
  std::vector<std::pair<std::string, size_t>> found;
  for (const HiddenValue& h : also) {
    if (!h.value.empty()) found.emplace_back(std::string(h.value), h.prefix);
  }
  if (catalogue) {
    // Arguments can carry keys (curl -H "Authorization: Bearer ..."): the catalogue names them and
    // knows how much of their prefix is safe to show.
    match::MatchStream scan(catalogue);
    auto collect = [&](const match::SecretMatch& m) {
      if (m.value_available && m.kind_index < catalogue->rules().kinds.size()) {
        found.emplace_back(m.value, catalogue->rules().kinds[m.kind_index].preview_prefix);
      }
    };
    scan.Feed(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), collect);
    scan.Close(collect);
  }
  for (const std::string& v : values_) {
    if (out.find(v) != std::string::npos) found.emplace_back(v, 0);
  }
  // Longest first, so a value inside a longer one does not leave the rest of the longer one.
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [value, prefix] : found) {
    const std::string shown = report::Redact(value, prefix);
    for (size_t pos = out.find(value); pos != std::string::npos; pos = out.find(value, pos)) {
      out.replace(pos, value.size(), shown);
      pos += shown.size();
    }
  }
  return RedactSecretShapes(out);
}

void RedactAlertText(alert::Alert& alert, const TextRedactor& redactor,
                     const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                     HiddenValue also) {
  auto hide = [&](std::string& s) {
    if (!s.empty()) s = redactor.Redact(s, catalogue, std::span(&also, 1));
  };
  hide(alert.summary);
  hide(alert.process.comm);
  hide(alert.process.exe);
  for (auto& name : alert.process.credential_env) hide(name);  // names only, but names are input
  for (auto& a : alert.process.ancestors) {
    hide(a.comm);
    hide(a.exe);
  }
  for (auto& r : alert.evidence.credential_reads) {
    hide(r.path);
    hide(r.comm);
  }
  for (auto& n : alert.evidence.notes) hide(n);
  hide(alert.destination.host);
  hide(alert.ci.repository);
  hide(alert.ci.workflow);
  hide(alert.ci.job);
  hide(alert.target.comm);
  hide(alert.target.exe);
}

}  // namespace credsentry::report
