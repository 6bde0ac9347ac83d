#!/usr/bin/env bash
# Builds and runs every collector test: store/query/correlation units, the real collector over
# gRPC + mTLS on loopback, the agent's CollectorSink against it (outage, SIGKILL), and the
# PostgreSQL store (a server this script's tests start on 127.0.0.1 as the postgres user;
# skipped with a message when postgresql-15 is missing). Needs root only for PostgreSQL.
#   BUILD_DIR=build tests/collector/run-collector-tests.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
ninja -C "$build" -j2 credsentry-collector credsentry_collector_tests credsentry_sink_driver \
  credsentry_sink_e2e_tests
"$build/collector/tests/credsentry_collector_tests"
"$build/collector/tests/credsentry_sink_e2e_tests"
