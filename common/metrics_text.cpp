#include "common/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace credsentry::metrics {
namespace {

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string Escaped(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

// Counters are integers and print as such (no 1e+06); other values in shortest round-trip form.
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e18) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

std::string MetricName(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + 1);
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

Family& Exposition::FamilyNamed(std::string_view name, std::string_view help, MetricType type) {
  for (auto& f : families_) {
    if (f.name == name) return f;
  }
  families_.push_back({std::string(name), std::string(help), type, {}});
  return families_.back();
}

void Exposition::Add(std::string_view name, std::string_view help, MetricType type, double value,
                     Labels labels) {
  FamilyNamed(name, help, type).samples.push_back({"", std::move(labels), value});
}

void Exposition::AddHistogram(std::string_view name, std::string_view help,
                              const HistogramCounts& h, Labels labels) {
  Family& f = FamilyNamed(name, help, MetricType::kHistogram);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.upper_bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    Labels with_le = labels;
    with_le.emplace_back("le", i < h.upper_bounds.size() ? Number(h.upper_bounds[i]) : "+Inf");
    f.samples.push_back({"_bucket", std::move(with_le), static_cast<double>(cumulative)});
  }
  f.samples.push_back({"_sum", labels, h.sum});
  f.samples.push_back({"_count", std::move(labels), static_cast<double>(cumulative)});
}

std::string Exposition::Text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + Escaped(f.help, false) + "\n";
    out += "# TYPE " + f.name + " " + TypeName(f.type) + "\n";
    for (const auto& s : f.samples) {
      out += f.name + s.suffix;
      if (!s.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i) out += ',';
          out += MetricName(s.labels[i].first) + "=\"" + Escaped(s.labels[i].second, true) + "\"";
        }
        out += '}';
      }
      out += ' ' + Number(s.value) + '\n';
    }
  }
  return out;
}

}  // namespace credsentry::metrics
