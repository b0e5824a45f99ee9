#!/usr/bin/env bash
# Every row of the binding table (linux-vdpa.md §2) a shell can reach, as
# the shell sees it: bash's "echo: write error: <strerror>" and exit 1, or
# exit 0 and the effect. Rows only a failing probe or a failing bus match can
# reach are pinned in test/unit/driver_core.test.ts.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
VHOST=$VDPA/drivers/vhost_vdpa
VIRTIO=$VDPA/drivers/virtio_vdpa
ev=$(mktemp)
trap 'monitor_stop; rm -f "$ev"' EXIT

classic_kernel
vdpafs modprobe virtio_vdpa || fail "modprobe virtio_vdpa"

step "bind: unknown name -> ENODEV"
expect_echo_err nosuch "$VHOST/bind" "No such device"
expect_echo_err "" "$VHOST/bind" "No such device"

step "bind: device already bound (to this driver or another) -> EBUSY"
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"
expect_echo_err vdpa0 "$VHOST/bind" "Device or resource busy"
expect_echo_err vdpa0 "$VIRTIO/bind" "Device or resource busy"

step "bind: the override names another driver -> ENODEV"
expect_write_ok virtio_vdpa "$SYS/devices/vdpa0/driver_override"
expect_write_ok vdpa0 "$VHOST/unbind"
expect_echo_err vdpa0 "$VHOST/bind" "No such device"
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"

step "bind: success -> exit 0, drivers/X/NAME and NAME/driver, KOBJ_BIND"
monitor_start "$ev"
expect_write_ok vdpa0 "$VIRTIO/bind"
monitor_stop
expect_link "$VIRTIO/vdpa0" ../../../../devices/vdpa0
expect_link "$SYS/devices/vdpa0/driver" ../../bus/vdpa/drivers/virtio_vdpa
expect_file "$SYS/devices/vdpa0/uevent" "DRIVER=virtio_vdpa"
grep -q '^KERNEL\[[0-9.]*\] bind     /devices/vdpa0 (vdpa)$' "$ev" || fail "no KOBJ_BIND for vdpa0: $(cat "$ev")"
grep -q '^DRIVER=virtio_vdpa$' "$ev" || fail "KOBJ_BIND without DRIVER=virtio_vdpa: $(cat "$ev")"

step "unbind: unknown name, or not bound to this driver -> ENODEV"
expect_echo_err nosuch "$VIRTIO/unbind" "No such device"
expect_echo_err vdpa0 "$VHOST/unbind" "No such device"
expect_eq "vdpa0 driver" virtio_vdpa "$(driver_of vdpa0)"

step "unbind: success -> exit 0, links removed, KOBJ_UNBIND"
monitor_start "$ev"
expect_write_ok vdpa0 "$VIRTIO/unbind"
monitor_stop
expect_absent "$SYS/devices/vdpa0/driver"
expect_absent "$VIRTIO/vdpa0"
expect_absent "$SYS/devices/vdpa0/virtio0"
expect_file "$SYS/devices/vdpa0/uevent" ""
grep -q '^KERNEL\[[0-9.]*\] unbind   /devices/vdpa0 (vdpa)$' "$ev" || fail "no KOBJ_UNBIND for vdpa0: $(cat "$ev")"

step "unbind: a device that is not bound at all -> ENODEV"
expect_echo_err vdpa0 "$VIRTIO/unbind" "No such device"

step "drivers_probe: unknown name -> ENODEV"
expect_echo_err nosuch "$VDPA/drivers_probe" "No such device"

step "drivers_probe: no driver binds (override 'none') -> exit 0, still unbound"
expect_write_ok none "$SYS/devices/vdpa0/driver_override"
expect_write_ok vdpa0 "$VDPA/drivers_probe"
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"

step "drivers_probe: binds an unbound device (override virtio_vdpa)"
expect_write_ok virtio_vdpa "$SYS/devices/vdpa0/driver_override"
expect_write_ok vdpa0 "$VDPA/drivers_probe"
expect_eq "vdpa0 driver" virtio_vdpa "$(driver_of vdpa0)"

step "drivers_probe: already bound -> exit 0, nothing changes (even with a new override)"
expect_write_ok vhost_vdpa "$SYS/devices/vdpa0/driver_override"
expect_write_ok vdpa0 "$VDPA/drivers_probe"
expect_eq "vdpa0 driver" virtio_vdpa "$(driver_of vdpa0)"

step "drivers_autoprobe: '0' -> 0, anything else -> 1, exit 0 each time"
for v in 0:0 1:1 0junk:0 yes:1 0:0 2:1 " 0":1; do
  expect_write_ok "${v%:*}" "$VDPA/drivers_autoprobe"
  expect_file "$VDPA/drivers_autoprobe" "${v##*:}"
done
expect_write_ok 1 "$VDPA/drivers_autoprobe"
echo "all errno rows passed"
