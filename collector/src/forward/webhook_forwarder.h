// The generic JSON webhook: each newly stored alert as one JSON POST (http:// or https://),
// through the shared HttpForwarder loop. Syslog: each alert's JSON as one line on the local
// syslog, which queues for us.
#pragma once

#include "forward/http_forwarder.h"
#include "ingest/collector_service.h"

namespace credsentry::collector {

HttpFormat WebhookFormat();

class SyslogForwarder final : public IngestObserver {
 public:
  SyslogForwarder();
  ~SyslogForwarder() override;
  void OnFreshAlert(const v1::Alert& alert) override;
};

}  // namespace credsentry::collector
