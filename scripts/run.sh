#!/usr/bin/env bash
# Installs dependencies, builds, and runs credsentry-agent on the shipped rules, printing alerts
# (JSON lines) to stdout. Run as root.
#
# By default the agent is scoped to a demo cgroup v2 that this script creates and removes:
# shared machines run processes that are not ours, and the agent must not watch them. Put a
# shell into the cgroup (the command is printed) and everything run from it is watched.
#
#   scripts/run.sh                 scoped to the demo cgroup
#   scripts/run.sh --host          the whole host (only on a machine that is yours)
#   scripts/run.sh -- ARGS...      extra agent arguments (also accepted without the --)
# Environment: BUILD_DIR (default build), SKIP_BUILD=1 to use the existing build as is.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=$(realpath -m "${BUILD_DIR:-build}")

scoped=1
agent_args=()
for arg in "$@"; do
  case $arg in
    --host) scoped=0 ;;
    --) ;;
    *) agent_args+=("$arg") ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: the agent loads BPF programs and needs root (try: sudo $0 $*)" >&2
  exit 1
fi

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  "$repo/scripts/install-deps.sh"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build "$build" -j "$(nproc)" >&2
fi
agent="$build/agent/credsentry-agent"

# The cgroup v2 hierarchy: /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on pure v2.
cgroup2_root() {
  local m
  for m in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [[ $(stat -f -c %T "$m" 2>/dev/null) == cgroup2fs ]]; then
      echo "$m"
      return
    fi
  done
  return 1
}

demo=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [[ -n $demo && -d $demo ]] || return 0
  # Shells the user put into the cgroup are moved back to the root, not killed.
  local parent pid
  parent=$(dirname "$demo")
  while read -r pid; do
    echo "$pid" >"$parent/cgroup.procs" 2>/dev/null || true
  done <"$demo/cgroup.procs"
  rmdir "$demo" 2>/dev/null || echo "run.sh: could not remove $demo (still in use)" >&2
}

if ((scoped)); then
  root=$(cgroup2_root) || {
    echo "run.sh: no cgroup v2 hierarchy mounted; use --host on a machine of your own" >&2
    exit 1
  }
  demo="$root/credsentry-demo"
  mkdir -p "$demo"
  trap cleanup EXIT
  agent_args=(--cgroup "$demo" "${agent_args[@]}")
  cat >&2 <<EOF
credsentry: watching only processes in the cgroup $demo
  put a shell into it:   echo \$\$ > $demo/cgroup.procs
  then, from that shell, anything you run is watched. Ctrl-C stops the agent.
EOF
else
  echo "credsentry: watching the whole host (--host)" >&2
fi

"$agent" --rules "$repo/rules/credentials" --alerts-file - "${agent_args[@]}" &
agent_pid=$!
trap 'kill -TERM "$agent_pid" 2>/dev/null || true' INT TERM
status=0
wait "$agent_pid" || status=$?
# A trapped signal interrupts wait (status > 128); the second wait returns the agent's own code.
if ((status > 128)); then
  status=0
  wait "$agent_pid" || status=$?
fi
exit "$status"
