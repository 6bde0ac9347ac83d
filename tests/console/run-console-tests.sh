#!/usr/bin/env bash
# Browser tests of the collector's web console (tests/console/console.test.js): the real
# collector on 127.0.0.1 with its own temp dirs, Debian's chromium headless, puppeteer-core from
# the npm registry (it downloads no browser; `npm ci` runs when node_modules is missing).
#   BUILD_DIR=build tests/console/run-console-tests.sh
# Without chromium or node it skips with a message, except with CI=true, where that fails.
# Screenshots: $CONSOLE_TEST_OUT (default $BUILD_DIR/console-test-output).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath -m "${BUILD_DIR:-$root/build}")
export BUILD_DIR=$build
chromium=${CHROMIUM:-/usr/bin/chromium}

missing=""
[[ -x $chromium ]] || missing="chromium ($chromium; apt-get install chromium)"
command -v node >/dev/null && command -v npm >/dev/null || missing="${missing:+$missing, }node and npm"
if [[ -n $missing ]]; then
  if [[ ${CI:-} == true ]]; then
    echo "console tests: FAILED: missing $missing (scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "console tests: skipped: missing $missing (scripts/install-deps.sh); CI=true makes this a failure"
  exit 0
fi

ninja -C "$build" -j2 credsentry-collector credsentry_console_seed
if [[ ! -d $here/node_modules ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
cd "$here"
exec timeout 300 node console.test.js
