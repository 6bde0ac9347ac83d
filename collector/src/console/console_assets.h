// The console's static files (collector/console/), compiled into the binary by
// collector/console/embed.cmake: nothing is read from disk or downloaded at run time.
#pragma once

#include <string_view>

namespace credsentry::collector::console {

struct ConsoleAsset {
  std::string_view path;  // "/index.html", "/console.js", ...
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/" is "/index.html"); null when there is none.
const ConsoleAsset* FindConsoleAsset(std::string_view path);

}  // namespace credsentry::collector::console
