#!/usr/bin/env bash
# The blk data path from the shell: dev/vhost-vdpa-N of a vdpasim_blk
# device is the disk, its size the capacity; reads and writes at any
# offset are virtio-blk requests through the rings.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
reset_kernel vdpa vhost_vdpa vdpa_sim_blk
vdpa dev add name blk0 mgmtdev vdpasim_blk || fail "vdpa dev add blk0 failed"
NODE=$DEV/vhost-vdpa-0

step "st_size is the capacity (128 MiB); config show prints just the name for a block device"
expect_eq "size" 134217728 "$(stat -c %s "$NODE")"
expect_eq "config show" "blk0: " "$(vdpa dev config show blk0)"

step "a fresh disk reads zeros"
expect_eq "first MiB" "$(head -c 1048576 /dev/zero | sha256sum)" "$(dd if="$NODE" bs=1M count=1 iflag=direct 2>/dev/null | sha256sum)"

step "random data round-trips: dd in with conv=notrunc, dd out, sha256sum and cmp agree"
head -c 3145728 /dev/urandom > "$tmp/data"
dd if="$tmp/data" of="$NODE" bs=1M seek=5 oflag=direct conv=notrunc status=none || fail "dd to the node failed"
dd if="$NODE" of="$tmp/back" bs=1M skip=5 count=3 iflag=direct status=none || fail "dd from the node failed"
expect_eq "sha256" "$(sha256sum < "$tmp/data")" "$(sha256sum < "$tmp/back")"
cmp "$tmp/data" "$tmp/back" || fail "cmp differs"
cmp -n 3145728 "$tmp/data" "$NODE" --ignore-initial=0:5242880 || fail "cmp against the node differs"

step "unaligned offsets and sizes: bs=1000 at byte 12345 (read-modify-write of partial sectors)"
head -c 7000 /dev/urandom > "$tmp/odd"
dd if="$tmp/odd" of="$NODE" bs=1000 seek=12345 oflag=seek_bytes conv=notrunc status=none || fail "unaligned dd failed"
dd if="$NODE" of="$tmp/odd.back" bs=1000 skip=12345 count=7 iflag=skip_bytes status=none
cmp "$tmp/odd" "$tmp/odd.back" || fail "unaligned round trip differs"
expect_eq "the bytes before it are still zero" "$(head -c 12345 /dev/zero | sha256sum)" "$(head -c 12345 "$NODE" | sha256sum)"

step "the data stays across close and reopen"
expect_eq "sha256 after reopen" "$(sha256sum < "$tmp/data")" "$(dd if="$NODE" bs=1M skip=5 count=3 status=none | sha256sum)"

step "the end of the disk: reads stop there, a write past it fails with ENOSPC"
expect_eq "bytes read from the last 1000" 1000 "$(dd if="$NODE" bs=4096 skip=134216728 iflag=skip_bytes status=none | wc -c)"
out=$(dd if=/dev/zero of="$NODE" bs=4096 count=1 seek=32768 conv=notrunc status=none 2>&1) && fail "write past the end succeeded"
[[ "$out" == *"No space left on device"* ]] || fail "write past the end: expected ENOSPC, got: $out"

step "a second open is refused with EBUSY"
exec 3< "$NODE"
expect_cmd_err 1 "*Device or resource busy*" dd if="$NODE" of=/dev/null count=1 status=none
exec 3<&-
echo "blk data path passed"
