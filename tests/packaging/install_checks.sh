# .deb install, upgrade and purge in a clean Debian 12 root: what an admin sees on a host.
# Sourced by run-packaging-tests.sh.

section "deb: install into a clean Debian 12 root, upgrade, purge"
R=$WORK/debroot
if ! prepare_debian_root "$R" >"$WORK/debroot.log" 2>&1; then
  not_ok "a clean Debian 12 root is made with debootstrap ($MIRROR)" "$WORK/debroot.log"
elif [[ ! -f $AGENT_DEB ]]; then
  not_ok "an agent .deb to install exists"
else
  ok "a clean Debian 12 root is made with debootstrap"
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  # Services are never started in the root (no systemd runs there anyway).
  printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
  chmod 0755 "$R/usr/sbin/policy-rc.d"
  if [[ $MIRROR == http://deb.debian.org/debian ]]; then
    # The build host has bookworm's updates; so must the root for the libraries' minimal versions.
    cat >"$R/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  fi
  mkdir -p "$R/tmp/v1" "$R/tmp/v2"
  cp "$AGENT_DEB" "$AGENT_DEB2" ${COLLECTOR_DEB:+"$COLLECTOR_DEB"} ${COLLECTOR_DEB2:+"$COLLECTOR_DEB2"} \
    "$R/tmp/" 2>/dev/null
  cp "$AGENT_DEB" ${COLLECTOR_DEB:+"$COLLECTOR_DEB"} "$R/tmp/v1/"
  debs=("/tmp/v1/$(basename "$AGENT_DEB")")
  [[ -f $COLLECTOR_DEB ]] && debs+=("/tmp/v1/$(basename "$COLLECTOR_DEB")")

  # apt resolves the packages' Depends from the Debian archive: a missing or misnamed
  # dependency fails here, as it would on a fleet host.
  if in_chroot "$R" apt-get update -q >"$WORK/apt.log" 2>&1 &&
    in_chroot "$R" apt-get install -y -q --no-install-recommends "${debs[@]}" >>"$WORK/apt.log" 2>&1; then
    ok "apt-get install of the .debs resolves their Depends and succeeds"
  else
    not_ok "apt-get install of the .debs resolves their Depends and succeeds" "$WORK/apt.log"
  fi

  in_chroot "$R" credsentry-agent --version >"$WORK/version.txt" 2>&1
  expect_grep "installed credsentry-agent --version prints $VERSION" "^credsentry-agent $VERSION\$" \
    "$WORK/version.txt"
  expect "postinst ran the self-check (install-check.txt)" \
    grep -q '^result: ' "$R/var/lib/credsentry/install-check.txt"

  in_chroot "$R" credsentry-agent --check >"$WORK/check1.txt" 2>&1
  echo "exit=$?" >>"$WORK/check1.txt"
  expect_grep "installed credsentry-agent --check passes with the shipped agent.yaml" \
    '^exit=0$' "$WORK/check1.txt"
  expect_grep "--check loads the shipped rules from /usr/share/credsentry/rules" \
    '^rules: [1-9][0-9]* credential kinds' "$WORK/check1.txt"
  kinds1=$(sed -n 's/^rules: \([0-9]*\) credential kinds.*/\1/p' "$WORK/check1.txt")

  expect "maintainer scripts are idempotent (postinst configure runs twice)" \
    in_chroot "$R" /var/lib/dpkg/info/credsentry-agent.postinst configure "$VERSION"
  if [[ -f $COLLECTOR_DEB ]]; then
    in_chroot "$R" credsentry-collector --version >"$WORK/cversion.txt" 2>&1
    expect_grep "installed credsentry-collector --version prints $VERSION" \
      "^credsentry-collector $VERSION\$" "$WORK/cversion.txt"
    expect "collector postinst created system user credsentry" grep -q '^credsentry:' "$R/etc/passwd"
    expect "collector state dir is owned by credsentry" \
      in_chroot "$R" sh -c 'test "$(stat -c %U /var/lib/credsentry/collector)" = credsentry'
    expect "collector postinst is idempotent" \
      in_chroot "$R" /var/lib/dpkg/info/credsentry-collector.postinst configure "$VERSION"
  fi

  # The admin's changes: a line in the conffile and a rules.d drop-in with one more credential.
  local_line="# local change $RANDOM$RANDOM"
  echo "$local_line" >>"$R/etc/credsentry/agent.yaml"
  cat >"$R/etc/credsentry/rules.d/local.yaml" <<'RULE'
version: 1
credentials:
  - id: pkgtest-internal-token
    provider: example
    name: Internal deploy token (packaging test)
    severity: high
    pattern: 'pkgtst_[A-Za-z0-9]{32}'
    charset: 'A-Za-z0-9_'
    preview_prefix: 7
    destinations: ['deploy.internal.example']
RULE
  dropin_sum=$(sha256sum <"$R/etc/credsentry/rules.d/local.yaml")
  in_chroot "$R" credsentry-agent --check >"$WORK/check2.txt" 2>&1
  expect_grep "--check counts the rules.d drop-in ($kinds1 + 1 kinds)" \
    "^rules: $((kinds1 + 1)) credential kinds" "$WORK/check2.txt"

  # Upgrade to the bumped build: dpkg must neither ask nor overwrite.
  up=("/tmp/$(basename "$AGENT_DEB2")")
  [[ -f $COLLECTOR_DEB2 ]] && up+=("/tmp/$(basename "$COLLECTOR_DEB2")")
  if in_chroot "$R" dpkg -i "${up[@]}" >"$WORK/upgrade.log" 2>&1; then
    ok "dpkg -i upgrades to $V2 without a prompt"
  else
    not_ok "dpkg -i upgrades to $V2 without a prompt" "$WORK/upgrade.log"
  fi
  in_chroot "$R" dpkg-query -W -f='${Version}\n' credsentry-agent >"$WORK/upver.txt" 2>&1
  expect_grep "credsentry-agent $V2 is installed after the upgrade" "^$V2\$" "$WORK/upver.txt"
  expect_grep "upgrade keeps the modified /etc/credsentry/agent.yaml" "^$local_line\$" \
    "$R/etc/credsentry/agent.yaml"
  expect "upgrade keeps the rules.d drop-in unchanged" \
    test "$(sha256sum <"$R/etc/credsentry/rules.d/local.yaml" 2>/dev/null)" = "$dropin_sum"
  expect "upgrade leaves no .dpkg-new/.dpkg-dist beside the conffile" \
    test -z "$(find "$R/etc/credsentry" -name '*.dpkg-*')"
  in_chroot "$R" credsentry-agent --check >"$WORK/check3.txt" 2>&1
  echo "exit=$?" >>"$WORK/check3.txt"
  expect_grep "--check still passes after the upgrade, drop-in included" \
    "^rules: $((kinds1 + 1)) credential kinds" "$WORK/check3.txt"

  # State the running agent would have made, then purge.
  mkdir -p "$R/var/lib/credsentry/spool" "$R/var/log/credsentry"
  head -c 32 /dev/urandom | base64 >"$R/var/lib/credsentry/fingerprint.key"
  echo '{}' >"$R/var/lib/credsentry/spool/000001.alert"
  echo '{}' >"$R/var/log/credsentry/alerts.jsonl"
  if in_chroot "$R" dpkg --purge credsentry-agent >"$WORK/purge.log" 2>&1; then
    ok "dpkg --purge credsentry-agent succeeds"
  else
    not_ok "dpkg --purge credsentry-agent succeeds" "$WORK/purge.log"
  fi
  expect "purge removes the agent's state (fingerprint key, spool)" \
    test ! -e "$R/var/lib/credsentry/fingerprint.key" -a ! -e "$R/var/lib/credsentry/spool"
  expect "purge removes /var/log/credsentry" test ! -e "$R/var/log/credsentry"
  expect "purge removes the agent's conffiles" \
    test ! -e "$R/etc/credsentry/agent.yaml" -a ! -e "$R/etc/logrotate.d/credsentry-agent"
  expect "purge removes the binary" test ! -e "$R/usr/bin/credsentry-agent"
  if [[ -f $COLLECTOR_DEB ]]; then
    expect "agent purge leaves the collector's store alone" test -d "$R/var/lib/credsentry/collector"
    in_chroot "$R" dpkg --purge credsentry-collector >"$WORK/purge2.log" 2>&1
    expect "collector purge removes /var/lib/credsentry" test ! -e "$R/var/lib/credsentry"
  fi
fi
