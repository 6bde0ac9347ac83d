# .deb checks: lintian, control fields, conffiles and contents. Sourced by
# run-packaging-tests.sh.

section "deb: lintian and contents"
for deb in "$AGENT_DEB" "$COLLECTOR_DEB"; do
  [[ -f $deb ]] || continue
  name=$(basename "$deb")
  # Running as root is what CI does; lintian only warns about it.
  lintian --tag-display-limit 0 --display-level '>=warning' "$deb" >"$WORK/lintian-$name.txt" 2>&1
  expect_no_grep "lintian: no errors in $name" '^E: ' "$WORK/lintian-$name.txt"
  if grep -q '^W: ' "$WORK/lintian-$name.txt"; then
    sed -n 's/^W: /        lintian warning: /p' "$WORK/lintian-$name.txt" | sort -u
  fi
done

if [[ -f $AGENT_DEB ]]; then
  dpkg-deb -f "$AGENT_DEB" >"$WORK/agent-control.txt"
  dpkg-deb -c "$AGENT_DEB" >"$WORK/agent-files.txt"
  dpkg-deb -e "$AGENT_DEB" "$WORK/agent-control"
  # The Depends an apt install resolves: the libraries the agent binary is linked against.
  for lib in libbpf1 libhyperscan5 libyaml-cpp0.7 'libssl3' 'libgrpc\+\+1.51' 'libprotobuf32' \
    'libnghttp2-14' 'zlib1g' 'libstdc\+\+6'; do
    expect_grep "agent Depends names $lib" "^Depends:.*\b($lib)\b" "$WORK/agent-control.txt"
  done
  expect_grep "agent package is credsentry-agent $VERSION" "^Version: $VERSION\$" "$WORK/agent-control.txt"
  for f in ./usr/bin/credsentry-agent ./usr/lib/systemd/system/credsentry-agent.service \
    ./etc/credsentry/agent.yaml ./etc/credsentry/rules.d/README ./etc/logrotate.d/credsentry-agent \
    ./var/lib/credsentry/ ./var/log/credsentry/ ./usr/share/doc/credsentry-agent/copyright; do
    expect_grep "agent .deb ships ${f#.}" " ${f//./\\.}( |\$)" "$WORK/agent-files.txt"
  done
  expect_grep "agent .deb ships the rules catalogue" ' \./usr/share/credsentry/rules/[a-z]+\.yaml$' \
    "$WORK/agent-files.txt"
  expect_no_grep "agent .deb ships nothing under /usr/local" ' \./usr/local' "$WORK/agent-files.txt"
  for f in /etc/credsentry/agent.yaml /etc/credsentry/rules.d/README /etc/logrotate.d/credsentry-agent; do
    expect_grep "agent conffiles list $f" "^$f\$" "$WORK/agent-control/conffiles"
  done
  expect "agent .deb has postinst, prerm, postrm" \
    test -x "$WORK/agent-control/postinst" -a -x "$WORK/agent-control/prerm" -a -x "$WORK/agent-control/postrm"
  expect "agent maintainer scripts parse (sh -n)" \
    sh -n "$WORK/agent-control/postinst" "$WORK/agent-control/prerm" "$WORK/agent-control/postrm"
fi

if [[ -f $COLLECTOR_DEB ]]; then
  dpkg-deb -f "$COLLECTOR_DEB" >"$WORK/collector-control.txt"
  dpkg-deb -c "$COLLECTOR_DEB" >"$WORK/collector-files.txt"
  dpkg-deb -e "$COLLECTOR_DEB" "$WORK/collector-control"
  for lib in 'libsqlite3-0' 'libpq5' 'libgrpc\+\+1.51' 'libprotobuf32' 'passwd'; do
    expect_grep "collector Depends names $lib" "^Depends:.*\b($lib)\b" "$WORK/collector-control.txt"
  done
  for f in ./usr/bin/credsentry-collector ./usr/lib/systemd/system/credsentry-collector.service \
    ./etc/credsentry/collector.env ./usr/lib/sysusers.d/credsentry-collector.conf; do
    expect_grep "collector .deb ships ${f#.}" " ${f//./\\.}( |\$)" "$WORK/collector-files.txt"
  done
  expect_grep "collector conffiles list collector.env" '^/etc/credsentry/collector.env$' \
    "$WORK/collector-control/conffiles"
fi
