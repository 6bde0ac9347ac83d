// The Prometheus text exposition format (version 0.0.4), as `promtool check metrics` reads it:
// one HELP and one TYPE line per family, then its samples. The agent and the collector describe
// their counters as families; this file owns escaping, number formatting and histogram lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace credsentry::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string suffix;  // "" or, in a histogram, "_bucket", "_sum", "_count"
  Labels labels;
  double value = 0;
};

struct Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<Sample> samples;
};

// Upper bounds in seconds and the observations at or below each (not cumulative); the last
// count is what fell above every bound.
struct HistogramCounts {
  std::vector<double> upper_bounds;
  std::vector<uint64_t> counts;  // upper_bounds.size() + 1
  double sum = 0;
};

// Families in the order they were first named; a sample added under an existing name joins
// that family, so labelled series (drops by reason) share one HELP and TYPE.
class Exposition {
 public:
  void Add(std::string_view name, std::string_view help, MetricType type, double value,
           Labels labels = {});
  // name_bucket{le=...} (cumulative, ending with +Inf), name_sum and name_count.
  void AddHistogram(std::string_view name, std::string_view help, const HistogramCounts& h,
                    Labels labels = {});
  const std::vector<Family>& families() const { return families_; }
  std::string Text() const;

 private:
  Family& FamilyNamed(std::string_view name, std::string_view help, MetricType type);
  std::vector<Family> families_;
};

// A metric or label name made of [a-zA-Z0-9_] (a leading digit gets a '_' in front): stats keys
// are already snake_case, this only guards the format against a key that is not.
std::string MetricName(std::string_view raw);

// "text/plain; version=0.0.4; charset=utf-8", what Prometheus expects of this format.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace credsentry::metrics
