#!/usr/bin/env bash
# Packaging tests (issue 7): what an admin installing credsentry on a fleet would notice.
#   - both packages build with cpack; lintian finds no errors in the .debs;
#   - the .rpms carry the files, config markers, requirements and scriptlets, and install into
#     an rpm root;
#   - the .debs install into a clean Debian 12 root (debootstrap, cached), where
#     `credsentry-agent --version` and `--check` run; an upgrade keeps a modified conffile and a
#     rules.d drop-in; purge removes state;
#   - systemd-analyze verify passes and security exposure is <= 3.0 (agent), <= 2.0 (collector).
#
# Needs root (debootstrap, chroot, unshare). The project must be built in $CREDSENTRY_BUILD_DIR
# (default <repo>/build). The debootstrap root is cached in $CREDSENTRY_PKG_CACHE (default
# <build>/packaging-cache); set CREDSENTRY_DEBIAN_MIRROR to use another mirror.
# Nothing here starts the agent: `--check` attaches no probe.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${CREDSENTRY_BUILD_DIR:-$REPO/build}
CACHE=${CREDSENTRY_PKG_CACHE:-$BUILD/packaging-cache}
MIRROR=${CREDSENTRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /tmp/credsentry-pkgtest.XXXXXX)
# Mounts are made only inside private mount namespaces (unshare -m), so nothing under $WORK is
# mounted once those have exited and removing it is safe.
cleanup() {
  [[ -n ${agent_pid:-} ]] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid"
  [[ -n ${cgdir:-} && -d $cgdir ]] && rmdir "$cgdir"
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

source "$REPO/tests/packaging/lib.sh"
source "$REPO/tests/packaging/debian_root.sh"

# ---- preconditions: say what is missing instead of failing obscurely ------------------------
if [[ $(id -u) -ne 0 ]]; then
  not_ok "runs as root (debootstrap, chroot, rpm --root need it)"
  summary_and_exit
fi
for tool in cpack dpkg-deb lintian rpm rpmbuild systemd-analyze debootstrap unshare; do
  command -v "$tool" >/dev/null || not_ok "tool $tool is installed (scripts/install-deps.sh)"
done
AGENT_BIN=$BUILD/agent/credsentry-agent
COLLECTOR_BIN=$BUILD/collector/credsentry-collector
if [[ ! -x $AGENT_BIN || ! -f $BUILD/CPackConfig.cmake ]]; then
  not_ok "the project is built in $BUILD (ninja -C $BUILD credsentry-agent credsentry-collector)"
  summary_and_exit
fi
HAVE_COLLECTOR=0
[[ -x $COLLECTOR_BIN ]] && HAVE_COLLECTOR=1
VERSION=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
V2=$VERSION.1  # sorts after $VERSION for both dpkg and rpm

# ---- 1. packages build ----------------------------------------------------------------------
section "build packages (cpack)"
build_packages() {  # dir [cpack args...]
  local out=$1
  shift
  (cd "$BUILD" && cpack --config CPackConfig.cmake -B "$out" "$@") >"$out.log" 2>&1
}
mkdir -p "$WORK/v1" "$WORK/v2"
if build_packages "$WORK/v1" -G "DEB;RPM"; then ok "cpack builds DEB and RPM ($VERSION)"; else
  not_ok "cpack builds DEB and RPM" "$WORK/v1.log"
fi
if build_packages "$WORK/v2" -G "DEB;RPM" -D CPACK_PACKAGE_VERSION="$V2"; then
  ok "cpack builds the upgrade packages ($V2)"
else
  not_ok "cpack builds the upgrade packages" "$WORK/v2.log"
fi
AGENT_DEB=$(ls "$WORK"/v1/credsentry-agent_*.deb 2>/dev/null | head -1)
AGENT_DEB2=$(ls "$WORK"/v2/credsentry-agent_*.deb 2>/dev/null | head -1)
COLLECTOR_DEB=$(ls "$WORK"/v1/credsentry-collector_*.deb 2>/dev/null | head -1)
COLLECTOR_DEB2=$(ls "$WORK"/v2/credsentry-collector_*.deb 2>/dev/null | head -1)
AGENT_RPM=$(ls "$WORK"/v1/credsentry-agent-*.rpm 2>/dev/null | head -1)
AGENT_RPM2=$(ls "$WORK"/v2/credsentry-agent-*.rpm 2>/dev/null | head -1)
COLLECTOR_RPM=$(ls "$WORK"/v1/credsentry-collector-*.rpm 2>/dev/null | head -1)
expect "the agent .deb and .rpm exist" test -f "$AGENT_DEB" -a -f "$AGENT_RPM" -a -f "$AGENT_DEB2"
if ((HAVE_COLLECTOR)); then
  expect "the collector .deb and .rpm exist" test -f "$COLLECTOR_DEB" -a -f "$COLLECTOR_RPM"
else
  skip "collector packages (credsentry-collector is not built in $BUILD)"
fi

source "$REPO/tests/packaging/deb_checks.sh"
source "$REPO/tests/packaging/rpm_checks.sh"
source "$REPO/tests/packaging/install_checks.sh"
source "$REPO/tests/packaging/unit_checks.sh"
source "$REPO/tests/packaging/privilege_checks.sh"

summary_and_exit
