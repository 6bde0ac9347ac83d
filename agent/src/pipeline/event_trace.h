// The debug trace (--trace): one JSON line per record with its type, process, fd and lengths,
// never its payload; names and paths go through the redactor like every other output.
#pragma once

#include <cstdio>

#include "decode/events.h"
#include "pipeline/credential_learner.h"

namespace credsentry::pipeline {

void TraceEvent(const decode::Event& event, const CredentialLearner& learner, std::FILE* out);

}  // namespace credsentry::pipeline
