#!/usr/bin/env bash
# driverctl (Debian's, unmodified, --nosave) inside `vdpafs shell`: alone it
# moves vdpa0 vhost_vdpa -> virtio_vdpa -> vhost_vdpa, and after every step
# the simulated kernel is where Linux would be: driver link,
# driver_override, /dev node, virtioM child, modules loaded.
source "$(dirname "$0")/shell_lib.sh"

step "boot: vdpa0 on vhost_vdpa, no override"
expect_vdpa0_bound vhost_vdpa
expect_eq "list-devices" "vdpa0 vhost_vdpa" "$(in_shell driverctl -b vdpa list-devices)"
# driverctl's own behaviour: no override at all is an error (exit 1).
out=$(vdpafs shell -- driverctl -b vdpa list-overrides 2>&1)
expect_eq "list-overrides exit status with no override" 1 "$?"
expect_eq "list-overrides with no override" "driverctl: No overridable devices found. Kernel too old?" "$out"
vdpafs lsmod | grep -q '^virtio_vdpa ' && fail "virtio_vdpa should not be loaded at boot"

step "set-override vdpa0 virtio_vdpa: modprobe (the simulation's), unbind, override, reprobe"
out=$(in_shell driverctl -v --nosave -b vdpa set-override vdpa0 virtio_vdpa)
expect_eq "driverctl -v steps" "driverctl: setting driver override for vdpa0: virtio_vdpa
driverctl: loading driver virtio_vdpa
driverctl: unbinding previous driver vhost_vdpa
driverctl: reprobing driver for vdpa0" "$out"
vdpafs lsmod | grep -q '^virtio_vdpa ' || fail "/sbin/modprobe in the shell should have loaded virtio_vdpa into the simulation"
expect_exists "$SYS/module/virtio_vdpa"
expect_vdpa0_bound virtio_vdpa
expect_file "$SYS/devices/vdpa0/driver_override" virtio_vdpa
expect_eq "list-devices" "vdpa0 virtio_vdpa [*]" "$(in_shell driverctl -b vdpa list-devices)"
expect_eq "list-overrides" "vdpa0 virtio_vdpa" "$(in_shell driverctl -b vdpa list-overrides)"
in_shell sh -c '[ ! -e /dev/vhost-vdpa-0 ]' >/dev/null

step "set-override vdpa0 vhost_vdpa: back, with the override naming vhost_vdpa"
out=$(in_shell driverctl -v --nosave -b vdpa set-override vdpa0 vhost_vdpa)
expect_eq "driverctl -v steps" "driverctl: setting driver override for vdpa0: vhost_vdpa
driverctl: unbinding previous driver virtio_vdpa
driverctl: reprobing driver for vdpa0" "$out"
expect_vdpa0_bound vhost_vdpa
expect_file "$SYS/devices/vdpa0/driver_override" vhost_vdpa
expect_eq "list-devices" "vdpa0 vhost_vdpa [*]" "$(in_shell driverctl -b vdpa list-devices)"
expect_eq "list-overrides" "vdpa0 vhost_vdpa" "$(in_shell driverctl -b vdpa list-overrides)"
in_shell sh -c '[ -f /dev/vhost-vdpa-0 ]' >/dev/null

step "unset-override vdpa0: override cleared, the first registered driver (vhost_vdpa) binds"
out=$(in_shell driverctl -v --nosave -b vdpa unset-override vdpa0)
expect_eq "driverctl -v steps" "driverctl: unsetting driver override for vdpa0
driverctl: unbinding previous driver vhost_vdpa
driverctl: reprobing driver for vdpa0" "$out"
expect_vdpa0_bound vhost_vdpa
expect_file "$SYS/devices/vdpa0/driver_override" "(null)"
expect_eq "list-devices" "vdpa0 vhost_vdpa" "$(in_shell driverctl -b vdpa list-devices)"
vdpafs lsmod | grep -q '^virtio_vdpa ' || fail "driverctl does not unload modules: virtio_vdpa should stay"

step "--nosave wrote nothing"
[ -e /etc/driverctl.d/vdpa-vdpa0 ] && fail "/etc/driverctl.d/vdpa-vdpa0 should not exist with --nosave"
echo OK
