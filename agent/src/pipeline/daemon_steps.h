// The start-up steps RunDaemon (daemon.h) takes that need no probes, and that reload takes
// again: compiling the catalogue, opening the outputs, priming state from /proc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/agent_config.h"
#include "loader/kernel_tables.h"
#include "match/matcher.h"
#include "pipeline/pipeline.h"
#include "pipeline/stats_file.h"
#include "report/collector_sink.h"
#include "report/fingerprint.h"
#include "report/sink.h"
#include "state/scope.h"

namespace credsentry::pipeline {

using Catalogue = std::shared_ptr<const match::MatcherDatabase>;

// The rules of cfg.rules_dirs, compiled. At start a bad catalogue stops the agent before
// anything is attached; on reload it is refused and the rules in force stay.
Result<Catalogue> CompileCatalogue(const config::AgentConfig& cfg);

struct Outputs {
  report::Fingerprinter fingerprinter;
  std::vector<std::unique_ptr<report::AlertSink>> sinks;  // the alerts file first
  // One of `sinks` when a collector is configured. Not started: its threads are to be born
  // after the capability drop, without what was dropped.
  report::CollectorSink* collector = nullptr;
};

// The fingerprint key (created with a 0700 directory when missing), the alerts file and the
// collector, whose heartbeats carry `heartbeat_stats`. Errors name the output that failed.
Result<Outputs> OpenOutputs(const config::AgentConfig& cfg, const StatsSnapshot& heartbeat_stats);

// What predates the agent: the processes in scope and their connected sockets, which `fds`
// watches from now on; in whole-host mode also the credentials stored in the catalogue's files,
// which the pipeline then knows and which are returned for the collector.
std::vector<report::StoredCredential> PrimeState(Pipeline& pipeline, const state::Scope& scope,
                                                 loader::WatchedFdTable& fds,
                                                 const Catalogue& catalogue,
                                                 const report::Fingerprinter& fp);

std::string Hostname();

// systemd Type=notify without linking libsystemd: one datagram ("READY=1", ...) to
// $NOTIFY_SOCKET, when it is set.
void NotifySystemd(const char* state);

}  // namespace credsentry::pipeline
