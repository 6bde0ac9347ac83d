# Test bookkeeping for run-packaging-tests.sh: every check prints one line, failures show why.
PASSED=0
FAILED=0
FAILED_NAMES=()

section() { printf '\n== %s\n' "$1"; }

ok() {
  PASSED=$((PASSED + 1))
  printf 'ok      %s\n' "$1"
}

# not_ok NAME [FILE-WITH-DETAILS]: the last lines of the details explain the failure.
not_ok() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  printf 'FAILED  %s\n' "$1"
  if [[ -n ${2:-} && -s $2 ]]; then tail -n 25 "$2" | sed 's/^/        | /'; fi
}

skip() { printf 'skip    %s\n' "$1"; }

# expect NAME COMMAND...: passes when COMMAND succeeds; its output is shown on failure.
expect() {
  local name=$1 out
  shift
  out=$(mktemp)
  if "$@" >"$out" 2>&1; then ok "$name"; else not_ok "$name" "$out"; fi
  rm -f "$out"
}

# expect_grep NAME PATTERN FILE: FILE (an output captured earlier) matches the extended regex.
expect_grep() {
  if grep -Eq -- "$2" "$3" 2>/dev/null; then ok "$1"; else
    not_ok "$1" "$3"
    printf '        (no line of %s matches: %s)\n' "$(basename "$3")" "$2"
  fi
}

expect_no_grep() {
  if [[ -f $3 ]] && ! grep -Eq -- "$2" "$3"; then ok "$1"; else
    grep -E -- "$2" "$3" >"$3.hits"
    not_ok "$1" "$3.hits"
  fi
}

summary_and_exit() {
  echo
  if ((FAILED > 0)); then printf 'failed: %s\n' "${FAILED_NAMES[@]}"; fi
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0 && PASSED > 0))
  exit $?
}
