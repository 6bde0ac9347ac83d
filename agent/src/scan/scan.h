// `credsentry-agent scan PATH...`: the credential catalogue over files, directory trees and
// stdin, with the same stream matcher the agent runs on connections. Users audit hosts and
// images with it; it is also how the catalogue is tested from outside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "report/fingerprint.h"
#include "match/matcher.h"

namespace credsentry::scan {

struct ScanLimits {
  size_t max_files = 1'000'000;  // files opened in one run, all paths together
  size_t max_depth = 64;         // directory nesting followed
  uint64_t max_findings = 100'000;
};

struct ScanSummary {
  uint64_t files = 0, bytes = 0, findings = 0;
  uint64_t skipped = 0;    // unreadable entries and non-regular files inside directory walks
  uint64_t errors = 0;     // named paths that could not be scanned, read errors
  bool truncated = false;  // a limit in ScanLimits was reached
};

// Scans every path ("-" is stdin; directories recursively, symlinks not followed) and prints one
// JSON line per finding to `out`: {kind, provider, name, severity, path, line, redacted,
// fingerprint}; never the value. Messages go to `err`. Returns 2 when a named path could not be
// scanned, else 1 when anything was found, else 0.
int RunScan(const std::vector<std::string>& paths, const match::MatcherDatabase& db,
            const report::Fingerprinter& fingerprints, std::ostream& out, std::ostream& err,
            const ScanLimits& limits = {}, ScanSummary* summary = nullptr);

}  // namespace credsentry::scan
