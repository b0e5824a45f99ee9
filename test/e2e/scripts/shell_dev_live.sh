#!/usr/bin/env bash
# /dev inside one `vdpafs shell` follows the simulation with no restart:
# nodes appear and vanish with bind, unbind, dev add and dev del, whether
# the change is made inside the namespace or through the mount outside it.
source "$(dirname "$0")/shell_lib.sh"

LIB=$(dirname "$0")/lib.sh
export LIB
in_shell bash -c '
source "$LIB"
step "the boot node is there"
expect_eq "stat" "600 regular empty file" "$(stat -c "%a %F" /dev/vhost-vdpa-0)"

step "unbind inside the namespace: the node goes"
echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind || fail "unbind"
expect_absent /dev/vhost-vdpa-0
ls /dev | grep -q "^vhost-vdpa" && fail "ls /dev still lists a vhost-vdpa node"

step "drivers_probe: the node comes back"
echo vdpa0 > /sys/bus/vdpa/drivers_probe || fail "drivers_probe"
expect_exists /dev/vhost-vdpa-0

step "vdpa dev add / del: vhost-vdpa-1 comes and goes"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "vdpa dev add"
expect_eq "ls /dev" "vhost-vdpa-0 vhost-vdpa-1" "$(ls /dev | grep ^vhost-vdpa | tr "\n" " " | sed "s/ $//")"
expect_eq "stat vhost-vdpa-1" "600 regular empty file" "$(stat -c "%a %F" /dev/vhost-vdpa-1)"
vdpa dev del vdpa1 || fail "vdpa dev del"
expect_absent /dev/vhost-vdpa-1

step "a change made outside, through the mount, shows inside"
echo vdpa0 > "$MNT/sys/bus/vdpa/drivers/vhost_vdpa/unbind" || fail "unbind through \$MNT"
expect_absent /dev/vhost-vdpa-0
echo vdpa0 > "$MNT/sys/bus/vdpa/drivers/vhost_vdpa/bind" || fail "bind through \$MNT"
expect_exists /dev/vhost-vdpa-0
echo inner-ok
'
expect_vdpa0_bound vhost_vdpa
expect_absent "$DEV/vhost-vdpa-1"
echo OK
