#!/usr/bin/env bash
# Installs dependencies, builds, and runs credsentry-agent on the shipped rules, printing alerts
# to stdout: one line each on a terminal, JSON lines when piped (--alert-format). Run as root.
#
# By default the agent is scoped to a demo cgroup v2 that this script creates and removes:
# shared machines run processes that are not ours, and the agent must not watch them. Put a
# shell into the cgroup (the command is printed) and everything run from it is watched.
#
#   scripts/run.sh                 scoped to the demo cgroup
#   scripts/run.sh --host          the whole host (only on a machine that is yours)
#   scripts/run.sh --demo          show a first alert, safely, then stop: curl in the demo
#                                  cgroup posts a fake key (made up now, in a shipped format)
#                                  to a server on 127.0.0.1 that this script starts
#   scripts/run.sh -- ARGS...      extra agent arguments (also accepted without the --)
# Environment: BUILD_DIR (default build), SKIP_BUILD=1 to use the existing build as is,
# CREDSENTRY_DEMO_CGROUP (default credsentry-demo): the demo cgroup's name under the cgroup v2
# root, so that a second run.sh (the kernel tests') does not take over and remove a user's own.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=$(realpath -m "${BUILD_DIR:-build}")

scoped=1
demo_run=0
agent_args=()
for arg in "$@"; do
  case $arg in
    --host) scoped=0 ;;
    --demo) demo_run=1 ;;
    --) ;;
    *) agent_args+=("$arg") ;;
  esac
done

if ((demo_run && !scoped)); then
  echo "run.sh: --demo runs in the demo cgroup; leave out --host" >&2
  exit 2
fi

demo_name=${CREDSENTRY_DEMO_CGROUP:-credsentry-demo}
# One plain name: a slash or a leading dot could reach outside the cgroup root, or into the root.
if [[ ! $demo_name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
  echo "run.sh: CREDSENTRY_DEMO_CGROUP must be a plain name ([A-Za-z0-9._-]): '$demo_name'" >&2
  exit 2
fi

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
scratch=
sink_pid=
agent_pid=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ -n $agent_pid ]] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  [[ -z $sink_pid ]] || kill "$sink_pid" 2>/dev/null || true
  [[ -z $scratch ]] || rm -rf "$scratch"
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
  demo="$root/$demo_name"
  mkdir -p "$demo"
  trap cleanup EXIT
  agent_args=(--cgroup "$demo" "${agent_args[@]}")
  if ((!demo_run)); then
    cat >&2 <<EOF
credsentry: watching only processes in the cgroup $demo
  put a shell into it:   echo \$\$ > $demo/cgroup.procs
  then, from that shell, anything you run is watched. Ctrl-C stops the agent.
  to see a first alert safely: $0 --demo (a made-up key posted to 127.0.0.1)
EOF
  fi
else
  echo "credsentry: watching the whole host (--host)" >&2
fi

# A key in the shape of rules/credentials/ai.yaml's openai-project-key, made up on each run and
# marked as a demo: it is no one's credential, and it only ever travels to 127.0.0.1.
demo_key() {
  python3 -c 'import secrets, string
pick = lambda n: "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))
print("sk-proj-credsentryDEMO" + pick(40) + "T3BlbkFJ" + pick(40))'
}

# The agent, a loopback sink, one curl in the cgroup, the alert on stdout, then everything stops.
run_demo() {
  scratch=$(mktemp -d /tmp/credsentry-demo.XXXXXX)
  "$agent" --rules "$repo/rules/credentials" --alerts-file - --stats-file "$scratch/stats.json" \
    --ready-file "$scratch/ready" --fingerprint-key "$scratch/fingerprint.key" \
    "${agent_args[@]}" &
  agent_pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -e $scratch/ready ]] && break
    kill -0 "$agent_pid" 2>/dev/null || { echo "run.sh: the agent exited before ready" >&2; return 1; }
    sleep 0.1
  done
  [[ -e $scratch/ready ]] || { echo "run.sh: the agent was not ready within 30 s" >&2; return 1; }

  # The sink stays outside the cgroup: only the sender is watched.
  python3 -c 'import http.server, os, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Sink)
open(sys.argv[1] + ".tmp", "w").write(str(server.server_port))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()' "$scratch/port" &
  sink_pid=$!
  for ((i = 0; i < 50; i++)); do
    [[ -s $scratch/port ]] && break
    sleep 0.1
  done
  [[ -s $scratch/port ]] || { echo "run.sh: the loopback sink did not start" >&2; return 1; }
  local port
  port=$(cat "$scratch/port")
  (umask 077 && printf '{"stolen": "%s"}' "$(demo_key)" >"$scratch/body.json")
  echo "credsentry demo: curl in $demo posts a made-up OpenAI key to http://127.0.0.1:$port/" >&2
  # The key is in a file, not on curl's command line; the shell joins the cgroup, then is curl.
  # shellcheck disable=SC2016  # expanded by that shell
  sh -c 'echo $$ > "$1/cgroup.procs" && exec curl -sS --noproxy "*" --max-time 10 \
    -H "Content-Type: application/json" --data-binary "@$2" "http://127.0.0.1:$3/collect"' \
    demo-curl "$demo" "$scratch/body.json" "$port" >/dev/null ||
    { echo "run.sh: curl failed" >&2; return 1; }
  for ((i = 0; i < 100; i++)); do
    grep -Eq '"alerts": [1-9]' "$scratch/stats.json" 2>/dev/null && break
    sleep 0.1
  done
  if ! grep -Eq '"alerts": [1-9]' "$scratch/stats.json" 2>/dev/null; then
    echo "run.sh: no alert within 10 s; see the agent's log above" >&2
    return 1
  fi
  echo "credsentry demo: the line above is the alert (JSON when piped, or --alert-format json);" >&2
  echo "  only a redacted preview and a keyed fingerprint of the key are ever printed." >&2
}

if ((demo_run)); then
  trap 'exit 130' INT TERM
  status=0
  run_demo || status=$?
  exit "$status"
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
