#!/usr/bin/env bash
# Two mounts are two kernels: what one does is invisible to the other, and
# each CLI talks to the kernel its VDPAFS_ROOT names.
source "$(dirname "$0")/lib.sh"
: "${MNT2:?MNT2 must name the second mount}"
SYS2=$MNT2/sys
DEV2=$MNT2/dev

step "both start in the classic state"
expect_exists "$DEV/vhost-vdpa-0"
expect_exists "$DEV2/vhost-vdpa-0"

step "switching vdpa0 to virtio_vdpa in the first leaves the second alone"
echo virtio_vdpa > "$SYS/devices/vdpa0/driver_override" || fail "override"
VDPAFS_ROOT=$MNT vdpafs modprobe virtio_vdpa || fail "modprobe in the first"
echo vdpa0 > "$SYS/devices/vdpa0/driver/unbind" || fail "unbind"
echo vdpa0 > "$SYS/bus/vdpa/drivers_probe" || fail "drivers_probe"
expect_exists "$SYS/devices/vdpa0/virtio0"
expect_absent "$DEV/vhost-vdpa-0"
expect_file "$SYS2/devices/vdpa0/driver_override" "(null)"
expect_link "$SYS2/devices/vdpa0/driver" ../../bus/vdpa/drivers/vhost_vdpa
expect_exists "$DEV2/vhost-vdpa-0"
expect_absent "$SYS2/bus/virtio"
expect_absent "$SYS2/module/virtio_vdpa"

step "modules and devices are per kernel"
VDPAFS_ROOT=$MNT vdpafs rmmod vhost_vdpa || fail "rmmod in the first"
expect_absent "$SYS/module/vhost_vdpa"
expect_exists "$SYS2/module/vhost_vdpa"
expect_eq "lsmod of the second" 1 "$(VDPAFS_ROOT=$MNT2 vdpafs lsmod | grep -c '^vhost_vdpa ')"
VDPAFS_ROOT=$MNT2 vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "dev add in the second"
expect_exists "$DEV2/vhost-vdpa-1"
expect_absent "$SYS/devices/vdpa1"
expect_eq "vdpa dev show in the first" "vdpa0" "$(VDPAFS_ROOT=$MNT vdpa dev show | cut -d: -f1)"

step "stores in one never reach the other"
echo 0 > "$SYS/bus/vdpa/drivers_autoprobe"
expect_file "$SYS2/bus/vdpa/drivers_autoprobe" 1
echo "two kernels passed"
