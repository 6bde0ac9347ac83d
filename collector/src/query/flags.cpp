#include "query/flags.h"

namespace credsentry::collector {

Result<Flags> ParseFlags(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                         const std::set<std::string>& switches) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.rfind("--", 0) != 0) return Error{"unexpected argument '" + arg + "'"};
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (switches.count(name)) {
      if (inline_value) return Error{"flag --" + name + " takes no value"};
      flags.switches.insert(name);
    } else if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return Error{"flag --" + name + " needs a value"};
        value = args[++i];
      }
      flags.values[name].push_back(value);
    } else {
      return Error{"unknown flag --" + name};
    }
  }
  return flags;
}

Result<int64_t> ParseDuration(const std::string& text) {
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &pos);
  } catch (...) {
    return Error{"bad duration '" + text + "' (use e.g. 90s, 15m, 1h, 7d)"};
  }
  std::string unit = text.substr(pos);
  int64_t scale = 0;
  if (unit == "ms") scale = 1'000'000;
  if (unit == "s") scale = 1'000'000'000;
  if (unit == "m") scale = 60'000'000'000;
  if (unit == "h") scale = 3'600'000'000'000;
  if (unit == "d") scale = 86'400'000'000'000;
  if (scale == 0 || n < 0) return Error{"bad duration '" + text + "' (use e.g. 90s, 15m, 1h, 7d)"};
  return n * scale;
}

}  // namespace credsentry::collector
