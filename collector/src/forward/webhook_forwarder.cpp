#include "forward/webhook_forwarder.h"

#include <syslog.h>

#include "store/alert_store.h"

namespace credsentry::collector {

HttpFormat WebhookFormat() {
  HttpFormat f;
  f.name = "webhook";
  f.payload = [](const v1::Alert& alert) { return AlertToJson(alert); };
  return f;
}

SyslogForwarder::SyslogForwarder() { openlog("credsentry-collector", LOG_PID, LOG_AUTH); }
SyslogForwarder::~SyslogForwarder() { closelog(); }

void SyslogForwarder::OnFreshAlert(const v1::Alert& alert) {
  int prio = alert.severity() >= v1::SEVERITY_CRITICAL ? LOG_CRIT
             : alert.severity() >= v1::SEVERITY_HIGH   ? LOG_ERR
                                                       : LOG_WARNING;
  syslog(prio, "%s", AlertToJson(alert).c_str());
}

}  // namespace credsentry::collector
