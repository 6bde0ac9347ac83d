// How bad a finding is: one scale for the catalogue's kinds and for every alert.
#pragma once

namespace credsentry::alert {

enum class Severity { kLow, kMedium, kHigh, kCritical };

// "low", "medium", "high", "critical": the spelling of rule files, JSON and the collector.
const char* SeverityName(Severity s);

// One step down (never below low): for findings the agent is less sure of.
Severity LowerSeverity(Severity s);

}  // namespace credsentry::alert
