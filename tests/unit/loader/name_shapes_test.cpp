#include "loader/name_shapes.h"

#include <gtest/gtest.h>

namespace credsentry::loader {
namespace {

TEST(NameShapes, OnlyTheAddedLengthPairsPass) {
  cs_name_shapes shapes{};
  AddNameShape(shapes, 4, 11);   // .aws/credentials
  AddNameShape(shapes, 10, 10);  // cs-secrets/token.json
  EXPECT_TRUE(HasNameShape(shapes, 4, 11));
  EXPECT_TRUE(HasNameShape(shapes, 10, 10));
  EXPECT_FALSE(HasNameShape(shapes, 11, 4));  // order matters: parent first
  EXPECT_FALSE(HasNameShape(shapes, 4, 10));
  EXPECT_FALSE(HasNameShape(shapes, 3, 11));
}

TEST(NameShapes, LongNamesShareTheLastBucketLikeTheTruncatedKeys) {
  cs_name_shapes shapes{};
  AddNameShape(shapes, 4, 60);  // key truncated to 31 bytes
  EXPECT_TRUE(HasNameShape(shapes, 4, CS_DENTRY_NAME_MAX - 1));
  EXPECT_TRUE(HasNameShape(shapes, 4, 255));
  EXPECT_FALSE(HasNameShape(shapes, 4, CS_DENTRY_NAME_MAX - 2));
  EXPECT_EQ(NameShapeBit(1000, 1000), CS_NAME_SHAPE_BITS - 1);  // never past the matrix
}

TEST(NameShapes, BitMatchesTheKernelFormula) {
  // bpf/file.bpf.c: bit = min(parent, 31) * CS_DENTRY_NAME_MAX + min(name, 31).
  EXPECT_EQ(NameShapeBit(4, 11), 4u * CS_DENTRY_NAME_MAX + 11u);
  EXPECT_EQ(NameShapeBit(0, 1), 1u);
}

TEST(NameShapes, FirstByteFilterPassesOnlyTheAddedLeads) {
  cs_name_shapes shapes{};
  AddNameLead(shapes, 10, 'i');  // .ssh/id_ed25519
  EXPECT_TRUE(HasNameLead(shapes, 10, 'i'));
  EXPECT_FALSE(HasNameLead(shapes, 10, 'l'));  // loop-0.txt: same lengths, other first byte
  EXPECT_FALSE(HasNameLead(shapes, 9, 'i'));
  AddNameLead(shapes, 200, 0xff);  // long names share the last row, top byte stays in range
  EXPECT_TRUE(HasNameLead(shapes, CS_DENTRY_NAME_MAX - 1, 0xff));
  EXPECT_EQ(NameLeadBit(1000, 0xff), CS_NAME_LEAD_BITS - 1);  // never past the matrix
}

}  // namespace
}  // namespace credsentry::loader
