// Slack incoming-webhook messages: one message per alert, readable in a channel (severity and
// summary first, then host, process, destination, secret, fingerprint and alert id as fields).
// The collector has only the agent's redacted preview and keyed fingerprint, never a secret.
#pragma once

#include <string>
#include <string_view>

#include "credsentry/v1/alert.pb.h"
#include "forward/http_forwarder.h"

namespace credsentry::collector {

// Slack's mrkdwn reads &, < and > as control characters (<!channel>, <url|label>): text an
// agent or a process chose must reach Slack as &amp;, &lt; and &gt;.
std::string SlackEscape(std::string_view text);

// {"text": fallback, "blocks": [...]} for https://hooks.slack.com/services/...
std::string SlackMessage(const v1::Alert& alert);

// Slack answers 200 "ok"; 400/403/404/410 are for good; 429 carries Retry-After.
HttpFormat SlackFormat();

}  // namespace credsentry::collector
