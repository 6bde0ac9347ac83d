#include "detect/provenance.h"

#include <algorithm>

#include "alert/alert_id.h"

namespace credsentry::detect {
namespace {

std::string DestinationKey(const alert::Destination& d) {
  return (d.host.empty() ? d.ip : d.host) + ":" + std::to_string(d.port);
}

bool Allowed(const std::vector<std::string>& globs, const alert::Destination& dest) {
  if (dest.host.empty()) return false;  // an IP alone never proves a legitimate service
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return catalogue::HostMatchesGlob(dest.host, g); });
}

}  // namespace

std::vector<state::CredentialRead> CredentialReadsWithin(const state::ProcessTable& procs,
                                                         uint32_t pid, uint64_t now_mono_ns,
                                                         uint64_t window_ns) {
  return procs.CredentialReadsInLineage(pid, now_mono_ns > window_ns ? now_mono_ns - window_ns : 0);
}

ProvenanceTracker::ProvenanceTracker(ProvenanceOptions options)
    : options_(options), reported_(options.taint_ns, options.max_reported) {}

bool ProvenanceTracker::Tainted(const state::ProcessTable& procs, uint32_t pid,
                                uint64_t now_mono_ns) const {
  return !CredentialReadsWithin(procs, pid, now_mono_ns, options_.taint_ns).empty();
}

std::vector<std::string> ExpectedDestinationsOfFile(const catalogue::RuleSet& rules,
                                                    uint32_t cred_id) {
  if (cred_id == 0 || cred_id > rules.files.size()) return {};
  return rules.ExpectedDestinations(rules.files[cred_id - 1]);
}

bool DestinationExpectedForFile(const catalogue::RuleSet& rules, uint32_t cred_id,
                                const alert::Destination& dest) {
  return Allowed(ExpectedDestinationsOfFile(rules, cred_id), dest);
}

std::vector<state::CredentialRead> ProvenanceTracker::UnexpectedReads(
    const state::ProcessTable& procs, const catalogue::RuleSet& rules, uint32_t pid,
    const alert::Destination& dest, uint64_t now_mono_ns) const {
  std::vector<state::CredentialRead> out;
  for (auto& read : CredentialReadsWithin(procs, pid, now_mono_ns, options_.taint_ns)) {
    if (!DestinationExpectedForFile(rules, read.cred_id, dest)) {
      out.push_back(std::move(read));
    }
  }
  return out;
}

bool ProvenanceTracker::FirstReport(uint32_t pid, const alert::Destination& dest,
                                    uint64_t now_mono_ns) {
  return reported_.FirstTime(std::to_string(pid) + "|" + DestinationKey(dest), now_mono_ns);
}

bool ProvenanceTracker::Defer(uint32_t pid, const alert::Destination& dest, alert::Alert alert,
                              uint64_t now_mono_ns) {
  if (pending_.size() >= options_.max_pending) {
    ++pending_dropped_;
    return false;
  }
  pending_[std::to_string(pid) + "|" + DestinationKey(dest)] = {
      now_mono_ns + options_.report_delay_ns, std::move(alert)};
  return true;
}

void ProvenanceTracker::Covered(uint32_t pid, const alert::Destination& dest,
                                uint64_t now_mono_ns) {
  const std::string key = std::to_string(pid) + "|" + DestinationKey(dest);
  if (pending_.erase(key)) ++covered_;
  reported_.FirstTime(key, now_mono_ns);  // marks it: no tainted-egress for it later
}

bool ProvenanceTracker::Supersede(uint32_t pid, const alert::Destination& dest,
                                  uint64_t now_mono_ns) {
  const std::string key = std::to_string(pid) + "|" + DestinationKey(dest);
  if (pending_.erase(key)) {
    ++covered_;
    return true;
  }
  return reported_.FirstTime(key, now_mono_ns);
}

std::vector<alert::Alert> ProvenanceTracker::TakeDue(uint64_t now_mono_ns, bool all) {
  std::vector<std::pair<uint64_t, alert::Alert>> due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (all || it->second.due_ns <= now_mono_ns) {
      due.emplace_back(it->second.due_ns, std::move(it->second.alert));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<alert::Alert> out;
  for (auto& [t, a] : due) out.push_back(std::move(a));
  return out;
}

alert::Alert TaintedEgressAlert(const std::string& comm, uint32_t pid,
                                 const std::vector<state::CredentialRead>& reads,
                                 const catalogue::RuleSet& rules,
                                 const ResolvedDestination& resolved) {
  const alert::Destination& dest = resolved.where;
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.kind = "tainted-egress";
  a.severity = alert::Severity::kHigh;
  const state::CredentialRead& first = reads.front();
  if (first.cred_id != 0 && first.cred_id <= rules.files.size()) {
    a.secret.type = rules.files[first.cred_id - 1].id;  // the file's id: no value was matched
  }
  a.secret.found_in = alert::FoundIn::kProvenance;
  a.destination = dest;
  a.destination.expected = ExpectedDestinationsOfFile(rules, first.cred_id);
  const std::string where = dest.host.empty() ? dest.ip : dest.host;
  a.summary = comm + " (pid " + std::to_string(pid) + ") sent data to " + where + ":" +
              std::to_string(dest.port) + " after " +
              (first.pid == pid ? "reading "
                                : first.comm + " (pid " + std::to_string(first.pid) + ") read ") +
              first.path;
  a.evidence.notes = resolved.notes;
  if (first.via_pipe) {
    a.evidence.notes.push_back(first.comm + " (pid " + std::to_string(first.pid) + ") read " +
                               first.path + " and its output reached this process's stdin " +
                               "through a pipe");
  }
  a.evidence.notes.push_back(
      "no credential format matched: the process is tainted by the credential-file read, and " +
      where + " is not a destination expected for " +
      (a.secret.type.empty() ? first.path : a.secret.type));
  return a;
}

}  // namespace credsentry::detect
