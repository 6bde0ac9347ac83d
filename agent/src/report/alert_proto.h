// The alert contract on the wire: the collector output stores and sends alerts as
// credsentry.v1.Alert, and this is the one place that maps alert::Alert's fields onto it.
#pragma once

#include "alert/alert.h"

namespace credsentry::v1 {
class Alert;
}

namespace credsentry::report {

// Every field of the alert contract into the wire message.
void ToProto(const alert::Alert& alert, v1::Alert* out);

}  // namespace credsentry::report
