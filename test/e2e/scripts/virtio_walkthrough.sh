#!/usr/bin/env bash
# The README's walkthrough, second half, as written, on a fresh mount.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"
cd "$MNT" || fail "cd $MNT"

step "from the first half: vdpa0 on vhost_vdpa"
expect_eq "driver" vhost_vdpa "$(basename "$(readlink sys/bus/vdpa/devices/vdpa0/driver)")"

step "bind vdpa0 to virtio_vdpa"
echo virtio_vdpa > sys/bus/vdpa/devices/vdpa0/driver_override
vdpafs modprobe virtio_vdpa
echo vdpa0 > sys/bus/vdpa/devices/vdpa0/driver/unbind
echo vdpa0 > sys/bus/vdpa/drivers_probe
expect_eq "ls sys/bus/virtio/devices" virtio0 "$(ls sys/bus/virtio/devices/)"
expect_file sys/bus/virtio/devices/virtio0/status 0x00000001

step "vdpa0 has no MAC: eth0 could not come up; give it one before virtio_net probes"
vdpa dev set name vdpa0 mac 52:54:00:12:34:56

step "virtio_net negotiates and gives the host eth0"
vdpafs modprobe virtio_net
expect_file sys/bus/virtio/devices/virtio0/status 0x0000000f
expect_eq "features" "0001010000000000110000010000000011000000000000000000000000000000" \
  "$(cat sys/bus/virtio/devices/virtio0/features)"
expect_eq "ls -l sys/class/net" "eth0 -> ../../devices/vdpa0/virtio0/net/eth0" \
  "$(ls -l sys/class/net | awk 'NR > 1 { print $9, $10, $11 }')"
expect_file sys/class/net/eth0/address 52:54:00:12:34:56

step "traffic through the loopback"
vdpafs net set eth0 up
vdpafs net send eth0 ffffffffffff 020000000001 88b5 68656c6c6f
expect_eq "recv" ffffffffffff02000000000188b568656c6c6f "$(vdpafs net recv eth0)"
expect_eq "tx/rx packets" "1 1" "$(cat sys/class/net/eth0/statistics/tx_packets sys/class/net/eth0/statistics/rx_packets | xargs)"
expect_eq "vstats" "vdpa0: queue_type tx tx packets 1 tx bytes 31 tx errors 0 tx drops 0 " "$(vdpa dev vstats show vdpa0 qidx 1)"

step "a disk: written through the vhost node, read through dev/vda"
vdpafs modprobe vdpa_sim_blk virtio_blk
vdpa dev add name vdpa1 mgmtdev vdpasim_blk
expect_exists dev/vhost-vdpa-0
echo 'hello from the vhost half' | dd of=dev/vhost-vdpa-0 conv=notrunc status=none
echo virtio_vdpa > sys/bus/vdpa/devices/vdpa1/driver_override
echo vdpa1 > sys/bus/vdpa/devices/vdpa1/driver/unbind
echo vdpa1 > sys/bus/vdpa/drivers_probe
expect_eq "ls -l sys/block" "vda -> ../devices/vdpa1/virtio1/block/vda" "$(ls -l sys/block | awk 'NR > 1 { print $9, $10, $11 }')"
expect_eq "head -1 dev/vda" "hello from the vhost half" "$(head -1 dev/vda)"
expect_file sys/block/vda/size 262144
vdpafs dmesg | grep -q 'virtio_blk virtio1: \[vda\] 262144 512-byte logical blocks (134 MB/128 MiB)' || fail "dmesg capacity line"
echo "virtio_walkthrough passed"
