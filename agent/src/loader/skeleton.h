// The generated libbpf skeleton (bpf/CMakeLists.txt names it `credsentry`). Its `struct
// credsentry` would clash with `namespace credsentry`, so it is included inside a namespace of
// its own; the headers it includes are pulled in first so their include guards keep them global.
#pragma once

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>

namespace credsentry::loader::gen {
#include "credsentry.skel.h"  // IWYU pragma: export
}  // namespace credsentry::loader::gen
