#!/usr/bin/env bash
# Never stale: once a bind or unbind write has returned, any other process
# sees the new tree at once: no cached `driver` link, /dev node, negative
# entry or attribute value survives the change.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
VHOST=$VDPA/drivers/vhost_vdpa
classic_kernel
major=$(cut -d: -f1 "$SYS/devices/vdpa0/vhost-vdpa-0/dev")

step "20 unbind/bind rounds, each checked at once by separate processes"
for i in $(seq 20); do
  echo vdpa0 > "$VHOST/unbind" || fail "round $i: unbind"
  stat "$SYS/devices/vdpa0/driver" > /dev/null 2>&1 && fail "round $i: stat still finds devices/vdpa0/driver"
  readlink "$SYS/devices/vdpa0/driver" > /dev/null && fail "round $i: readlink still reads devices/vdpa0/driver"
  ls "$DEV" | grep -qx vhost-vdpa-0 && fail "round $i: ls still lists dev/vhost-vdpa-0"
  stat "$DEV/vhost-vdpa-0" > /dev/null 2>&1 && fail "round $i: stat still finds dev/vhost-vdpa-0"
  ls "$SYS/dev/char" | grep -qx "$major:0" && fail "round $i: sys/dev/char/$major:0 still listed"
  ls "$SYS/devices/vdpa0" | grep -qx vhost-vdpa-0 && fail "round $i: devices/vdpa0/vhost-vdpa-0 still listed"
  [ "$(cat "$SYS/devices/vdpa0/uevent")" = "" ] || fail "round $i: uevent still names a driver"

  echo vdpa0 > "$VHOST/bind" || fail "round $i: bind"
  [ "$(readlink "$SYS/devices/vdpa0/driver")" = ../../bus/vdpa/drivers/vhost_vdpa ] || fail "round $i: no driver link after bind"
  stat "$DEV/vhost-vdpa-0" > /dev/null || fail "round $i: dev/vhost-vdpa-0 missing after bind"
  ls "$VHOST" | grep -qx vdpa0 || fail "round $i: drivers/vhost_vdpa/vdpa0 missing after bind"
  [ "$(cat "$SYS/devices/vdpa0/uevent")" = DRIVER=vhost_vdpa ] || fail "round $i: uevent stale after bind"
done

step "an attribute's new value is read back by the next reader"
for v in virtio_vdpa none vhost_vdpa x; do
  echo "$v" > "$SYS/devices/vdpa0/driver_override"
  [ "$(cat "$SYS/devices/vdpa0/driver_override")" = "$v" ] || fail "driver_override stale after writing $v"
done
echo > "$SYS/devices/vdpa0/driver_override"

step "a device deleted by vdpa dev del is gone for the next lookup"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "vdpa dev add vdpa1"
stat "$SYS/devices/vdpa1/driver" > /dev/null || fail "vdpa1 not bound"
vdpa dev del vdpa1 || fail "vdpa dev del vdpa1"
stat "$SYS/devices/vdpa1" > /dev/null 2>&1 && fail "devices/vdpa1 still there"
stat "$VDPA/devices/vdpa1" > /dev/null 2>&1 && fail "bus/vdpa/devices/vdpa1 still there"
stat "$DEV/vhost-vdpa-1" > /dev/null 2>&1 && fail "dev/vhost-vdpa-1 still there"
echo "never stale"
