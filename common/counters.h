// Counters named once. A component lists its counters in one X-macro,
//   #define CREDSENTRY_FOO_COUNTERS(X) X(bytes_seen, "bytes fed") X(errors, "bad input")
// and CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_FOO_COUNTERS, FooCounters) inside the struct
// generates the fields, ForEach(fn(name, value)) and operator+=. Exporters and totals go
// through ForEach and +=, so a counter added to the list cannot miss --stats-file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#define CREDSENTRY_COUNTER_FIELD_(name, doc) uint64_t name = 0;
#define CREDSENTRY_COUNTER_VISIT_(name, doc) fn(std::string_view(#name), name);
#define CREDSENTRY_COUNTER_ADD_(name, doc) name += other.name;

// clang-format off
#define CREDSENTRY_COUNTER_MEMBERS(LIST, Type) \
  LIST(CREDSENTRY_COUNTER_FIELD_)              \
  template <class Fn>                          \
  void ForEach(Fn&& fn) const {                \
    LIST(CREDSENTRY_COUNTER_VISIT_)            \
  }                                            \
  Type& operator+=(const Type& other) {        \
    LIST(CREDSENTRY_COUNTER_ADD_)              \
    return *this;                              \
  }
// clang-format on

namespace credsentry {

// Writes every counter of `c` into `out` as prefix + name.
template <class Counters>
void ExportCounters(const Counters& c, std::string_view prefix,
                    std::map<std::string, uint64_t>& out) {
  c.ForEach([&](std::string_view name, uint64_t value) {
    std::string key(prefix);
    key += name;
    out[key] = value;
  });
}

}  // namespace credsentry
