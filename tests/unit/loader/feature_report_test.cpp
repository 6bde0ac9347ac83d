#include <gtest/gtest.h>

#include "loader/probes.h"

namespace credsentry::loader {
namespace {

TEST(FeatureReport, AlignsValuesAndEndsWithTheVerdict) {
  FeatureReport r;
  r.lines = {{"kernel BTF", "yes"}, {"kprobes", "no (kernel without kprobes; not needed)"}};
  r.can_run = true;
  EXPECT_EQ(r.ToText(),
            "kernel BTF: yes\n"
            "kprobes:    no (kernel without kprobes; not needed)\n"
            "result: the agent can run on this host\n");
}

TEST(FeatureReport, SaysWhyTheAgentCannotRun) {
  FeatureReport r;
  r.lines = {{"BPF ring buffer", "no (needs Linux 5.8)"}};
  r.can_run = false;
  EXPECT_NE(r.ToText().find("cannot run on this host"), std::string::npos);
  EXPECT_NE(r.ToText().find("BPF ring buffer: no (needs Linux 5.8)"), std::string::npos);
}

}  // namespace
}  // namespace credsentry::loader
