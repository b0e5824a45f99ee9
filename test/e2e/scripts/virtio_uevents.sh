#!/usr/bin/env bash
# The exact uevents of the classic workflow's virtio half, as
# `vdpafs monitor --property` prints them (udevadm monitor --kernel
# --property), on a freshly booted classic kernel.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"

expect_eq "fresh classic boot" vhost_vdpa "$(driver_of vdpa0)"
S=$(cat "$SYS/kernel/uevent_seqnum")
expect_eq "boot uevents" 12 "$S"

monitor_start "$MNT.monitor"
echo virtio_vdpa > "$SYS/bus/vdpa/devices/vdpa0/driver_override" || fail "override"
vdpafs modprobe virtio_vdpa || fail "modprobe virtio_vdpa"
echo vdpa0 > "$SYS/bus/vdpa/devices/vdpa0/driver/unbind" || fail "unbind"
echo vdpa0 > "$SYS/bus/vdpa/drivers_probe" || fail "drivers_probe"
vdpafs modprobe virtio_net || fail "modprobe virtio_net"
echo change > "$SYS/class/net/eth0/uevent" || fail "synthesize change"
vdpa dev del vdpa0 || fail "dev del"
monitor_stop

ev() { # ACTION DEVPATH SUBSYSTEM [VAR=VALUE...]: one event, with the next SEQNUM
  local action=$1 devpath=$2 subsystem=$3
  shift 3
  S=$((S + 1))
  printf 'KERNEL %-8s %s (%s)\n' "$action" "$devpath" "$subsystem"
  printf '%s\n' "ACTION=$action" "DEVPATH=$devpath" "SUBSYSTEM=$subsystem" "$@" "SEQNUM=$S"
  echo
}
M=MODALIAS=virtio:d00000001v00000000
Q=/devices/vdpa0/virtio0/net/eth0/queues
want=$(
  ev add /module/virtio_ring module
  ev add /bus/virtio bus
  ev add /module/virtio module
  ev add /bus/vdpa/drivers/virtio_vdpa drivers
  ev add /module/virtio_vdpa module
  ev unbind /devices/vdpa0 vdpa
  ev add /devices/vdpa0/virtio0 virtio $M
  ev bind /devices/vdpa0 vdpa DRIVER=virtio_vdpa
  ev add /module/failover module
  ev add /module/net_failover module
  ev add /devices/vdpa0/virtio0/net/eth0 net INTERFACE=eth0 IFINDEX=2
  ev add $Q/rx-0 queues
  ev add $Q/tx-0 queues
  ev bind /devices/vdpa0/virtio0 virtio DRIVER=virtio_net $M
  ev add /bus/virtio/drivers/virtio_net drivers
  ev add /module/virtio_net module
  ev change /devices/vdpa0/virtio0/net/eth0 net SYNTH_UUID=0 INTERFACE=eth0 IFINDEX=2
  ev remove $Q/rx-0 queues
  ev remove $Q/tx-0 queues
  ev remove /devices/vdpa0/virtio0/net/eth0 net INTERFACE=eth0 IFINDEX=2
  ev unbind /devices/vdpa0/virtio0 virtio
  ev remove /devices/vdpa0/virtio0 virtio $M
  ev unbind /devices/vdpa0 vdpa
  ev remove /devices/vdpa0 vdpa
)
got=$(monitor_lines "$MNT.monitor")
if [ "$got" != "$want" ]; then
  diff <(echo "$want") <(echo "$got") >&2
  fail "the monitor output differs (diff above: < expected, > got)"
fi
expect_file "$SYS/kernel/uevent_seqnum" $((S + $(grep -c '^KERNEL ' <<< "$want")))
head -3 "$MNT.monitor" | grep -q '^KERNEL - the kernel uevent$' || fail "monitor banner"
grep -Eq '^KERNEL\[[0-9]+\.[0-9]{6}\] add      /bus/virtio \(bus\)$' "$MNT.monitor" || fail "monitor headline format"
rm -f "$MNT.monitor"

step "without --property, one line per event; -s filters by subsystem"
monitor_start_plain() {
  vdpafs monitor "$@" > "$MNT.monitor" 2>&1 &
  MONITOR_PID=$!
  for _ in $(seq 100); do grep -q '^KERNEL - ' "$MNT.monitor" 2>/dev/null && return 0; sleep 0.02; done
  fail "monitor did not start"
}
monitor_start_plain --kernel --subsystem-match=vdpa
vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "dev add"
monitor_stop
expect_eq "vdpa events" "KERNEL add      /devices/vdpa0 (vdpa)
KERNEL bind     /devices/vdpa0 (vdpa)" "$(monitor_lines "$MNT.monitor")"
rm -f "$MNT.monitor"
echo "virtio_uevents passed"
