// The credential inventory: which credential kinds are stored where on this host (path, owner,
// kind, fingerprint, redacted preview, file age), never the values. Sent to the collector so
// it can answer "where does this key live". Built only in whole-host mode: a scoped agent
// (--cgroup) reads nothing outside its scope, files of other users included.
#pragma once

#include <vector>

#include "report/collector_sink.h"
#include "report/fingerprint.h"
#include "match/matcher.h"

namespace credsentry::pipeline {

// Reads each credential file of the catalogue (bounded: regular files up to 1 MiB, at most
// kMaxInventoryFiles) and matches it with the catalogue.
std::vector<report::StoredCredential> BuildInventory(
    const std::shared_ptr<const match::MatcherDatabase>& db,
    const report::Fingerprinter& fp);

inline constexpr size_t kMaxInventoryFiles = 4096;

}  // namespace credsentry::pipeline
