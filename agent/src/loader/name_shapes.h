// The (parent name length, file name length) bit matrix the open path checks before copying
// dentry names (struct cs_name_shapes in credsentry_abi.h; bpf/file.bpf.c reads it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "credsentry_abi.h"

static_assert(sizeof(cs_name_shapes) == (CS_NAME_SHAPE_BITS + CS_NAME_LEAD_BITS) / 8,
              "cs_name_shapes: one bit per pair");

namespace credsentry::loader {

// Bit of the pair in cs_name_shapes::bits. Lengths past CS_DENTRY_NAME_MAX-1 share the last
// row/column, as cred_names keys hold at most that many bytes (the kernel clamps alike).
inline uint32_t NameShapeBit(size_t parent_len, size_t name_len) {
  constexpr size_t kMax = CS_DENTRY_NAME_MAX - 1;
  return static_cast<uint32_t>((parent_len < kMax ? parent_len : kMax) * CS_DENTRY_NAME_MAX +
                               (name_len < kMax ? name_len : kMax));
}

inline void AddNameShape(cs_name_shapes& shapes, size_t parent_len, size_t name_len) {
  uint32_t bit = NameShapeBit(parent_len, name_len);
  shapes.bits[bit / 64] |= uint64_t{1} << (bit % 64);
}

inline bool HasNameShape(const cs_name_shapes& shapes, size_t parent_len, size_t name_len) {
  uint32_t bit = NameShapeBit(parent_len, name_len);
  return (shapes.bits[bit / 64] >> (bit % 64)) & 1;
}

// Bit of (file name length, first byte) in cs_name_shapes::leads; lengths clamp as above.
inline uint32_t NameLeadBit(size_t name_len, unsigned char lead) {
  constexpr size_t kMax = CS_DENTRY_NAME_MAX - 1;
  return static_cast<uint32_t>((name_len < kMax ? name_len : kMax) * 256 + lead);
}

inline void AddNameLead(cs_name_shapes& shapes, size_t name_len, unsigned char lead) {
  uint32_t bit = NameLeadBit(name_len, lead);
  shapes.leads[bit / 64] |= uint64_t{1} << (bit % 64);
}

inline bool HasNameLead(const cs_name_shapes& shapes, size_t name_len, unsigned char lead) {
  uint32_t bit = NameLeadBit(name_len, lead);
  return (shapes.leads[bit / 64] >> (bit % 64)) & 1;
}

}  // namespace credsentry::loader
