# The agent unit's capability set is enough: the built agent, started with exactly the unit's
# CapabilityBoundingSet and NoNewPrivileges (setpriv), attaches its probes and becomes ready.
# Scoped with --cgroup to an empty cgroup this test creates, so it watches nothing else on the
# host; it runs a few seconds and is stopped with SIGTERM. Sourced by run-packaging-tests.sh.

section "agent: runs with only the unit's capabilities"
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$REPO/systemd/credsentry-agent.service")
if [[ -z $cg2 ]]; then
  not_ok "a cgroup v2 hierarchy is mounted (needed to scope the agent)"
elif [[ -z $unit_caps ]]; then
  not_ok "the agent unit names a CapabilityBoundingSet"
else
  bounding=-all
  for cap in $unit_caps; do
    cap=${cap#CAP_}
    bounding+=",+${cap,,}"
  done
  cgdir=$cg2/credsentry-pkgtest-$$
  mkdir "$cgdir"
  cat >"$WORK/priv-agent.yaml" <<YAML
alerts_file: $WORK/priv-alerts.jsonl
stats_file: $WORK/priv-stats.json
fingerprint_key_file: $WORK/priv-fingerprint.key
rules: [$REPO/rules/credentials]
cgroups: [$cgdir]
YAML
  setpriv --bounding-set="$bounding" --inh-caps=-all --no-new-privs \
    "$AGENT_BIN" --config "$WORK/priv-agent.yaml" --ready-file "$WORK/priv-ready" \
    >"$WORK/priv-agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 1 300); do
    [[ -e $WORK/priv-ready ]] || ! kill -0 "$agent_pid" 2>/dev/null && break
    sleep 0.1
  done
  if [[ -e $WORK/priv-ready ]]; then
    ok "agent attaches its probes with only: $unit_caps"
    grep -E 'NoNewPrivs' "/proc/$agent_pid/status" >"$WORK/priv-caps.txt" 2>/dev/null
    expect_grep "agent ran with NoNewPrivs" '^NoNewPrivs:\s+1' "$WORK/priv-caps.txt"
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid"
    rc=$?
    if [[ $rc -eq 0 ]]; then ok "agent exits 0 on SIGTERM"; else
      not_ok "agent exits 0 on SIGTERM (exit $rc)" "$WORK/priv-agent.log"
    fi
  else
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid"
    not_ok "agent attaches its probes with only: $unit_caps" "$WORK/priv-agent.log"
    # Say whether the documented CAP_SYS_ADMIN fallback would make it run on this kernel.
    rm -f "$WORK/priv-ready"
    setpriv --bounding-set="$bounding,+sys_admin" --inh-caps=-all --no-new-privs \
      "$AGENT_BIN" --config "$WORK/priv-agent.yaml" --ready-file "$WORK/priv-ready" \
      >"$WORK/priv-agent2.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 1 300); do
      [[ -e $WORK/priv-ready ]] || ! kill -0 "$agent_pid" 2>/dev/null && break
      sleep 0.1
    done
    [[ -e $WORK/priv-ready ]] && echo "        (with CAP_SYS_ADMIN added it runs: this kernel needs the fallback)"
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid"
  fi
  agent_pid=
  rmdir "$cgdir"
fi
