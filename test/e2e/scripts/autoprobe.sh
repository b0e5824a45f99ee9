#!/usr/bin/env bash
# drivers_autoprobe: 0 keeps new devices and newly loaded drivers from
# binding; it changes nothing for devices already bound; drivers_probe and
# bind still work by hand.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
classic_kernel

step "drivers_autoprobe reads 1 at first, 0 after writing 0"
expect_file "$VDPA/drivers_autoprobe" 1
expect_write_ok 0 "$VDPA/drivers_autoprobe"
expect_file "$VDPA/drivers_autoprobe" 0
expect_eq "vdpa0 stays bound" vhost_vdpa "$(driver_of vdpa0)"

step "device add with autoprobe 0 leaves the device unbound: no driver link, no /dev node, empty uevent"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "vdpa dev add vdpa1"
expect_exists "$SYS/devices/vdpa1"
expect_eq "vdpa1 driver" - "$(driver_of vdpa1)"
expect_file "$SYS/devices/vdpa1/uevent" ""
expect_absent "$DEV/vhost-vdpa-1"

step "loading a driver with autoprobe 0 attaches it to nothing"
vdpafs modprobe virtio_vdpa || fail "modprobe virtio_vdpa"
expect_eq "vdpa1 driver" - "$(driver_of vdpa1)"
expect_absent "$SYS/bus/virtio/devices/virtio0"

step "writing 1 back does not probe existing devices; drivers_probe does, in registration order"
expect_write_ok 1 "$VDPA/drivers_autoprobe"
expect_eq "vdpa1 driver" - "$(driver_of vdpa1)"
expect_write_ok vdpa1 "$VDPA/drivers_probe"
expect_eq "vdpa1 driver" vhost_vdpa "$(driver_of vdpa1)"
expect_exists "$DEV/vhost-vdpa-1"

step "with autoprobe 1 a new device goes to the first driver loaded (vhost_vdpa before virtio_vdpa)"
vdpa dev add name vdpa2 mgmtdev vdpasim_net || fail "vdpa dev add vdpa2"
expect_eq "vdpa2 driver" vhost_vdpa "$(driver_of vdpa2)"

step "and to virtio_vdpa when that was loaded first"
reset_kernel vdpa virtio_vdpa vhost_vdpa vdpa_sim_net
vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "vdpa dev add vdpa0"
expect_eq "vdpa0 driver" virtio_vdpa "$(driver_of vdpa0)"
expect_exists "$SYS/devices/vdpa0/virtio0"

step "no driver module loaded: the device stays unbound and nothing is autoloaded"
reset_kernel vdpa vdpa_sim_net
vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "vdpa dev add vdpa0"
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"
expect_absent "$SYS/module/vhost_vdpa"
expect_absent "$SYS/module/virtio_vdpa"
echo "all autoprobe checks passed"
