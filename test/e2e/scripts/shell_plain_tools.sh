#!/usr/bin/env bash
# Plain tools inside `vdpafs shell` see what they would see on Linux.
source "$(dirname "$0")/shell_lib.sh"

devt=$(cat "$SYS/devices/vdpa0/vhost-vdpa-0/dev") || fail "no vhost-vdpa-0/dev"

step "ls -l /sys/bus/vdpa/devices/"
expect_eq "ls -l" "total 0
lrwxrwxrwx 1 root root 0  vdpa0 -> ../../../devices/vdpa0" "$(in_shell ls -l --time-style=+ /sys/bus/vdpa/devices/)"

step "readlink -f, realpath"
expect_eq "readlink -f" /sys/devices/vdpa0 "$(in_shell readlink -f /sys/bus/vdpa/devices/vdpa0)"
expect_eq "realpath driver" /sys/bus/vdpa/drivers/vhost_vdpa "$(in_shell realpath /sys/bus/vdpa/devices/vdpa0/driver)"
expect_eq "realpath subsystem" /sys/bus/vdpa "$(in_shell realpath /sys/devices/vdpa0/subsystem)"
expect_eq "realpath /sys/dev/char" /sys/devices/vdpa0/vhost-vdpa-0 "$(in_shell realpath "/sys/dev/char/$devt")"
expect_eq "realpath module" /sys/module/vhost_vdpa "$(in_shell realpath /sys/bus/vdpa/drivers/vhost_vdpa/module)"

step "find /sys/bus/vdpa -type l"
expect_eq "find" "/sys/bus/vdpa/devices/vdpa0
/sys/bus/vdpa/drivers/vhost_vdpa/module
/sys/bus/vdpa/drivers/vhost_vdpa/vdpa0" "$(in_shell sh -c 'find /sys/bus/vdpa -type l | sort')"

step "stat -c '%a %F' /dev/vhost-vdpa-0 (a regular file on the default mount)"
expect_eq "stat" "600 regular empty file" "$(in_shell stat -c '%a %F' /dev/vhost-vdpa-0)"

step "echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind"
in_shell sh -c 'echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind' >/dev/null
expect_vdpa0_unbound
expect_absent "$SYS/dev/char/$devt"
expect_eq "ls /dev/vhost-vdpa-0 after unbind" "ls: cannot access '/dev/vhost-vdpa-0': No such file or directory" \
  "$(vdpafs shell -- ls /dev/vhost-vdpa-0 2>&1)"

step "unbind again fails ENODEV, as on Linux"
out=$(vdpafs shell -- bash -c 'echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind' 2>&1) && fail "a second unbind should fail"
[[ "$out" == *"echo: write error: No such device"* ]] || fail "second unbind: expected ENODEV, got [$out]"

step "echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/bind"
in_shell sh -c 'echo vdpa0 > /sys/bus/vdpa/drivers/vhost_vdpa/bind' >/dev/null
expect_vdpa0_bound vhost_vdpa
echo OK
