// One alert as one line a person reads on a terminal:
//   2026-12-02 06:50:01Z HIGH credential-file-egress curl (pid 4242): ... -> api.openai.com:443
//   [openai-project-key sk-proj-…Xa9f, hmac-sha256:1f2e3d4c…] id 01J...
// Only fields that are safe to print appear: the summary, the redacted preview and the keyed
// fingerprint (the Alert never holds a raw secret). Control bytes from process names and paths
// are escaped, so an alert cannot move the cursor or rewrite the terminal.
#pragma once

#include <string>

#include "alert/alert.h"

namespace credsentry::report {

// The line, without a trailing newline.
std::string AlertToTextLine(const alert::Alert& alert);

}  // namespace credsentry::report
