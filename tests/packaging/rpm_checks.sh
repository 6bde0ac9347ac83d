# .rpm checks: contents, config markers, requirements, scriptlets, and an install into an rpm
# root (and an upgrade there that keeps a modified %config file). Sourced by
# run-packaging-tests.sh; the rpm root is a copy of the Debian root when one exists, so the
# scriptlets really run (/bin/sh, useradd), else an empty root with --noscripts.

section "rpm: contents, scriptlets, install into an rpm root"
if [[ -f $AGENT_RPM ]]; then
  rpm -qlp "$AGENT_RPM" >"$WORK/rpm-agent-files.txt" 2>&1
  for f in /usr/bin/credsentry-agent /usr/lib/systemd/system/credsentry-agent.service \
    /etc/credsentry/agent.yaml /etc/logrotate.d/credsentry-agent /var/lib/credsentry; do
    expect_grep "rpm -qlp: agent ships $f" "^$f\$" "$WORK/rpm-agent-files.txt"
  done
  expect_grep "rpm -qlp: agent ships the rules catalogue" '^/usr/share/credsentry/rules/[a-z]+\.yaml$' \
    "$WORK/rpm-agent-files.txt"
  expect_no_grep "rpm -qlp: agent does not own /etc, /usr/lib/systemd or /var/lib" \
    '^(/etc|/etc/logrotate.d|/usr|/usr/lib/systemd|/usr/lib/systemd/system|/var|/var/lib|/var/log)$' \
    "$WORK/rpm-agent-files.txt"
  rpm -qpc "$AGENT_RPM" >"$WORK/rpm-agent-config.txt" 2>&1
  expect_grep "rpm: agent.yaml is a %config file" '^/etc/credsentry/agent.yaml$' "$WORK/rpm-agent-config.txt"
  rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$AGENT_RPM" >"$WORK/rpm-agent-flags.txt" 2>&1
  expect_grep "rpm: agent.yaml is %config(noreplace)" '^cn +/etc/credsentry/agent.yaml$' \
    "$WORK/rpm-agent-flags.txt"
  rpm -qpR "$AGENT_RPM" >"$WORK/rpm-agent-requires.txt" 2>&1
  expect_grep "rpm: agent requires libbpf.so.1 (auto soname)" '^libbpf\.so\.1\(\)\(64bit\)' \
    "$WORK/rpm-agent-requires.txt"
  expect_grep "rpm: agent requires libhs.so.5 (auto soname)" '^libhs\.so\.5\(\)\(64bit\)' \
    "$WORK/rpm-agent-requires.txt"
  expect_grep "rpm: agent requires RHEL package hyperscan" '^hyperscan$' "$WORK/rpm-agent-requires.txt"
  expect_grep "rpm: agent requires cpp-httplib (its /metrics server)" '^cpp-httplib$' \
    "$WORK/rpm-agent-requires.txt"
  rpm -qp --scripts "$AGENT_RPM" >"$WORK/rpm-agent-scripts.txt" 2>&1
  expect_grep "rpm --scripts: agent postinstall runs the self-check" \
    '^postinstall scriptlet.*' "$WORK/rpm-agent-scripts.txt"
  expect_grep "rpm --scripts: postinstall calls credsentry-agent --check" 'credsentry-agent --check' \
    "$WORK/rpm-agent-scripts.txt"
  expect_grep "rpm --scripts: preuninstall stops the unit only on erase" \
    'if \[ "\$1" -eq 0 \].*\]; then' "$WORK/rpm-agent-scripts.txt"
fi
if [[ -f $COLLECTOR_RPM ]]; then
  rpm -qp --scripts "$COLLECTOR_RPM" >"$WORK/rpm-collector-scripts.txt" 2>&1
  expect_grep "rpm --scripts: collector preinstall creates its system user" 'useradd -r' \
    "$WORK/rpm-collector-scripts.txt"
  rpm -qpc "$COLLECTOR_RPM" >"$WORK/rpm-collector-config.txt" 2>&1
  expect_grep "rpm: collector.env is a %config file" '^/etc/credsentry/collector.env$' \
    "$WORK/rpm-collector-config.txt"
fi

# The Debian root, when the install checks below have already made one, gives the scriptlets a
# shell and useradd; it is created here first if missing so this order does not matter.
RPM_ROOT=$WORK/rpmroot
rpm_root_install() {
  local scripts=(--noscripts)
  if prepare_debian_root "$RPM_ROOT" >"$WORK/rpmroot-prepare.log" 2>&1; then
    scripts=()
  else
    mkdir -p "$RPM_ROOT"
    echo "no Debian root (see $WORK/rpmroot-prepare.log): installing with --noscripts"
  fi
  rpm --root "$RPM_ROOT" --initdb &&
    in_root_ns "$RPM_ROOT" rpm --root "$RPM_ROOT" --nodeps "${scripts[@]}" -i "$@"
}
if [[ -f $AGENT_RPM ]]; then
  rpms=("$AGENT_RPM")
  [[ -f $COLLECTOR_RPM ]] && rpms+=("$COLLECTOR_RPM")
  if rpm_root_install "${rpms[@]}" >"$WORK/rpm-install.log" 2>&1; then
    ok "rpm --root --nodeps -i installs the packages"
  else
    not_ok "rpm --root --nodeps -i installs the packages" "$WORK/rpm-install.log"
  fi
  rpm --root "$RPM_ROOT" -q credsentry-agent >"$WORK/rpm-q.txt" 2>&1
  expect_grep "rpm -q in the root: credsentry-agent $VERSION installed" \
    "^credsentry-agent-$VERSION-" "$WORK/rpm-q.txt"
  expect "rpm root: /usr/bin/credsentry-agent is executable" test -x "$RPM_ROOT/usr/bin/credsentry-agent"
  expect "rpm root: shipped rules are in /usr/share/credsentry/rules" \
    compgen -G "$RPM_ROOT/usr/share/credsentry/rules/*.yaml"
  expect "rpm -V: installed agent files match the package" rpm --root "$RPM_ROOT" -V --nodeps credsentry-agent
  if [[ -f $COLLECTOR_RPM && -x $RPM_ROOT/bin/sh ]]; then
    expect "rpm root: collector %pre created user credsentry" \
      grep -q '^credsentry:' "$RPM_ROOT/etc/passwd"
  fi
  # Upgrade: the admin's change to a %config(noreplace) file survives.
  local_line="# local change $RANDOM$RANDOM"
  [[ -d $RPM_ROOT/etc/credsentry ]] && echo "$local_line" >>"$RPM_ROOT/etc/credsentry/agent.yaml"
  if [[ -x $RPM_ROOT/bin/sh ]]; then rpm_scripts=(); else rpm_scripts=(--noscripts); fi
  if in_root_ns "$RPM_ROOT" rpm --root "$RPM_ROOT" --nodeps "${rpm_scripts[@]}" -U "$AGENT_RPM2" \
    >"$WORK/rpm-upgrade.log" 2>&1; then
    ok "rpm -U upgrades the agent to $V2"
  else
    not_ok "rpm -U upgrades the agent to $V2" "$WORK/rpm-upgrade.log"
  fi
  expect_grep "rpm upgrade keeps the modified agent.yaml" "^$local_line\$" \
    "$RPM_ROOT/etc/credsentry/agent.yaml"
fi
