#!/usr/bin/env bash
# Unbinding (or deleting) a device while its node is open waits until the
# file is closed, as vhost_vdpa_remove() does -- with the built-in driver
# on the file, which keeps working until then.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT
classic_kernel
VHOST=$SYS/bus/vdpa/drivers/vhost_vdpa
hex() { xxd -p | tr -d '\n'; }
# Read fd 3 until read() returns 0. cat fstat()s it first: the mount answers
# by node, so that works although the node's path is gone by then.
drain3() { cat <&3; }
frame() { printf '\xff\xff\xff\xff\xff\xff\x00\x11\x22\x33\x44\x55\x08\x00'"$1"; }

step "unbind while the node is open: the write waits, the open file still loops frames back"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
frame one >&3
( exec 3>&-; echo vdpa0 > "$VHOST/unbind"; echo "$?" > "$tmp/unbind.rc" ) &
writer=$!
sleep 0.5
[ -e "$tmp/unbind.rc" ] && fail "unbind returned while the node was open"
expect_absent "$DEV/vhost-vdpa-0"
stat -L /proc/$$/fd/3 > /dev/null || fail "fstat of the open file whose node is gone failed"
frame two >&3 || fail "write on the open file failed during the unbind"
expect_eq "frames" "$(frame one | hex)$(frame two | hex)" "$(drain3 | hex)"
exec 3>&-
timeout 10 tail --pid="$writer" -f /dev/null || fail "unbind still waiting 10 s after the close"
expect_file "$tmp/unbind.rc" 0
expect_eq "driver" - "$(driver_of vdpa0)"

step "rebound, opened, and deleted while open: vdpa dev del waits for the close"
expect_write_ok vdpa0 "$VHOST/bind"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot reopen"
( exec 3>&-; vdpa dev del vdpa0; echo "$?" > "$tmp/del.rc" ) &
deleter=$!
sleep 0.5
[ -e "$tmp/del.rc" ] && fail "vdpa dev del returned while the node was open"
exec 3>&-
timeout 10 tail --pid="$deleter" -f /dev/null || fail "vdpa dev del still waiting 10 s after the close"
expect_file "$tmp/del.rc" 0
expect_absent "$SYS/devices/vdpa0"
echo "unbind while open passed"
