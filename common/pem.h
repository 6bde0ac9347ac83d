// PEM files for mTLS (CA, certificate, key), read whole and checked before gRPC sees them.
#pragma once

#include <string>

#include "common/result.h"

namespace credsentry {

// The file's contents. `what` names the file in errors ("collector CA certificate"): "cannot
// read <what> '<path>'", or "<what> '<path>' is not PEM".
Result<std::string> ReadPem(const std::string& path, const std::string& what);

}  // namespace credsentry
