# A clean Debian 12 root for install tests, and a way to run commands in it with /proc, /sys
# and /dev present. Sourced by run-packaging-tests.sh.
#
# Every mount happens inside a private mount namespace (unshare -m) that ends with the command,
# so no mount outlives a test step and nothing is left mounted under $WORK if a step fails.

# prepare_debian_root DIR: DIR becomes a fresh minbase bookworm root. The debootstrap result is
# cached as a tarball in $CACHE (about 2 minutes the first time, seconds after).
prepare_debian_root() {
  local dir=$1 tarball=$CACHE/bookworm-minbase.tar
  if [[ -x $dir/bin/sh ]]; then return 0; fi
  if [[ ! -f $tarball ]]; then
    mkdir -p "$CACHE" || return 1
    local tmp
    tmp=$(mktemp -d "$CACHE/debootstrap.XXXXXX") || return 1
    if ! unshare -m --propagation private -- \
      debootstrap --variant=minbase bookworm "$tmp/root" "$MIRROR"; then
      rm -rf --one-file-system "$tmp"
      return 1
    fi
    tar -C "$tmp/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$tmp"
    [[ -f $tarball ]] || return 1
  fi
  mkdir -p "$dir" && tar -C "$dir" -xf "$tarball"
}

# in_root_ns ROOT COMMAND...: runs COMMAND (on the host's filesystem view) in a private mount
# namespace where ROOT has /proc, /sys and /dev mounted.
in_root_ns() {
  local root=$1
  shift
  unshare -m --propagation private -- /bin/bash -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" ||
      { echo "in_root_ns: cannot mount /proc, /sys, /dev under $r" >&2; exit 99; }
    "$@"' in_root_ns "$root" "$@"
}

# in_chroot ROOT COMMAND...: runs COMMAND inside ROOT, with a clean environment.
in_chroot() {
  local root=$1
  shift
  in_root_ns "$root" chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}
