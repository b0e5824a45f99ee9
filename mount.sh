#!/usr/bin/env bash
# Start a simulated kernel and mount its sys/ and dev/ at MOUNTPOINT.
#
#   ./mount.sh [--bare] [--dev-nodes=char] MOUNTPOINT    mount (installs what is missing)
#   ./mount.sh -u MOUNTPOINT                             stop the daemon and unmount
#
# Both clear a stale mount left by a killed daemon
# ("Transport endpoint is not connected") before doing anything else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  cat <<USAGE
Usage: ./mount.sh [--bare] [--dev-nodes=char] MOUNTPOINT
       ./mount.sh -u MOUNTPOINT

Mount a simulated Linux vDPA host at MOUNTPOINT: MOUNTPOINT/sys and
MOUNTPOINT/dev, backed by a model of the kernel (driver core, vdpa bus,
vdpa_sim, vhost_vdpa, virtio_vdpa). The daemon runs detached; this returns
once the mount is live.

  --bare             boot with no vdpa module loaded (no sys/bus/vdpa yet)
  --dev-nodes=char   make /dev/vhost-vdpa-N stat as character devices
                     (they then cannot be opened: the host's char layer
                     takes over); the default serves them as regular files
  -u                 stop the daemon of MOUNTPOINT and unmount it
  -h, --help         this text
USAGE
}

die() { printf 'mount.sh: %s\n' "$*" >&2; exit 1; }

unmount=0
daemon_args=()
mnt=
while (($#)); do
  case "$1" in
    -u|--unmount) unmount=1 ;;
    --bare) daemon_args+=(--bare) ;;
    --dev-nodes=char|--dev-nodes=file) daemon_args+=("$1") ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$mnt" ] || { usage >&2; exit 2; }; mnt=$1 ;;
  esac
  shift
done
[ -n "$mnt" ] || { usage >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (FUSE mounts with allow_other, apt installs)"

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }
is_stale() { is_mounted "$1" && ! timeout 2 stat "$1" >/dev/null 2>&1; }

# The daemon keeps its pid and socket under /run/vdpafs, keyed by the path.
run_key() { printf '%s' "$1" | sha256sum | cut -c1-16; }

abs_mnt() {
  local d=$1
  if [ -d "$d" ] && timeout 2 stat "$d" >/dev/null 2>&1; then (cd "$d" && pwd -P); else
    # A stale mount point cannot be entered; resolve its parent instead.
    printf '%s/%s' "$(cd "$(dirname "$d")" && pwd -P)" "$(basename "$d")"
  fi
}

mkdir -p "$(dirname "$mnt")"
mnt=$(abs_mnt "$mnt")
key=$(run_key "$mnt")
pidfile=/run/vdpafs/$key.pid
logfile=/run/vdpafs/$key.log

clear_stale() {
  if is_stale "$mnt"; then
    echo "mount.sh: clearing a stale mount at $mnt (its daemon is gone)" >&2
    umount -l "$mnt"
  fi
}

# The detached daemon is init's child once mount.sh has exited; an init that
# reaps lazily leaves it a zombie for a while, and kill -0 still succeeds.
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# Run files whose daemon is gone (killed by SIGKILL, or by a crash): a pid
# file naming no live vdpafs daemon goes, with its socket. A daemon still
# starting has no pid file yet, so its socket is left alone.
sweep_run_files() {
  local f pid
  for f in /run/vdpafs/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'daemon\.js'; then
      continue
    fi
    rm -f "$f" "${f%.pid}.sock"
  done
}

if ((unmount)); then
  sweep_run_files
  clear_stale
  if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  if is_mounted "$mnt"; then umount -l "$mnt" || true; fi
  rm -f "$pidfile" "/run/vdpafs/$key.sock" "/run/vdpafs/$key.genl.sock"
  echo "unmounted $mnt"
  exit 0
fi

"$here/scripts/setup.sh"
clear_stale
if is_mounted "$mnt"; then
  die "$mnt is already mounted (stop it first: ./mount.sh -u $mnt)"
fi
mkdir -p "$mnt" /run/vdpafs
sweep_run_files

# Detached: its own session, no terminal, output to the log. Without
# NODE_OPTIONS: a root daemon takes no --inspect or --require from the
# caller's environment (it would refuse to start with them).
: > "$logfile"
env -u NODE_OPTIONS setsid node "$here/dist/daemon.js" "${daemon_args[@]}" "$mnt" >>"$logfile" 2>&1 < /dev/null &
daemon=$!
for _ in $(seq 200); do
  grep -q '^ready ' "$logfile" 2>/dev/null && break
  kill -0 "$daemon" 2>/dev/null || { cat "$logfile" >&2; die "the daemon exited before the mount was ready"; }
  sleep 0.05
done
grep -q '^ready ' "$logfile" || { kill "$daemon" 2>/dev/null; die "timed out waiting for the mount (log: $logfile)"; }

cat <<EOF2
vdpafs mounted at $mnt (daemon pid $daemon, log $logfile)

Try:
  export VDPAFS_ROOT=$mnt PATH=$here/bin:\$PATH
  ls -l $mnt/sys/bus/vdpa/devices/ $mnt/dev/
  vdpa dev show
  vdpafs lsmod
  echo virtio_vdpa > $mnt/sys/bus/vdpa/devices/vdpa0/driver_override
  vdpafs modprobe virtio_vdpa
  echo vdpa0 > $mnt/sys/bus/vdpa/devices/vdpa0/driver/unbind
  echo vdpa0 > $mnt/sys/bus/vdpa/drivers_probe
  ls $mnt/dev/ $mnt/sys/bus/virtio/devices/
  vdpafs shell                 # /sys and /dev of the simulation, in a namespace

Stop it with: ./mount.sh -u $mnt
EOF2
