#!/usr/bin/env bash
# Everything a change must pass, on a fresh Debian 12 machine, as root:
#   dependencies -> configure + build -> unit tests -> kernel end-to-end suite -> extra suites
# Extra suites (fuzz smoke runs, packaging checks, ...) plug in as executables named
# tests/<suite>/run-*.sh: each is run from the repository root with BUILD_DIR exported and
# counts as one check (exit 0 = passed).
# Exits non-zero when anything failed; the last line is "N passed, N failed" (tests, not steps:
# a step that cannot produce its tests, such as a failed build, counts as one failure).
#
# Environment: BUILD_DIR (default build), CI=true makes missing kernel prerequisites failures,
# PYTEST_ARGS extra arguments for the kernel suite (e.g. "-k egress").
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
build=$(realpath -m "${BUILD_DIR:-build}")
reports=$(mktemp -d /tmp/credsentry-test.XXXXXX)
trap 'rm -rf "$reports"' EXIT

passed=0 failed=0 skipped=0
failures=()

step() { printf '\n==== %s ====\n' "$*"; }
fail_step() { failed=$((failed + 1)); failures+=("$1"); }

# Adds the counts of a JUnit XML report (ctest --output-junit, pytest --junitxml).
count_junit() {
  local label=$1 xml=$2 counts p f s
  if [[ ! -s $xml ]]; then
    fail_step "$label (no test report)"
    return
  fi
  counts=$(/usr/bin/python3 - "$xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
p = f = s = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        f += 1
    elif "skipped" in tags:
        s += 1
    else:
        p += 1
print(p, f, s)
EOF
  ) || { fail_step "$label (unreadable test report)"; return; }
  read -r p f s <<<"$counts"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  ((f == 0)) || failures+=("$label ($f failed)")
}

step "dependencies"
if ! "$repo/scripts/install-deps.sh"; then
  fail_step "install-deps"
fi

step "configure + build ($build)"
built=0
if cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
   cmake --build "$build" -j "$(nproc)"; then
  built=1
else
  fail_step "build"
fi

step "unit tests"
if ((built)); then
  ctest --test-dir "$build" --output-on-failure --output-junit "$reports/unit.xml"
  count_junit "unit tests" "$reports/unit.xml"
else
  fail_step "unit tests (not run: build failed)"
fi

step "kernel end-to-end suite"
if ((built)); then
  # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
  CREDSENTRY_AGENT="$build/agent/credsentry-agent" \
    /usr/bin/python3 -m pytest -v -p no:cacheprovider --junitxml="$reports/kernel.xml" \
    tests/kernel ${PYTEST_ARGS:-}
  count_junit "kernel suite" "$reports/kernel.xml"
else
  fail_step "kernel suite (not run: build failed)"
fi

# ---- hooks: other suites add tests/<suite>/run-*.sh (fuzz smoke, packaging checks, ...) ----
shopt -s nullglob
for hook in tests/*/run-*.sh; do
  [[ -x $hook ]] || { echo "skipping $hook: not executable"; continue; }
  step "$hook"
  if BUILD_DIR="$build" "$hook"; then
    passed=$((passed + 1))
  else
    fail_step "$hook"
  fi
done

step "summary"
((skipped == 0)) || echo "$skipped skipped (run as root with CI=true to make them count)"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
((failed == 0))
