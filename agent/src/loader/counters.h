// Names of the kernel's drop/truncation/event counters (enum cs_counter in credsentry_abi.h), as
// users see them in --check, metrics and logs.
#pragma once

#include <cstdint>
#include <string_view>

namespace credsentry::loader {

// Stable snake_case name of counter `index`, or "" when index is not a cs_counter.
std::string_view CounterName(uint32_t index);
uint32_t CounterCount();

}  // namespace credsentry::loader
