#include "report/alert_text.h"

#include <cstdio>
#include <string_view>

#include "report/alert_json.h"

namespace credsentry::report {
namespace {

// "2026-12-02 06:50:01Z": seconds are enough to a reader; the JSON form keeps nanoseconds.
std::string ShortUtcTime(uint64_t wall_ns) {
  std::string iso = IsoTime(wall_ns).substr(0, 19);  // 2026-12-02T06:50:01
  iso[10] = ' ';
  return iso + "Z";
}

// Bytes below 0x20 and DEL become \xNN: a process name is chosen by whoever ran it.
void AppendPrintable(std::string_view text, std::string& out) {
  for (char c : text) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) {
      char esc[5];
      snprintf(esc, sizeof esc, "\\x%02x", b);
      out += esc;
    } else {
      out.push_back(c);
    }
  }
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// "hmac-sha256:1f2e3d4c…": enough of the fingerprint to tell alerts apart by eye.
std::string ShortFingerprint(const std::string& fp) {
  constexpr size_t kHexShown = 12;
  size_t colon = fp.find(':');
  size_t keep = (colon == std::string::npos ? 0 : colon + 1) + kHexShown;
  return fp.size() <= keep ? fp : fp.substr(0, keep) + "\u2026";
}

}  // namespace

std::string AlertToTextLine(const alert::Alert& a) {
  std::string out = ShortUtcTime(a.time_ns) + " " + Upper(alert::SeverityName(a.severity)) + " ";
  AppendPrintable(a.kind, out);
  out += " ";
  AppendPrintable(a.summary, out);
  const auto& d = a.destination;
  if (!d.host.empty() || !d.ip.empty()) {
    out += " -> ";
    const bool bare_v6 = d.host.empty() && d.ip.find(':') != std::string::npos;
    if (bare_v6) out += "[";
    AppendPrintable(d.host.empty() ? d.ip : d.host, out);
    if (bare_v6) out += "]";
    if (d.port != 0) out += ":" + std::to_string(d.port);
  }
  if (!a.secret.type.empty() || !a.secret.fingerprint.empty()) {
    out += " [";
    AppendPrintable(a.secret.type, out);
    if (!a.secret.redacted.empty()) {
      out += " ";
      AppendPrintable(a.secret.redacted, out);
    }
    if (!a.secret.fingerprint.empty()) {
      out += ", ";
      AppendPrintable(ShortFingerprint(a.secret.fingerprint), out);
    }
    out += "]";
  }
  out += " id ";
  AppendPrintable(a.id, out);
  return out;
}

}  // namespace credsentry::report
