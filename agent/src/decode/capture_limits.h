// The kernel's capture limits, for the stages after decode that validate settings against them
// without seeing the ABI (decoder.cpp checks they equal bpf/credsentry_abi.h).
#pragma once

#include <cstdint>

namespace credsentry::decode {

// Payload bytes one ring-buffer record carries at most (CS_CHUNK_MAX).
inline constexpr uint32_t kMaxChunkBytes = 16384;

}  // namespace credsentry::decode
