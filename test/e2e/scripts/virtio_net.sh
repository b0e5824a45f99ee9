#!/usr/bin/env bash
# virtio_net over vdpasim_net: negotiation, the netdev's sysfs, traffic
# through the rings and the device's loopback, counters on both sides.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"

step "vdpa0 (mac 00:11:22:33:44:55) on virtio_vdpa, then modprobe virtio_net"
reset_kernel vdpa vdpa_sim_net virtio_vdpa
vdpa dev add name vdpa0 mgmtdev vdpasim_net mac 00:11:22:33:44:55 || fail "dev add"
expect_eq "vdpa0 driver" virtio_vdpa "$(driver_of vdpa0)"
V=$(virtio_of vdpa0)
VD=$SYS/bus/virtio/devices/$V
expect_file "$VD/status" 0x00000001
vdpafs modprobe virtio_net || fail "modprobe virtio_net"

step "status and features after the bind"
expect_file "$VD/status" 0x0000000f
expect_file "$VD/features" "$(features_bits 3 5 16 17 23 32 33)"
expect_link "$VD/driver" ../../../bus/virtio/drivers/virtio_net
expect_file "$VD/uevent" "$(printf 'DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00000000')"
expect_eq "vdpa dev config show" \
  "vdpa0: mac 00:11:22:33:44:55 link up link_announce false mtu 1500 
  negotiated_features MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM" \
  "$(vdpa dev config show vdpa0)"

step "the netdev: sys/class/net, sys/bus/virtio/devices/$V/net"
IF=$(ls "$VD/net") || fail "no net/ under $V"
[[ "$IF" =~ ^eth[0-9]+$ ]] || fail "netdev should be ethN, got [$IF]"
expect_link "$SYS/class/net/$IF" "../../devices/vdpa0/$V/net/$IF"
N=$SYS/class/net/$IF
expect_link "$N/device" "../../../$V"
expect_link "$N/subsystem" ../../../../../class/net
expect_file "$N/address" 00:11:22:33:44:55
expect_file "$N/broadcast" ff:ff:ff:ff:ff:ff
expect_file "$N/mtu" 1500
expect_file "$N/type" 1
expect_file "$N/addr_len" 6
expect_file "$N/flags" 0x1002
expect_file "$N/operstate" down
ifindex=$(cat "$N/ifindex")
expect_file "$N/iflink" "$ifindex"
expect_file "$N/uevent" "$(printf 'INTERFACE=%s\nIFINDEX=%s' "$IF" "$ifindex")"
expect_cmd_err 1 "*Invalid argument*" cat "$N/carrier"
for f in rx_packets tx_packets rx_bytes tx_bytes rx_dropped tx_dropped rx_errors tx_errors; do
  expect_file "$N/statistics/$f" 0
done
expect_exists "$N/queues/rx-0"
expect_exists "$N/queues/tx-0"

step "send while down: Network is down"
expect_cmd_err 1 "*send $IF: Network is down" vdpafs net send "$IF" ffffffffffff 020000000001 88b5 6869

step "vdpafs net set $IF up: operstate up, carrier 1"
vdpafs net set "$IF" up || fail "set up"
expect_file "$N/flags" 0x1003
expect_file "$N/operstate" up
expect_file "$N/carrier" 1
expect_file "$N/carrier_changes" 2

step "traffic: 3 broadcast frames come back, 1 frame to a foreign MAC does not"
bcast="ffffffffffff 020000000001 88b5 68656c6c6f2c20766470612100"   # 27 bytes
vdpafs net send "$IF" -c 3 $bcast || fail "send broadcast"
vdpafs net send "$IF" 00aabbccddee 020000000001 88b5 68656c6c6f || fail "send unicast"
got=$(vdpafs net recv "$IF" -c 3) || fail "recv: $got"
want=$(printf '%s\n' "${bcast// /}" "${bcast// /}" "${bcast// /}")
expect_eq "frames received" "$want" "$got"
expect_cmd_err 1 "*0 of 1 frames received*" vdpafs net recv "$IF" -c 1 -t 0.2
expect_file "$N/statistics/tx_packets" 4
expect_file "$N/statistics/tx_bytes" $((3 * 27 + 19))
expect_file "$N/statistics/rx_packets" 3
expect_file "$N/statistics/rx_bytes" $((3 * 27))
expect_file "$N/statistics/rx_dropped" 0

step "vdpa dev vstats agrees on packets (its bytes carry the 12-byte virtio_net_hdr_v1)"
expect_eq "vstats tx" "vdpa0: queue_type tx tx packets 4 tx bytes $((4 * 12 + 3 * 27 + 19)) tx errors 0 tx drops 0 " \
  "$(vdpa dev vstats show vdpa0 qidx 1)"
expect_eq "vstats rx packets" 3 "$(vstat vdpa0 0 'rx packets')"
expect_eq "vstats rx bytes" $((3 * (12 + 27))) "$(vstat vdpa0 0 'rx bytes')"
expect_eq "vstats rx drops" 1 "$(vstat vdpa0 0 'rx drops')"

step "a frame from a file, JSON output; sizes the socket refuses"
printf '\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x88\xb5file' > "$MNT.frame"
vdpafs net send "$IF" -f "$MNT.frame" || fail "send -f"
json=$(vdpafs net recv "$IF" -c 1 -j) || fail "recv -j"
expect_eq "recv -j" "[{\"ifname\":\"$IF\",\"len\":18,\"data\":\"ffffffffffff02000000000188b566696c65\"}]" \
  "$(sed -E 's/"usec":[0-9]+,//' <<< "$json")"
rm -f "$MNT.frame"
expect_cmd_err 1 "*Invalid argument" vdpafs net send "$IF" ffffffffffff0200000000
expect_cmd_err 1 "*Message too long" vdpafs net send "$IF" "ffffffffffff02000000000188b5$(printf '00%.0s' $(seq 1501))"
expect_cmd_err 1 '*Cannot find device "eth99"' vdpafs net send eth99 ffffffffffff020000000001
expect_cmd_err 2 "*" vdpafs net send "$IF" zz

step "mtu bounded by the device, down again"
expect_echo_err 9000 "$N/mtu" "Invalid argument"
vdpafs net set "$IF" down || fail "set down"
expect_file "$N/operstate" down
expect_file "$N/statistics/tx_packets" 5

step "a device with no MAC (vdpa_sim's default): its interface cannot come up"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "dev add vdpa1"
IF1=$(ls "$SYS/bus/virtio/devices/$(virtio_of vdpa1)/net") || fail "no netdev for vdpa1"
expect_file "$SYS/class/net/$IF1/address" 00:00:00:00:00:00
expect_cmd_err 1 "*set $IF1: Cannot assign requested address" vdpafs net set "$IF1" up
expect_echo_err 0x1003 "$SYS/class/net/$IF1/flags" "Cannot assign requested address"
vdpa dev del vdpa1 || fail "dev del vdpa1"

step "rmmod virtio_net: the netdev goes, status back to ACKNOWLEDGE"
vdpafs rmmod virtio_net || fail "rmmod virtio_net"
expect_absent "$SYS/class/net/$IF"
expect_absent "$VD/net"
expect_file "$VD/status" 0x00000001
echo "virtio_net passed"
