#!/usr/bin/env bash
# /dev/vhost-vdpa-N: N comes from an IDA (lowest free first, no relation to
# the vdpa name), the major is the one dynamic vhost-vdpa region, and the
# three places that show MAJ:MIN agree.
source "$(dirname "$0")/lib.sh"
VDPA=$SYS/bus/vdpa
VHOST=$VDPA/drivers/vhost_vdpa
classic_kernel
for n in 1 2; do vdpa dev add name vdpa$n mgmtdev vdpasim_net || fail "dev add vdpa$n"; done
major=$(cut -d: -f1 "$SYS/devices/vdpa0/vhost-vdpa-0/dev")

step "three devices get minors 0, 1, 2 of one major; dev, sys/dev/char and /dev agree"
for n in 0 1 2; do
  expect_file "$SYS/devices/vdpa$n/vhost-vdpa-$n/dev" "$major:$n"
  expect_link "$SYS/dev/char/$major:$n" "../../devices/vdpa$n/vhost-vdpa-$n"
  expect_exists "$DEV/vhost-vdpa-$n"
done

step "a rebind gets its old number back"
expect_write_ok vdpa1 "$VHOST/unbind"
expect_absent "$DEV/vhost-vdpa-1"
expect_absent "$SYS/dev/char/$major:1"
expect_write_ok vdpa1 "$VHOST/bind"
expect_file "$SYS/devices/vdpa1/vhost-vdpa-1/dev" "$major:1"

step "the lowest free minor goes to whoever binds next, whatever its name"
expect_write_ok vdpa0 "$VHOST/unbind"
vdpa dev add name vdpa3 mgmtdev vdpasim_net || fail "dev add vdpa3"
expect_file "$SYS/devices/vdpa3/vhost-vdpa-0/dev" "$major:0"
expect_link "$SYS/dev/char/$major:0" ../../devices/vdpa3/vhost-vdpa-0
expect_write_ok vdpa0 "$VHOST/bind"
expect_file "$SYS/devices/vdpa0/vhost-vdpa-3/dev" "$major:3"

step "a deleted device frees its minor"
vdpa dev del vdpa1 || fail "dev del vdpa1"
vdpa dev add name vdpa4 mgmtdev vdpasim_net || fail "dev add vdpa4"
expect_file "$SYS/devices/vdpa4/vhost-vdpa-1/dev" "$major:1"
expect_eq "dev/" "vhost-vdpa-0 vhost-vdpa-1 vhost-vdpa-2 vhost-vdpa-3" "$(ls "$DEV" | tr '\n' ' ' | sed 's/ $//')"
echo "minors and majors passed"
