// Alert ids: the idempotency key an alert keeps across resends to the collector.
#pragma once

#include <string>

namespace credsentry::alert {

// 128 random bits as 32 hex digits.
std::string NewAlertId();

}  // namespace credsentry::alert
