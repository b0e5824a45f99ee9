#!/usr/bin/env bash
# The kernel log of the virtio half: module loads (simulator notes), the
# drivers' own lines, a probe failure, and NEEDS_RESET from a malformed ring.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"

TS='\[ *[0-9]+\.[0-9]{6}\] '
expect_line() { # PATTERN (extended regex, after the timestamp)
  grep -Eq "^$TS$1\$" <<< "$LOG" || fail "dmesg has no line matching [$1]:
$LOG"
}

reset_kernel vdpa vdpa_sim_net vdpa_sim_blk virtio_vdpa
step "dmesg -w sees a module load as it happens"
vdpafs dmesg -w > "$MNT.follow" 2>&1 &
FOLLOW=$!
sleep 0.3
vdpafs modprobe virtio_net || fail "modprobe virtio_net"
for _ in $(seq 50); do grep -q 'module loaded: virtio_net' "$MNT.follow" && break; sleep 0.05; done
kill "$FOLLOW"; wait "$FOLLOW" 2>/dev/null
grep -Eq "^${TS}vdpafs: module loaded: net_failover$" "$MNT.follow" || fail "dmesg -w missed net_failover: $(cat "$MNT.follow")"
grep -Eq "^${TS}vdpafs: module loaded: virtio_net$" "$MNT.follow" || fail "dmesg -w missed virtio_net: $(cat "$MNT.follow")"
rm -f "$MNT.follow"

step "the drivers' lines: virtio_blk's queues and capacity"
vdpafs modprobe virtio_blk || fail "modprobe virtio_blk"
vdpa dev add name vdpa1 mgmtdev vdpasim_blk || fail "dev add vdpa1"
V=$(virtio_of vdpa1)
LOG=$(vdpafs dmesg)
expect_line "vdpafs: module loaded: virtio_blk"
expect_line "virtio_blk $V: 1/0/0 default/read/poll queues"
expect_line "virtio_blk $V: \[vd[a-z]+\] 262144 512-byte logical blocks \(134 MB/128 MiB\)"
expect_line "vdpafs: device added: vdpa1 \(vdpa\)"
expect_line "vdpafs: device added: $V \(virtio\)"

step "a device without ACCESS_PLATFORM: probe with driver virtio_net failed with error -22"
vdpa dev add name vdpa0 mgmtdev vdpasim_net device_features 0x100010020 || fail "dev add vdpa0"
V0=$(virtio_of vdpa0)
LOG=$(vdpafs dmesg)
expect_line "virtio_net $V0: probe with driver virtio_net failed with error -22"
expect_absent "$SYS/devices/vdpa0/$V0/driver"
expect_file "$SYS/devices/vdpa0/$V0/status" 0x00000083
vdpa dev del vdpa0 || fail "dev del vdpa0"
LOG=$(vdpafs dmesg)
expect_line "vdpafs: device removed: $V0 \(virtio\)"
expect_line "vdpafs: device removed: vdpa0 \(vdpa\)"

step "a malformed ring: the device sets NEEDS_RESET and says so; -l err shows it"
vdpafs_call fault_vring "{\"device\":\"$V\",\"vq\":0}" > /dev/null || fail "fault injection"
status=$(cat "$SYS/devices/vdpa1/$V/status")
(( (status & 0x40) != 0 )) || fail "status should have NEEDS_RESET (0x40), got $status"
LOG=$(vdpafs dmesg -l err)
grep -Eq "^${TS}.*vdpa1.*vq 0.*needs reset" <<< "$LOG" || fail "no NEEDS_RESET line at level err: $LOG"
vdpafs dmesg -x | grep -Eq "^kern  :err   : ${TS}.*needs reset" || fail "dmesg -x should decode the level"
echo "virtio_dmesg passed"
