#!/usr/bin/env bash
# Smoke run of the agent-core benchmarks (bench/run-bench.sh) on a tiny workload: not a timing
# check (targets are judged on full runs, bench/README.md), but proof that the benchmark still
# measures what it says. It must exit 0 and print a number, not "n/a", for every ratio; the
# trivial floor must have run in scope; the agent must raise no alert on credential-free traffic;
# and the global kernel.bpf_stats_enabled must be back to what it was.
#
#   tests/bench/run-bench-smoke.sh        (BUILD_DIR: the build tree, default build)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${BUILD_DIR:-$root/build}")
out=$(mktemp /tmp/credsentry-bench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT

fail() { echo "bench smoke: $*" >&2; echo "--- output ---" >&2; cat "$out" >&2; exit 1; }

if [[ $(id -u) -ne 0 && ${CI:-} != true ]]; then
  echo "bench smoke: skipped, needs root (BPF programs, cgroups); with CI=true this fails"
  exit 0
fi
stats_before=$(sysctl -n kernel.bpf_stats_enabled) || fail "cannot read kernel.bpf_stats_enabled"
BUILD_DIR=$build PASSES=2 LOOP_ITERATIONS=20000 LOOP_REPS=1 UPLOAD_MB=8 UPLOAD_RUNS=1 \
  IDLE_SECONDS=2 timeout 600 "$root/bench/run-bench.sh" >"$out" 2>&1
rc=$?
((rc == 0)) || fail "run-bench.sh exited $rc"

number='-?[0-9]+\.[0-9]+'
for row in "agent_added / trivial_added" "paired by pass" "io_uring agent / off" "CPU: agent_added / trivial_added" \
           "agent / trivial uprobes" "RSS, MB (max VmRSS)" "CPU, % of one core" \
           "prevent_added / trivial_added" "prevent / off" "added by prevent, p99 ms" \
           "added exec latency, new binary, ms" "added exec latency, known binary, ms"; do
  line=$(grep -F -- "$row" "$out" | head -n 1)
  [[ ${line#*"$row"} =~ ^\ +$number\  ]] || fail "no figure on the row '$row'"
done
[[ $(grep -c "paired by pass" "$out") == 2 ]] || fail "expected a paired ratio for both targets"
grep -Eq "BPF program time, ns/iteration .*: trivial [1-9][0-9]* +agent [1-9][0-9]* +ratio $number" \
  "$out" || fail "no BPF program time for both modes"
grep -Eq "^agent: 0 alerts " "$out" || fail "the agent alerted on credential-free traffic"
grep -Eq "ran in scope .*tracepoint=[1-9][0-9]* .*uprobe=[1-9][0-9]*" "$out" ||
  fail "the trivial floor did not run in scope"
stats_after=$(sysctl -n kernel.bpf_stats_enabled)
[[ $stats_after == "$stats_before" ]] ||
  fail "kernel.bpf_stats_enabled left at $stats_after (was $stats_before)"
echo "bench smoke: passed"
