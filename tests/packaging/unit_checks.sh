# systemd units as packaged: verify clean, hardening settings present, exposure targets met.
# Sourced by run-packaging-tests.sh.

section "systemd units: verify and security exposure"
# A root holding the packaged files, the host's own units (targets the units refer to) and
# /bin/kill (ExecReload), so verify checks the ExecStart paths the packages really install.
U=$WORK/unitroot
mkdir -p "$U/usr/bin" "$U/usr/lib/systemd/system"
ln -s usr/bin "$U/bin"
ln -s usr/lib "$U/lib"
cp -a /lib/systemd/system/. "$U/usr/lib/systemd/system/"
cp /bin/kill "$U/usr/bin/kill"  # ExecReload=/bin/kill; bin -> usr/bin as on merged-/usr
units=(credsentry-agent.service)
[[ -f $AGENT_DEB ]] && dpkg-deb -x "$AGENT_DEB" "$U"
if [[ -f $COLLECTOR_DEB ]]; then
  dpkg-deb -x "$COLLECTOR_DEB" "$U"
  units+=(credsentry-collector.service)
fi

for unit in "${units[@]}"; do
  file=$U/usr/lib/systemd/system/$unit
  if [[ ! -f $file ]]; then
    not_ok "$unit is in its package"
    continue
  fi
  # Any output is a finding (unknown keys, bad paths, missing dependencies), not only rc != 0.
  (cd "$WORK" && systemd-analyze verify --man=no --root="$U" "$unit") >"$WORK/verify-$unit.txt" 2>&1
  rc=$?
  if [[ $rc -eq 0 && ! -s $WORK/verify-$unit.txt ]]; then ok "systemd-analyze verify $unit is clean"; else
    not_ok "systemd-analyze verify $unit is clean (rc=$rc)" "$WORK/verify-$unit.txt"
  fi

  (cd "$WORK" && systemd-analyze security --offline=true --root="$U" "$unit") \
    >"$WORK/security-$unit.txt" 2>&1
  exposure=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security-$unit.txt")
  limit=3.0
  [[ $unit == credsentry-collector.service ]] && limit=2.0
  if [[ -n $exposure ]] && awk -v e="$exposure" -v l="$limit" 'BEGIN { exit !(e <= l) }'; then
    ok "systemd-analyze security: $unit exposure $exposure <= $limit"
  else
    not_ok "systemd-analyze security: $unit exposure ${exposure:-?} <= $limit" "$WORK/security-$unit.txt"
  fi
done

agent_unit=$U/usr/lib/systemd/system/credsentry-agent.service
if [[ -f $agent_unit ]]; then
  # What the issue asks of the agent's unit, line by line.
  for line in '^Type=notify$' '^ExecReload=/bin/kill -HUP \$MAINPID$' '^Restart=on-failure$' \
    '^StartLimitIntervalSec=[1-9]' '^StartLimitBurst=[1-9]' '^NoNewPrivileges=yes$' \
    '^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH$' \
    '^ProtectSystem=strict$' '^ProtectHome=read-only$' '^StateDirectory=credsentry$' \
    '^LogsDirectory=credsentry$' '^RuntimeDirectory=credsentry$' \
    '^ExecStart=/usr/bin/credsentry-agent --config /etc/credsentry/agent.yaml$'; do
    expect_grep "agent unit: ${line//[\^\$\\]/}" "$line" "$agent_unit"
  done
  expect_no_grep "agent unit grants no ambient capabilities" '^AmbientCapabilities=' "$agent_unit"
fi
