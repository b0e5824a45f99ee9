#!/usr/bin/env bash
# Make this checkout runnable: Debian packages (as root), npm dependencies
# from the lock file, and the TypeScript build. Quiet when nothing is to do;
# says what it installs when it does. Used by `npm test`, `npm run bench`
# and ./mount.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# vdpafs mounts with mount(2) and speaks FUSE itself: no libfuse, no
# fusermount. driverctl and systool are driven by the namespace tests;
# iproute2 is the real vdpa(8) the tests compare ours with; gcc and
# libc6-dev build the generic netlink preload shim (the one compiled piece)
# and the C clients of the vhost tests.
APT_PACKAGES=(driverctl sysfsutils iproute2 gcc libc6-dev)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# /dev/fuse is how the daemon talks to the kernel's FUSE driver.
if [ ! -c /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -c /dev/fuse ] || { say "/dev/fuse is missing: this machine cannot mount FUSE file systems"; exit 1; }
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# The preload shim that lets unmodified programs (Debian's /sbin/vdpa) reach
# the simulation's generic netlink: rebuilt when its source changes.
shim_src=src/shim/vdpafs_genl_preload.c
shim=dist/libvdpafs_genl.so
if [ ! -f "$shim" ] || [ "$shim_src" -nt "$shim" ]; then
  cc=$(command -v gcc || command -v cc || true)
  if [ -z "$cc" ]; then
    say "no C compiler: cannot build $shim (install gcc and libc6-dev: apt-get install gcc libc6-dev)"
    exit 1
  fi
  say "building the generic netlink shim ($shim)"
  mkdir -p dist
  "$cc" -std=gnu11 -O2 -Wall -fPIC -shared -o "$shim.tmp" "$shim_src" -ldl -lpthread || {
    say "building $shim failed (is libc6-dev installed?)"
    exit 1
  }
  mv "$shim.tmp" "$shim"
fi

# Rebuild when any source is newer than the last build.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src tsconfig.json package.json -newer "$stamp" -print -quit)" ]; then
  say "building (tsc)"
  npx --no-install tsc -p tsconfig.json
  touch "$stamp"
fi
