#!/usr/bin/env bash
# The race of issue 10: a bind waiting behind a pending unbind, and an rmmod
# of the bind's driver meanwhile. As in the kernel, rmmod waits for the
# bind (kernfs active reference on the bind file), the bind then succeeds
# against a driver still registered, and rmmod unbinds it before the
# module goes: no driver link into a removed directory, no virtioN left.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT
classic_kernel
vdpafs modprobe virtio_vdpa || fail "modprobe virtio_vdpa"

exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
( exec 3>&-; echo vdpa0 > "$SYS/bus/vdpa/drivers/vhost_vdpa/unbind"; echo $? > "$tmp/unbind.rc" ) > /dev/null 2>&1 &
sleep 0.2
expect_write_ok virtio_vdpa "$SYS/devices/vdpa0/driver_override"
( exec 3>&-; echo vdpa0 > "$SYS/bus/vdpa/drivers/virtio_vdpa/bind"; echo $? > "$tmp/bind.rc" ) > /dev/null 2>&1 &
sleep 0.2
( exec 3>&-; vdpafs rmmod virtio_vdpa; echo $? > "$tmp/rmmod.rc" ) > "$tmp/rmmod.log" 2>&1 &
sleep 0.5
[ -e "$tmp/bind.rc" ] && fail "bind returned while the unbind it waits behind was pending"
[ -e "$tmp/rmmod.rc" ] && fail "rmmod returned while a bind on its driver was running"
expect_absent "$SYS/bus/vdpa/drivers/virtio_vdpa/bind"
expect_file "$SYS/module/virtio_vdpa/initstate" going

exec 3>&-
for f in unbind bind rmmod; do
  for _ in $(seq 100); do [ -e "$tmp/$f.rc" ] && break; sleep 0.1; done
  [ -e "$tmp/$f.rc" ] || fail "$f still waiting 10 s after the close"
done
expect_file "$tmp/unbind.rc" 0
expect_file "$tmp/bind.rc" 0
expect_file "$tmp/rmmod.rc" 0
expect_absent "$SYS/module/virtio_vdpa"
expect_absent "$SYS/devices/vdpa0/driver"
expect_absent "$SYS/devices/vdpa0/virtio0"
expect_eq "virtio devices" "" "$(ls "$SYS/bus/virtio/devices")"
vdpafs rmmod virtio virtio_ring || fail "the virtio bus has a device left on it"
echo "unload_race passed"
