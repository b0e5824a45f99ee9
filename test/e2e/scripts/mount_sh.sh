#!/usr/bin/env bash
# ./mount.sh and ./mount.sh -u on a real temporary mount point MNT: mount,
# refuse a second mount, unmount and stop the daemon, --bare, and stale
# mounts (a daemon that is gone) cleared by both forms.
source "$(dirname "$0")/lib.sh"
: "${REPO:?REPO must name the checkout}"
MOUNT_SH=$REPO/mount.sh
key=$(printf '%s' "$MNT" | sha256sum | cut -c1-16)
pidfile=/run/vdpafs/$key.pid
sockfile=/run/vdpafs/$key.sock

mounted() { awk -v m="$MNT" '$2 == m && $3 == "fuse.vdpafs" { f = 1 } END { exit !f }' /proc/mounts; }
daemon_pid() { cat "$pidfile" 2>/dev/null; }
# wait_until SECONDS CMD...: poll CMD every 0.1 s.
wait_until() {
  local n=$(($1 * 10))
  shift
  while ((n-- > 0)); do "$@" && return 0; sleep 0.1; done
  return 1
}
# A killed child of the daemon stays a zombie until the daemon reaps it.
dead() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
not_mounted() { ! mounted; }
# make_stale: mount, then SIGKILL the daemon: nothing unmounts, the mount is stale.
make_stale() {
  "$MOUNT_SH" "$@" "$MNT" > /dev/null || fail "./mount.sh $* $MNT failed"
  local pid
  pid=$(daemon_pid)
  kill -KILL "$pid"
  wait_until 5 dead "$pid" || fail "daemon $pid survived SIGKILL"
  mounted || fail "the stale mount should still be listed in /proc/mounts"
}

step "usage: -h prints it (exit 0); no mount point or a bad option exits 2"
expect_cmd_err 0 "Usage: ./mount.sh*" "$MOUNT_SH" -h
expect_cmd_err 2 "Usage: ./mount.sh*" "$MOUNT_SH"
expect_cmd_err 2 "Usage: ./mount.sh*" "$MOUNT_SH" --frobnicate "$MNT"

step "./mount.sh MNT mounts a classic kernel and returns once the mount is live"
out=$("$MOUNT_SH" "$MNT" 2>&1) || fail "./mount.sh failed: $out"
[[ "$out" == *"vdpafs mounted at $MNT (daemon pid "* ]] || fail "unexpected output: $out"
mounted || fail "$MNT is not in /proc/mounts as fuse.vdpafs"
pid=$(daemon_pid)
kill -0 "$pid" || fail "daemon $pid is not running"
expect_exists "$DEV/vhost-vdpa-0"
expect_link "$SYS/devices/vdpa0/driver" ../../bus/vdpa/drivers/vhost_vdpa
expect_eq "lsmod through the socket" 1 "$(VDPAFS_ROOT=$MNT vdpafs lsmod | grep -c '^vhost_vdpa ')"

step "a second ./mount.sh on a live mount refuses"
expect_cmd_err 1 "mount.sh: $MNT is already mounted (stop it first: ./mount.sh -u $MNT)" "$MOUNT_SH" "$MNT"
kill -0 "$pid" || fail "the refused mount killed the daemon"

step "./mount.sh -u stops the daemon and unmounts"
expect_cmd_err 0 "unmounted $MNT" "$MOUNT_SH" -u "$MNT"
not_mounted || fail "$MNT still mounted"
wait_until 5 dead "$pid" || fail "daemon $pid still running"
expect_absent "$pidfile"
expect_absent "$sockfile"
expect_cmd_err 1 "*no vdpafs kernel is running at $MNT*" env VDPAFS_ROOT="$MNT" vdpafs lsmod
expect_cmd_err 0 "unmounted $MNT" "$MOUNT_SH" -u "$MNT"

step "./mount.sh --bare MNT: no vdpa module, so no sys/bus/vdpa"
"$MOUNT_SH" --bare "$MNT" > /dev/null || fail "./mount.sh --bare failed"
expect_exists "$SYS/devices"
expect_absent "$SYS/bus/vdpa"
expect_eq "dev/" "" "$(ls "$DEV")"
"$MOUNT_SH" -u "$MNT" > /dev/null || fail "./mount.sh -u failed"

step "a SIGKILLed daemon leaves a stale mount: Transport endpoint is not connected"
make_stale
expect_cmd_err 1 "*Transport endpoint is not connected" stat "$MNT"

step "./mount.sh -u clears a stale mount"
out=$("$MOUNT_SH" -u "$MNT" 2>&1) || fail "./mount.sh -u failed on a stale mount: $out"
[[ "$out" == *"clearing a stale mount at $MNT (its daemon is gone)"* ]] || fail "no stale-mount notice: $out"
[[ "$out" == *"unmounted $MNT"* ]] || fail "no 'unmounted': $out"
not_mounted || fail "the stale mount is still there"
stat "$MNT" > /dev/null || fail "$MNT cannot be entered after clearing"

step "./mount.sh on a stale mount clears it and mounts a fresh kernel"
make_stale --bare
out=$("$MOUNT_SH" "$MNT" 2>&1) || fail "./mount.sh over a stale mount failed: $out"
[[ "$out" == *"clearing a stale mount at $MNT"* ]] || fail "no stale-mount notice: $out"
expect_exists "$DEV/vhost-vdpa-0"
"$MOUNT_SH" -u "$MNT" > /dev/null || fail "./mount.sh -u failed"
not_mounted || fail "$MNT still mounted at the end"
echo "mount.sh passed"
