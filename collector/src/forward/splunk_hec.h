// Splunk HTTP Event Collector: alerts as HEC event objects, several concatenated in one POST to
// /services/collector/event with `Authorization: Splunk <token>`.
#pragma once

#include <string>

#include "common/result.h"
#include "credsentry/v1/alert.pb.h"
#include "forward/http_forwarder.h"

namespace credsentry::collector {

// {"time":<epoch seconds.millis>,"host":<agent host>,"source":"credsentry",
//  "sourcetype":"credsentry:alert","event":<the alert's JSON>}
std::string HecEvent(const v1::Alert& alert);

// HEC's own answers: 200 with {"code":0} is success; 429 and 5xx (503 "server is busy") are
// retried; any other 4xx (bad token, disabled token, bad data) and a 200 without code 0 are not.
Delivery JudgeHecResponse(const HttpResponse& response);

// The token file holds the HEC token, optionally followed by a newline. Errors name the file.
Result<std::string> ReadHecToken(const std::string& path);

// Batches up to 100 events or 512 KiB per POST.
HttpFormat SplunkHecFormat(const std::string& token);

}  // namespace credsentry::collector
