#!/usr/bin/env bash
# Runs every libFuzzer target for FUZZ_SECONDS (default 60) each, one after another, starting
# from the seeds in tests/fuzz/seeds/<target>/ and growing a corpus per target.
#
#   tests/fuzz/run-fuzz.sh [BUILD_DIR]        (default: build-fuzz next to the sources)
#
# Environment: FUZZ_SECONDS (per target), FUZZ_CORPUS (corpus root, default BUILD_DIR/fuzz-corpus),
# FUZZ_RSS_MB (memory cap per target, default 2048), FUZZ_TARGETS (space-separated subset).
# Exit status: 0 when every target ran clean; 1 when any target found a crash, leak, timeout or
# ran out of memory (its reproducer is left in FUZZ_CORPUS/artifacts/<target>/); 2 on misuse.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${FUZZ_BUILD_DIR:-$root/build-fuzz}}
seconds=${FUZZ_SECONDS:-60}
rss_mb=${FUZZ_RSS_MB:-2048}
corpus_root=${FUZZ_CORPUS:-$build/fuzz-corpus}

# The fuzz build is separate (clang, sanitizers): build it when it is missing or stale.
if command -v clang++ >/dev/null && [[ -z ${FUZZ_NO_BUILD:-} ]]; then
  if [[ ! -f $build/CMakeCache.txt ]]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCREDSENTRY_FUZZ=ON \
      -DCREDSENTRY_TESTS=OFF >/dev/null || { echo "run-fuzz: configure failed" >&2; exit 1; }
  fi
  ninja -C "$build" fuzzers >/dev/null || { echo "run-fuzz: building the fuzzers failed" >&2; exit 1; }
fi
if [[ ! -d $build/tests/fuzz ]]; then
  echo "run-fuzz: no fuzz build in $build/tests/fuzz; configure one with:" >&2
  echo "  CC=clang CXX=clang++ cmake -S $root -B $build -G Ninja -DCREDSENTRY_FUZZ=ON -DCREDSENTRY_TESTS=OFF" >&2
  echo "  ninja -C $build fuzzers" >&2
  exit 2
fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "run-fuzz: FUZZ_SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi

if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for bin in "$build"/tests/fuzz/fuzz_*; do
    [[ -x $bin && -f $bin ]] && targets+=("$(basename "$bin")")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "run-fuzz: no fuzz_* binaries in $build/tests/fuzz (run: ninja -C $build fuzzers)" >&2
  exit 2
fi

failed=()
printf '%-20s %8s %10s %8s %s\n' target seconds execs corpus result
for target in "${targets[@]}"; do
  bin=$build/tests/fuzz/$target
  if [[ ! -x $bin ]]; then
    echo "run-fuzz: $bin is not built" >&2
    failed+=("$target")
    continue
  fi
  corpus=$corpus_root/$target
  artifacts=$corpus_root/artifacts/$target
  log=$corpus_root/logs/$target.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  seeds=()
  [[ -d $here/seeds/$target ]] && seeds+=("$here/seeds/$target")
  start=$SECONDS
  "$bin" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" || echo "?")
  size=$(find "$corpus" -type f | wc -l)
  result=ok
  if ((rc != 0)); then
    result="FAILED (rc=$rc; see $log)"
    failed+=("$target")
  fi
  printf '%-20s %8d %10s %8d %s\n' "$target" $((SECONDS - start)) "$execs" "$size" "$result"
done

if ((${#failed[@]} > 0)); then
  echo "run-fuzz: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzz: ${#targets[@]} targets clean, ${seconds}s each"
