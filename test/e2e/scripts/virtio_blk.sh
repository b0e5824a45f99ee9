#!/usr/bin/env bash
# virtio_blk over vdpasim_blk: the disk in sysfs and dev/, and data through
# dev/vdX (dd, cmp, sha256sum) into the sim's ramdisk.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"

step "vdpa1 (vdpasim_blk) on virtio_vdpa with virtio_blk loaded"
reset_kernel vdpa vdpa_sim_blk virtio_vdpa virtio_blk
vdpa dev add name vdpa1 mgmtdev vdpasim_blk || fail "dev add"
V=$(virtio_of vdpa1)
VD=$SYS/bus/virtio/devices/$V
expect_file "$VD/device" 0x0002
expect_file "$VD/status" 0x0000000f
expect_file "$VD/features" "$(features_bits 1 2 6 9 10 12 13 14 32 33)"
expect_link "$VD/driver" ../../../bus/virtio/drivers/virtio_blk

step "sys/block/vda and its attributes"
D=$(ls "$VD/block") || fail "no block/ under $V"
[[ "$D" =~ ^vd[a-z]+$ ]] || fail "disk should be vdX, got [$D]"
expect_link "$SYS/block/$D" "../devices/vdpa1/$V/block/$D"
expect_link "$SYS/class/block/$D" "../../devices/vdpa1/$V/block/$D"
B=$SYS/block/$D
expect_file "$B/size" 262144
expect_file "$B/ro" 0
expect_file "$B/removable" 0
devnum=$(cat "$B/dev")
[[ "$devnum" =~ ^[0-9]+:0$ ]] || fail "dev should be MAJ:0, got [$devnum]"
expect_link "$SYS/dev/block/$devnum" "../../devices/vdpa1/$V/block/$D"
expect_file "$B/queue/logical_block_size" 512
expect_file "$B/queue/physical_block_size" 512
expect_file "$B/queue/max_segments" 32
expect_file "$B/queue/max_segment_size" 4096
expect_file "$B/queue/rotational" 1
expect_eq "serial" vdpa_blk_sim "$(cat "$B/serial")"
expect_file "$B/uevent" "$(printf 'MAJOR=%s\nMINOR=0\nDEVNAME=%s\nDEVTYPE=disk\nDISKSEQ=%s' "${devnum%:*}" "$D" "$(cat "$B/diskseq")")"
expect_link "$B/bdi" "../../../../virtual/bdi/$devnum"

step "dev/$D: a regular file of the disk's size"
[ -f "$DEV/$D" ] || fail "$DEV/$D should be a regular file"
expect_mode "$DEV/$D" 600
expect_eq "size of dev/$D" 134217728 "$(stat -c %s "$DEV/$D")"

step "dd, cmp, sha256sum round trip (2 MiB at 1 MiB, then 1000 bytes at an odd offset)"
T=$(mktemp -d)
head -c $((2 << 20)) /dev/urandom > "$T/data"
dd if="$T/data" of="$DEV/$D" bs=64k seek=16 conv=notrunc status=none || fail "dd to dev/$D"
dd if="$DEV/$D" of="$T/back" bs=128k skip=8 count=16 status=none || fail "dd from dev/$D"
cmp "$T/data" "$T/back" || fail "data differs"
expect_eq "sha256 via dev/$D" "$(sha256sum < "$T/data")" "$(dd if="$DEV/$D" bs=1M skip=1 count=2 status=none | sha256sum)"
head -c 1000 /dev/urandom > "$T/odd"
dd if="$T/odd" of="$DEV/$D" bs=1 seek=12345 conv=notrunc status=none || fail "odd dd"
cmp "$T/odd" <(tail -c +12346 "$DEV/$D" | head -c 1000) || fail "odd offset data differs"
expect_eq "the sector before is still zero" "$(head -c 512 /dev/zero | sha256sum)" "$(dd if="$DEV/$D" bs=512 skip=23 count=1 status=none | sha256sum)"

step "the whole disk hashes like a file of the same bytes"
{ head -c 12345 /dev/zero; cat "$T/odd"; head -c $(((1 << 20) - 13345)) /dev/zero; cat "$T/data"; head -c $(((128 << 20) - (3 << 20))) /dev/zero; } > "$T/disk"
expect_eq "sha256sum dev/$D" "$(sha256sum < "$T/disk")" "$(sha256sum < "$DEV/$D")"
rm -rf "$T"

step "writes past the end: No space left on device; stat counts the I/O"
err=$(dd if=/dev/zero of="$DEV/$D" bs=512 seek=262144 count=1 conv=notrunc 2>&1) && fail "dd past the end should fail"
[[ "$err" == *"No space left on device"* ]] || fail "dd past the end: [$err]"
read -r rios _ rsect _ wios _ wsect _ inflight _ < "$B/stat"
((rios > 0 && wios > 0 && rsect > 0 && wsect > 0)) || fail "stat should count reads and writes: $(cat "$B/stat")"
expect_eq "inflight" 0 "$inflight"

step "rmmod virtio_blk refuses while dev/$D is open"
exec 7< "$DEV/$D"
expect_cmd_err 1 "*in use*" vdpafs rmmod virtio_blk
exec 7<&-
vdpafs rmmod virtio_blk || fail "rmmod virtio_blk"
expect_absent "$DEV/$D"
expect_absent "$SYS/block/$D"
expect_absent "$SYS/dev/block/$devnum"
expect_file "$VD/status" 0x00000001
echo "virtio_blk passed"
