#!/usr/bin/env bash
# How shells and tools write sysfs files: through symlinks, with or without
# the trailing newline, truncating first, 0-byte writes, the mode bits (even
# for root) and writes longer than a page.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
VHOST=$VDPA/drivers/vhost_vdpa
OVR=$SYS/devices/vdpa0/driver_override

classic_kernel

step "writes through symlinks: devices/vdpa0/driver/unbind and bus/vdpa/devices/vdpa0/driver/unbind"
expect_write_ok vdpa0 "$SYS/devices/vdpa0/driver/unbind"
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"
expect_write_ok vdpa0 "$VHOST/bind"
expect_write_ok vdpa0 "$VDPA/devices/vdpa0/driver/unbind"
expect_eq "vdpa0 driver" - "$(driver_of vdpa0)"
expect_write_ok vdpa0 "$VDPA/devices/vdpa0/subsystem/drivers/vhost_vdpa/bind"
expect_eq "vdpa0 driver" vhost_vdpa "$(driver_of vdpa0)"

step "one trailing newline is tolerated: echo -n and echo both work; two newlines do not"
echo -n vdpa0 > "$VHOST/unbind" || fail "echo -n vdpa0 > unbind"
echo -n vdpa0 > "$VHOST/bind" || fail "echo -n vdpa0 > bind"
echo vdpa0 > "$VHOST/unbind" || fail "echo vdpa0 > unbind"
# bash's stdout is line-buffered, so printf 'vdpa0\n\n' would be two writes:
# one write(2) of both newlines has to come from elsewhere.
expect_eq "one write of vdpa0 and two newlines" ENODEV "$(raw_write "$VHOST/bind" 'vdpa0\n\n')"
expect_cmd_err 1 "*write error: No such device" bash -c "printf ' vdpa0' > '$VHOST/bind'"
printf 'vdpa0\n' > "$VHOST/bind" || fail "printf 'vdpa0\\n' > bind"

step "write(2) returns the full count on success, the errno on failure"
expect_eq "raw unbind" 6 "$(raw_write "$VHOST/unbind" 'vdpa0\n')"
expect_eq "raw bind" 5 "$(raw_write "$VHOST/bind" 'vdpa0')"
expect_eq "raw bind again" EBUSY "$(raw_write "$VHOST/bind" 'vdpa0')"
expect_eq "raw bind with NUL tail" EBUSY "$(raw_write "$VHOST/bind" 'vdpa0\0junk')"
expect_eq "raw unbind with NUL tail" 10 "$(raw_write "$VHOST/unbind" 'vdpa0\0junk')"
expect_eq "raw bind nosuch" ENODEV "$(raw_write "$VHOST/bind" 'nosuch')"
expect_write_ok vdpa0 "$VHOST/bind"

step "echo > FILE (open with O_TRUNC, then write) is accepted: it writes \\n, which clears the override"
expect_write_ok virtio_vdpa "$OVR"
expect_file "$OVR" virtio_vdpa
echo > "$OVR" || fail "echo > driver_override"
expect_file "$OVR" "(null)"

step "a 0-byte write is a no-op: ': >', printf '' > and write(2) of 0 bytes leave the value"
expect_write_ok virtio_vdpa "$OVR"
: > "$OVR" || fail ": > driver_override failed"
expect_file "$OVR" virtio_vdpa
printf '' > "$OVR" || fail "printf '' > driver_override failed"
expect_file "$OVR" virtio_vdpa
expect_eq "write(2) of 0 bytes" 0 "$(raw_write "$OVR" '')"
expect_file "$OVR" virtio_vdpa
expect_eq "write(2) of 0 bytes to bind" 0 "$(raw_write "$VHOST/bind" '')"
echo > "$OVR"

step "store-only (0200) files cannot be read, not even by root: Permission denied"
for f in "$VDPA/uevent" "$VDPA/drivers_probe" "$VHOST/bind" "$VHOST/unbind" "$VHOST/uevent" "$SYS/module/vdpa/uevent"; do
  expect_mode "$f" 200
  expect_cmd_err 1 "cat: $f: Permission denied" cat "$f"
done

step "read-only (0444) files cannot be written: Permission denied at open"
for f in "$SYS/devices/vdpa0/vhost-vdpa-0/dev" "$SYS/module/vhost_vdpa/refcnt" "$SYS/module/vhost_vdpa/initstate"; do
  expect_mode "$f" 444
  expect_cmd_err 1 "*$f: Permission denied" bash -c "echo x > '$f'"
done
expect_file "$SYS/module/vhost_vdpa/refcnt" 0

step "sysfs reports 4096 bytes for every attribute; readers read to EOF"
expect_eq "st_size of driver_override" 4096 "$(stat -c %s "$OVR")"
expect_eq "st_size of bind" 4096 "$(stat -c %s "$VHOST/bind")"
expect_eq "bytes in driver_override" 7 "$(wc -c < "$OVR")"

step "a write(2) longer than a page reaches the store as 4096 bytes: a short write where the store accepts it"
expect_eq "write(2) of 5000 bytes to drivers_autoprobe" 4096 "$(raw_write_n "$VDPA/drivers_autoprobe" 5000 0)"
expect_file "$VDPA/drivers_autoprobe" 0
expect_write_ok 1 "$VDPA/drivers_autoprobe"
expect_eq "write(2) of 5000 bytes to bind" ENODEV "$(raw_write_n "$VHOST/bind" 5000)"

step "nothing can be created, removed or renamed from userspace"
expect_cmd_err 1 "*Permission denied" touch "$SYS/devices/vdpa0/newfile"
expect_cmd_err 1 "*" rm -f "$VHOST/bind"
expect_exists "$VHOST/bind"
expect_cmd_err 1 "*" mkdir "$SYS/devices/vdpa0/newdir"
expect_cmd_err 1 "*" mv "$OVR" "$SYS/devices/vdpa0/x"
expect_exists "$OVR"
echo "all write rules passed"
