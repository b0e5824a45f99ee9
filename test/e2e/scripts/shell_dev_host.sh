#!/usr/bin/env bash
# The rest of /dev inside `vdpafs shell` is the host's: null, zero, urandom,
# tty, ptmx, pts, fd, stdin work; they are links into /dev/.host.
source "$(dirname "$0")/shell_lib.sh"

LIB=$(dirname "$0")/lib.sh
export LIB
echo from-stdin | in_shell bash -c '
source "$LIB"
echo discarded > /dev/null || fail "write /dev/null"
expect_eq "/dev/zero" "00000000" "$(head -c 4 /dev/zero | od -An -tx1 | tr -d " \n")"
expect_eq "/dev/urandom" 16 "$(head -c 16 /dev/urandom | wc -c)"
for n in null zero urandom random full tty ptmx; do [ -c /dev/$n ] || fail "/dev/$n is not a character device"; done
expect_eq "stat -L /dev/null" "1:3 character special file" "$(stat -L -c "%t:%T %F" /dev/null)"
expect_eq "readlink /dev/null" ".host/null" "$(readlink /dev/null)"
[ -d /dev/pts ] || fail "/dev/pts is not a directory"
[ -d /dev/shm ] || fail "/dev/shm is not a directory"
[ -d /dev/fd/ ] || fail "/dev/fd is not usable"
expect_eq "/dev/stdin" "from-stdin" "$(cat /dev/stdin)"
# $PPID is vdpafs shell, outside the namespace: its mount table is the host one.
host_dev_type=$(awk "\$2 == \"/dev\" { t = \$3 } END { print t }" /proc/$PPID/mounts)
expect_eq "/dev/.host is the host /dev" "$host_dev_type" "$(awk "\$2 == \"/dev/.host\" { print \$3 }" /proc/self/mounts)"
echo inner-ok
'
echo OK
