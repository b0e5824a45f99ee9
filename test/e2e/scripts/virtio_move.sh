#!/usr/bin/env bash
# A blk device keeps its data when it moves between the two halves:
# written through /dev/vhost-vdpa-N, read through dev/vdX, and back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"

reset_kernel vdpa vhost_vdpa vdpa_sim_blk virtio_vdpa virtio_blk
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c $((1 << 20)) /dev/urandom > "$T/a"
head -c 4096 /dev/urandom > "$T/b"

step "vdpa2 binds vhost_vdpa (registered first); write 1 MiB through its node"
vdpa dev add name vdpa2 mgmtdev vdpasim_blk || fail "dev add"
expect_eq "vdpa2 driver" vhost_vdpa "$(driver_of vdpa2)"
NODE=$(basename "$(ls -d "$SYS/devices/vdpa2"/vhost-vdpa-*)")
expect_eq "node size" 134217728 "$(stat -c %s "$DEV/$NODE")"
dd if="$T/a" of="$DEV/$NODE" bs=64k seek=32 conv=notrunc status=none || fail "dd to $NODE"

step "move to virtio_vdpa: the same bytes through dev/vdX"
move_to vdpa2 virtio_vdpa
expect_absent "$DEV/$NODE"
V=$(virtio_of vdpa2)
D=$(ls "$SYS/devices/vdpa2/$V/block")
cmp "$T/a" <(dd if="$DEV/$D" bs=64k skip=32 count=16 status=none) || fail "vhost -> virtio: data differs"
expect_eq "sha256" "$(sha256sum < "$T/a")" "$(dd if="$DEV/$D" bs=1M skip=2 count=1 status=none | sha256sum)"

step "write through dev/$D, move back to vhost_vdpa: the same bytes through the node"
dd if="$T/b" of="$DEV/$D" bs=4096 seek=7 conv=notrunc status=none || fail "dd to $D"
move_to vdpa2 vhost_vdpa
expect_absent "$DEV/$D"
expect_absent "$SYS/block/$D"
NODE=$(basename "$(ls -d "$SYS/devices/vdpa2"/vhost-vdpa-*)")
cmp "$T/b" <(dd if="$DEV/$NODE" bs=4096 skip=7 count=1 status=none) || fail "virtio -> vhost: data differs"
cmp "$T/a" <(dd if="$DEV/$NODE" bs=64k skip=32 count=16 status=none) || fail "the first write is gone"

step "and once more to virtio_vdpa"
move_to vdpa2 virtio_vdpa
V=$(virtio_of vdpa2)
D=$(ls "$SYS/devices/vdpa2/$V/block")
cmp "$T/b" <(dd if="$DEV/$D" bs=4096 skip=7 count=1 status=none) || fail "second move: data differs"
vdpa dev del vdpa2 || fail "dev del"
expect_absent "$DEV/$D"
echo "virtio_move passed"
