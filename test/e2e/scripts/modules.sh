#!/usr/bin/env bash
# Modules as kmod shows them: /sys/module/NAME, rmmod's refusals (kmod's
# messages, exit 1), the driver's module link, and what loading and
# unloading does to devices.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
classic_kernel

step "/sys/module/NAME: refcnt, initstate, holders/"
expect_file "$SYS/module/vdpa/initstate" live
expect_file "$SYS/module/vdpa/refcnt" 3
expect_eq "vdpa holders" "vdpa_sim vdpa_sim_net vhost_vdpa" "$(ls "$SYS/module/vdpa/holders" | sort | tr '\n' ' ' | sed 's/ $//')"
expect_link "$SYS/module/vdpa/holders/vhost_vdpa" ../../vhost_vdpa
expect_file "$SYS/module/vhost_vdpa/refcnt" 0
expect_eq "vhost_vdpa holders" "" "$(ls "$SYS/module/vhost_vdpa/holders")"
expect_link "$VDPA/drivers/vhost_vdpa/module" ../../../../module/vhost_vdpa
expect_link "$SYS/module/vhost_vdpa/drivers/vdpa:vhost_vdpa" ../../../bus/vdpa/drivers/vhost_vdpa
lsmod_line=$(vdpafs lsmod | awk '$1 == "vdpa" { print $3, $4 }')
expect_eq "lsmod vdpa" "3 vhost_vdpa,vdpa_sim,vdpa_sim_net" "$lsmod_line"

step "rmmod refusals: kmod's messages and exit 1"
expect_cmd_err 1 "rmmod: ERROR: Module vdpa is in use by: vhost_vdpa vdpa_sim vdpa_sim_net" vdpafs rmmod vdpa
expect_cmd_err 1 "rmmod: ERROR: Module nosuch is not currently loaded" vdpafs rmmod nosuch
expect_cmd_err 1 "rmmod: ERROR: Module virtio_vdpa is not currently loaded" vdpafs rmmod virtio-vdpa
expect_cmd_err 1 "modprobe: FATAL: Module nosuch not found in directory /lib/modules/*" vdpafs modprobe nosuch
expect_cmd_err 1 "modprobe: FATAL: Module vdpa is in use." vdpafs modprobe -r vdpa
exec 3<> "$DEV/vhost-vdpa-0" || fail "open dev/vhost-vdpa-0"
expect_file "$SYS/module/vhost_vdpa/refcnt" 1
expect_cmd_err 1 "rmmod: ERROR: Module vhost_vdpa is in use" vdpafs rmmod vhost_vdpa
expect_eq "lsmod vhost_vdpa" 1 "$(vdpafs lsmod | awk '$1 == "vhost_vdpa" { print $3 }')"
exec 3>&-
expect_file "$SYS/module/vhost_vdpa/refcnt" 0

step "unloading a driver unbinds its devices; loading it again attaches to the unbound ones"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "dev add vdpa1"
vdpafs rmmod vhost_vdpa || fail "rmmod vhost_vdpa"
expect_absent "$SYS/module/vhost_vdpa"
expect_absent "$VDPA/drivers/vhost_vdpa"
expect_absent "$SYS/devices/vdpa0/driver"
expect_absent "$SYS/devices/vdpa1/driver"
expect_eq "dev/" "" "$(ls "$DEV")"
expect_eq "vdpa holders" "vdpa_sim vdpa_sim_net" "$(ls "$SYS/module/vdpa/holders" | sort | tr '\n' ' ' | sed 's/ $//')"
vdpafs modprobe vhost_vdpa || fail "modprobe vhost_vdpa"
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"
expect_eq "vdpa1 driver" vhost_vdpa "$(driver_of vdpa1)"
expect_eq "dev/" "vhost-vdpa-0 vhost-vdpa-1" "$(ls "$DEV" | tr '\n' ' ' | sed 's/ $//')"

step "unloading vdpa_sim_net deletes its devices and its management device"
vdpafs rmmod vdpa_sim_net || fail "rmmod vdpa_sim_net"
expect_eq "vdpa devices" "" "$(ls "$VDPA/devices")"
expect_absent "$SYS/devices/vdpa0"
expect_absent "$SYS/devices/vdpa1"
expect_absent "$SYS/devices/vdpasim_net"
expect_eq "dev/" "" "$(ls "$DEV")"
expect_cmd_err 1 "*" vdpa dev add name vdpa0 mgmtdev vdpasim_net

step "modprobe -r removes a module and the dependencies nothing else uses"
vdpafs modprobe -r vhost_vdpa || fail "modprobe -r vhost_vdpa"
expect_absent "$SYS/module/vhost_vdpa"
expect_absent "$SYS/module/vhost"
expect_exists "$SYS/module/vdpa"
expect_exists "$SYS/module/vhost_iotlb"
echo "module behaviour passed"
