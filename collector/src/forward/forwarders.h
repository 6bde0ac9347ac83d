// Every forwarder `serve` was asked for, built from its flags and told about each fresh alert
// (stored ones and the fleet correlator's own). Start-up errors name the flag and what is wrong.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "forward/http_forwarder.h"
#include "ingest/collector_service.h"

namespace credsentry::collector {

struct ForwardSettings {
  std::string webhook_url;        // --webhook
  std::string slack_url;          // --slack
  std::string splunk_url;         // --splunk
  std::string splunk_token_file;  // --splunk-token-file
  std::string ca_file;            // --forward-ca: trust for https endpoints instead of the system's
  bool syslog = false;            // --syslog
  DeliveryOptions delivery;       // queue and retry bounds; formats may batch on top
};

class Forwarders final : public IngestObserver {
 public:
  static Result<std::unique_ptr<Forwarders>> Open(const ForwardSettings& settings);
  void OnFreshAlert(const v1::Alert& alert) override;
  // Stops every HTTP forwarder (see HttpForwarder::Stop): read Counters after it, so that the
  // alerts still queued at shutdown show in *_dropped_at_shutdown.
  void Stop();

  // Each HTTP forwarder's counters by its name ("slack" -> {"sent", ...}), named once by
  // CREDSENTRY_FORWARD_COUNTERS: /metrics labels them by forwarder.
  std::map<std::string, std::map<std::string, uint64_t>> CountersByForwarder() const;
  // The same, flat: webhook_sent, slack_dropped_queue_full, ... for the stop log.
  std::map<std::string, uint64_t> Counters() const;
  const std::vector<std::unique_ptr<HttpForwarder>>& http() const { return http_; }

 private:
  std::vector<std::unique_ptr<HttpForwarder>> http_;
  std::vector<std::unique_ptr<IngestObserver>> others_;  // syslog
};

}  // namespace credsentry::collector
