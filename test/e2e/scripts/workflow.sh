#!/usr/bin/env bash
# The classic workflow, from a bare boot to everything unloaded again.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa

step "bare boot: no vdpa bus, nothing in /dev, no modules"
expect_absent "$VDPA"
expect_eq "dev/" "" "$(ls "$DEV")"
expect_eq "lsmod" "Module                  Size  Used by" "$(vdpafs lsmod)"

step "vdpafs modprobe vdpa vhost_vdpa vdpa_sim_net"
vdpafs modprobe vdpa vhost_vdpa vdpa_sim_net || fail "modprobe"
expect_exists "$VDPA/drivers/vhost_vdpa/bind"
expect_link "$VDPA/drivers/vhost_vdpa/module" ../../../../module/vhost_vdpa
expect_file "$VDPA/drivers_autoprobe" 1
expect_exists "$SYS/devices/vdpasim_net"
expect_eq "vdpa devices" "" "$(ls "$VDPA/devices")"
expect_absent "$SYS/class/vhost-vdpa"

step "vdpa dev add name vdpa0 mgmtdev vdpasim_net: bound to vhost_vdpa, dev/vhost-vdpa-0 appears"
vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "vdpa dev add"
expect_link "$VDPA/devices/vdpa0" ../../../devices/vdpa0
expect_link "$SYS/devices/vdpa0/driver" ../../bus/vdpa/drivers/vhost_vdpa
expect_link "$SYS/devices/vdpa0/subsystem" ../../bus/vdpa
expect_link "$VDPA/drivers/vhost_vdpa/vdpa0" ../../../../devices/vdpa0
expect_file "$SYS/devices/vdpa0/uevent" DRIVER=vhost_vdpa
expect_file "$SYS/devices/vdpa0/driver_override" "(null)"
expect_exists "$DEV/vhost-vdpa-0"
expect_mode "$DEV/vhost-vdpa-0" 600
dev=$(cat "$SYS/devices/vdpa0/vhost-vdpa-0/dev")
[[ "$dev" =~ ^[0-9]+:0$ ]] || fail "vhost-vdpa-0/dev should be MAJ:0, got [$dev]"
expect_link "$SYS/dev/char/$dev" ../../devices/vdpa0/vhost-vdpa-0
expect_file "$SYS/devices/vdpa0/vhost-vdpa-0/uevent" ""
expect_eq "vdpa dev show" "vdpa0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256" "$(vdpa dev show)"
expect_cmd_err 1 "*" vdpa dev add name vdpa0 mgmtdev vdpasim_net

step "echo virtio_vdpa > driver_override: stored, nothing rebinds"
echo virtio_vdpa > "$VDPA/devices/vdpa0/driver_override" || fail "write driver_override"
expect_file "$SYS/devices/vdpa0/driver_override" virtio_vdpa
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"

step "vdpafs modprobe virtio_vdpa: registered, but vdpa0 stays with vhost_vdpa"
vdpafs modprobe virtio_vdpa || fail "modprobe virtio_vdpa"
expect_exists "$VDPA/drivers/virtio_vdpa/bind"
expect_exists "$SYS/bus/virtio"
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"

step "unbind through the driver link: the node vanishes"
echo vdpa0 > "$VDPA/devices/vdpa0/driver/unbind" || fail "unbind"
expect_absent "$DEV/vhost-vdpa-0"
expect_absent "$SYS/devices/vdpa0/vhost-vdpa-0"
expect_absent "$SYS/dev/char/$dev"
expect_absent "$SYS/devices/vdpa0/driver"

step "drivers_probe: vdpa0 binds virtio_vdpa and virtio0 appears"
echo vdpa0 > "$VDPA/drivers_probe" || fail "drivers_probe"
expect_link "$SYS/devices/vdpa0/driver" ../../bus/vdpa/drivers/virtio_vdpa
expect_exists "$SYS/devices/vdpa0/virtio0"
expect_link "$SYS/bus/virtio/devices/virtio0" ../../../devices/vdpa0/virtio0
expect_link "$SYS/devices/vdpa0/virtio0/subsystem" ../../../bus/virtio
expect_file "$SYS/devices/vdpa0/virtio0/device" 0x0001
expect_file "$SYS/devices/vdpa0/virtio0/vendor" 0x0000
expect_file "$SYS/devices/vdpa0/virtio0/modalias" virtio:d00000001v00000000
expect_eq "dev/" "" "$(ls "$DEV")"

step "vdpa dev del vdpa0: the device and virtio0 go"
vdpa dev del vdpa0 || fail "vdpa dev del"
expect_absent "$SYS/devices/vdpa0"
expect_absent "$VDPA/devices/vdpa0"
expect_absent "$SYS/bus/virtio/devices/virtio0"
expect_eq "vdpa dev show" "" "$(vdpa dev show)"
expect_cmd_err 1 "*" vdpa dev del vdpa0

step "vdpafs rmmod everything, newest first: nothing is left"
vdpafs rmmod virtio_vdpa virtio virtio_ring vdpa_sim_net vdpa_sim vringh vhost_vdpa irqbypass vhost vhost_iotlb vdpa || fail "rmmod"
expect_eq "lsmod" "Module                  Size  Used by" "$(vdpafs lsmod)"
expect_eq "sys/bus" "" "$(ls "$SYS/bus")"
expect_eq "sys/module" "" "$(ls "$SYS/module")"
expect_eq "sys/devices" "" "$(ls "$SYS/devices")"
expect_eq "dev/" "" "$(ls "$DEV")"
echo "classic workflow passed"
