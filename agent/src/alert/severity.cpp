#include "alert/severity.h"

namespace credsentry::alert {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
    case Severity::kCritical: return "critical";
  }
  return "high";
}

Severity LowerSeverity(Severity s) {
  switch (s) {
    case Severity::kCritical: return Severity::kHigh;
    case Severity::kHigh: return Severity::kMedium;
    default: return Severity::kLow;
  }
}

}  // namespace credsentry::alert
