#!/usr/bin/env bash
# driver_override from the shell (driver_set_override): "(null)" when unset,
# the value ends at the first newline or NUL, "\n" clears, the name is not
# checked, and the length limit: a store of count >= PAGE_SIZE - 1 (4095) is
# EINVAL. A single write(2) longer than a page reaches the store cut to 4096
# bytes (sysfs files have no atomic_write_len), so it is EINVAL as well,
# never E2BIG; bash's own echo/printf write in 4096-byte chunks anyway.
source "$(dirname "$0")/lib.sh"
OVR=$SYS/devices/vdpa0/driver_override
classic_kernel

step "unset reads (null); a value reads back with one newline; it does not rebind"
expect_file "$OVR" "(null)"
expect_mode "$OVR" 644
expect_write_ok virtio_vdpa "$OVR"
expect_file "$OVR" virtio_vdpa
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"

step "the value ends at the first newline, or at a NUL"
expect_eq "one write of abc, newline, def" 7 "$(raw_write "$OVR" 'abc\ndef')"
expect_file "$OVR" abc
# bash's stdout is line-buffered: printf 'abc\ndef' is two writes, and the second one wins.
printf 'abc\ndef' > "$OVR" || fail "printf abc\\ndef"
expect_file "$OVR" def
expect_eq "raw write with NUL" 16 "$(raw_write "$OVR" 'virtio_vdpa\0junk')"
expect_file "$OVR" virtio_vdpa

step "'\\n' clears; a leading NUL clears; 'none' is stored as is"
echo > "$OVR"
expect_file "$OVR" "(null)"
expect_write_ok x "$OVR"
expect_eq "raw write of a leading NUL" 3 "$(raw_write "$OVR" '\0ab')"
expect_file "$OVR" "(null)"
expect_write_ok none "$OVR"
expect_file "$OVR" none

a4093=$(printf 'a%.0s' $(seq 4093))
a4094=${a4093}a
a4095=${a4094}a

step "count 4094 is accepted (printf of 4094 bytes; echo of 4093 chars + newline)"
printf '%s' "$a4094" > "$OVR" || fail "printf 4094 bytes > driver_override"
expect_eq "override length" 4094 "$(tr -d '\n' < "$OVR" | wc -c)"
expect_eq "bytes read back" 4095 "$(wc -c < "$OVR")"
echo "$a4093" > "$OVR" || fail "echo of 4093 chars > driver_override"
expect_eq "override length" 4093 "$(tr -d '\n' < "$OVR" | wc -c)"

step "count 4095 fails EINVAL (echo of 4094 chars + newline; printf of 4095 bytes); the old value stays"
expect_echo_err "$a4094" "$OVR" "Invalid argument"
expect_cmd_err 1 "*printf: write error: Invalid argument" bash -c "printf '%s' '$a4095' > '$OVR'"
expect_eq "override length" 4093 "$(tr -d '\n' < "$OVR" | wc -c)"

step "single write(2)s: 4094 -> 4094; 4095, 4096, 4097 and 70000 -> EINVAL (not E2BIG)"
expect_eq "write(2) of 4094" 4094 "$(raw_write_n "$OVR" 4094 b)"
for n in 4095 4096 4097 70000; do
  expect_eq "write(2) of $n" EINVAL "$(raw_write_n "$OVR" $n c)"
done
expect_eq "override length" 4094 "$(tr -d '\n' < "$OVR" | wc -c)"

step "dd with one block per size says the same"
dd if=/dev/zero bs=4094 count=1 status=none | tr '\0' d | dd of="$OVR" bs=4094 count=1 status=none iflag=fullblock || fail "dd 4094"
expect_eq "override length" 4094 "$(tr -d '\n' < "$OVR" | wc -c)"
expect_cmd_err 1 "dd: error writing '$OVR': Invalid argument" \
  bash -c "dd if=/dev/zero bs=8192 count=1 status=none | tr '\0' e | dd of='$OVR' bs=8192 count=1 status=none iflag=fullblock"

echo > "$OVR"
expect_file "$OVR" "(null)"
echo "all driver_override checks passed"
