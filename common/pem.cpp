#include "common/pem.h"

#include <fstream>
#include <sstream>

namespace credsentry {

Result<std::string> ReadPem(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read " + what + " '" + path + "'"};
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return Error{what + " '" + path + "' is not PEM"};
  }
  return ss.str();
}

}  // namespace credsentry
