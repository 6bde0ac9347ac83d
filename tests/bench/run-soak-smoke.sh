#!/usr/bin/env bash
# The soak benchmark (bench/soak.py) for SOAK_SECONDS (default 60) of mixed load: it must
# measure, and what a user would notice must hold over that time: every exfiltration detected,
# no false alarm, no raw key in any agent output, a clean exit on SIGTERM, and an RSS that does
# not keep growing (the second half's peak within 25 % + 8 MB of the first half's). Long runs
# (30 minutes) are reported in closing notes, not run here.
#
#   tests/bench/run-soak-smoke.sh        (BUILD_DIR: the build tree, default build)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${BUILD_DIR:-$root/build}")
out=$(mktemp /tmp/credsentry-soak-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT

fail() { echo "soak smoke: $*" >&2; echo "--- output ---" >&2; cat "$out" >&2; exit 1; }

if [[ $(id -u) -ne 0 && ${CI:-} != true ]]; then
  echo "soak smoke: skipped, needs root (BPF programs, cgroups); with CI=true this fails"
  exit 0
fi
timeout 400 /usr/bin/python3 "$root/bench/soak.py" --seconds "${SOAK_SECONDS:-60}" --sample 5 \
  --agent "$build/agent/credsentry-agent" >"$out" 2>&1
rc=$?
((rc == 0)) || fail "soak.py exited $rc"
cat "$out"

line() { grep -E "^soak: $1" "$out" | tail -n 1; }
[[ $(line detections) =~ detections\ ([0-9]+)/([0-9]+) ]] || fail "no detections line"
((BASH_REMATCH[2] >= 1)) || fail "no exfiltration was started"
((BASH_REMATCH[1] == BASH_REMATCH[2])) || fail "exfiltrations missed: $(line detections)"
[[ $(line "false alarms") == "soak: false alarms 0" ]] || fail "false alarms under load"
[[ $(line "raw secrets") == "soak: raw secrets in agent outputs: 0" ]] || fail "a raw key leaked"
[[ $(line "agent exit") == "soak: agent exit code on SIGTERM: 0" ]] || fail "unclean agent exit"
[[ $(line "load") =~ \ ([0-9]+)\ requests ]] && ((BASH_REMATCH[1] > 0)) || fail "no requests"
[[ $(line "agent CPU") =~ =\ [0-9]+\.[0-9]+\ s\ per\ 1000\ requests ]] || fail "no CPU figure"
[[ $(line "agent RSS") =~ max\ first\ half\ ([0-9.]+)\ max\ second\ half\ ([0-9.]+) ]] ||
  fail "no RSS figures"
awk -v a="${BASH_REMATCH[1]}" -v b="${BASH_REMATCH[2]}" 'BEGIN { exit !(b <= 1.25 * a + 8) }' ||
  fail "agent RSS kept growing: $(line 'agent RSS')"
echo "soak smoke: passed"
