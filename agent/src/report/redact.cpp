#include "report/redact.h"

#include <algorithm>

namespace credsentry::report {
namespace {

void AppendPrintable(std::string& out, std::string_view part) {
  for (char c : part) out.push_back(c >= 0x21 && c <= 0x7e ? c : '?');
}

}  // namespace

std::string Redact(std::string_view secret, size_t prefix) {
  size_t budget = secret.size() > kMinHiddenChars ? secret.size() - kMinHiddenChars : 0;
  size_t head = std::min(prefix, budget);
  size_t tail = std::min(kPreviewSuffix, budget - head);
  std::string out;
  AppendPrintable(out, secret.substr(0, head));
  out += "\u2026";
  AppendPrintable(out, secret.substr(secret.size() - tail));
  return out;
}

}  // namespace credsentry::report
