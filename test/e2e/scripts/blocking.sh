#!/usr/bin/env bash
# vhost_vdpa_remove() waits for the open file: an unbind (or vdpa dev del)
# written while /dev/vhost-vdpa-N is open does not return until the file is
# closed, though the node and the driver link are gone at once; the open
# file also pins the module (rmmod refuses) and makes a second open EBUSY.
source "$(dirname "$0")/lib.sh"
VHOST=$SYS/bus/vdpa/drivers/vhost_vdpa
tmp=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT
classic_kernel

step "the open file takes a module reference and makes a second open EBUSY"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
expect_file "$SYS/module/vhost_vdpa/refcnt" 1
expect_cmd_err 1 "*Device or resource busy" bash -c "exec 4<> '$DEV/vhost-vdpa-0'"
expect_cmd_err 1 "rmmod: ERROR: Module vhost_vdpa is in use" vdpafs rmmod vhost_vdpa

step "unbind while open: the write waits, the node and the driver link are gone at once"
# The writer must not inherit fd 3, or it would wait for itself; nor this
# script's stdout, or a writer stuck by a bug would keep the test runner waiting.
( exec 3>&-; echo vdpa0 > "$VHOST/unbind"; echo "$?" > "$tmp/unbind.rc" ) > "$tmp/unbind.log" 2>&1 &
writer=$!
sleep 0.3
[ -e "$tmp/unbind.rc" ] && fail "unbind returned ($(cat "$tmp/unbind.rc")) while the node was open"
expect_absent "$DEV/vhost-vdpa-0"
expect_absent "$SYS/devices/vdpa0/vhost-vdpa-0"
expect_absent "$SYS/devices/vdpa0/driver"
exec 3>&-
timeout 10 tail --pid="$writer" -f /dev/null || fail "unbind still waiting 10 s after the close"
expect_file "$tmp/unbind.rc" 0
expect_file "$SYS/module/vhost_vdpa/refcnt" 0
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"

step "after the close the minor is free again: a rebind gets vhost-vdpa-0"
expect_write_ok vdpa0 "$VHOST/bind"
expect_exists "$DEV/vhost-vdpa-0"
expect_exists "$SYS/devices/vdpa0/vhost-vdpa-0"

step "a bind written during a waiting unbind waits for it (device_lock), then binds"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
( exec 3>&-; echo vdpa0 > "$VHOST/unbind"; echo "$?" > "$tmp/unbind2.rc" ) > "$tmp/unbind2.log" 2>&1 &
unbinder=$!
sleep 0.3
( exec 3>&-; echo vdpa0 > "$VHOST/bind"; echo "$?" > "$tmp/bind.rc" ) > "$tmp/bind.log" 2>&1 &
binder=$!
sleep 0.3
[ -e "$tmp/bind.rc" ] && fail "bind returned ($(cat "$tmp/bind.rc")) while the unbind was waiting"
exec 3>&-
timeout 10 tail --pid="$unbinder" -f /dev/null || fail "unbind still waiting after the close"
timeout 10 tail --pid="$binder" -f /dev/null || fail "bind still waiting after the close"
expect_file "$tmp/unbind2.rc" 0
expect_file "$tmp/bind.rc" 0
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"
expect_exists "$DEV/vhost-vdpa-0"

step "vdpa dev del while open waits for the close too"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
( exec 3>&-; vdpa dev del vdpa0; echo "$?" > "$tmp/del.rc" ) > "$tmp/del.log" 2>&1 &
deleter=$!
sleep 0.3
[ -e "$tmp/del.rc" ] && fail "vdpa dev del returned ($(cat "$tmp/del.rc")) while the node was open"
expect_absent "$DEV/vhost-vdpa-0"
# device_del() has taken the attributes, power/, uevent and the links away already.
expect_eq "vdpa0 while device_del waits" "" "$(ls -A "$SYS/devices/vdpa0")"
expect_absent "$SYS/bus/vdpa/devices/vdpa0"
exec 3>&-
timeout 10 tail --pid="$deleter" -f /dev/null || fail "vdpa dev del still waiting 10 s after the close"
expect_file "$tmp/del.rc" 0
expect_absent "$SYS/devices/vdpa0"
echo "blocking unbind and delete passed"
