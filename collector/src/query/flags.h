// Tiny `--name value` / `--name=value` / `--switch` parser for the collector's subcommands, with
// errors that name the flag.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace credsentry::collector {

struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> switches;

  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second.back();
  }
  bool Has(const std::string& name) const { return switches.count(name) > 0; }
};

// `with_value` lists flags that take a value, `switches` those that do not; anything else is an
// error naming the flag.
Result<Flags> ParseFlags(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                         const std::set<std::string>& switches);

// "90s", "15m", "1h", "7d", "250ms" -> nanoseconds.
Result<int64_t> ParseDuration(const std::string& text);

}  // namespace credsentry::collector
