#!/usr/bin/env bash
# An unprivileged user against the mount and the control socket: what
# Linux lets anyone do (read sysfs, query the vdpa family, lsmod, dmesg,
# watch uevents) works; what it refuses (writing root's sysfs files,
# chmod, opening 0600 nodes, reading another user's disk, changing vdpa
# devices, loading modules, bringing a netdev up, raw frames) fails with
# the kernel's errno. Runs as root; `as_user` runs one command as $VDPA_USER.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/virtio_lib.sh"
: "${VDPA_USER:?VDPA_USER must name an unprivileged user}"
: "${CLI_ROOT:?CLI_ROOT must name a checkout (bin, dist) the user can run}"
CLI_BIN=$CLI_ROOT/bin
TMPDIR_NR=$(mktemp -d)
trap 'rm -rf "$TMPDIR_NR"' EXIT

as_user() {
  setpriv --reuid="$VDPA_USER" --regid="$VDPA_USER" --clear-groups \
    env -i PATH="$CLI_BIN:/usr/bin:/bin" VDPAFS_ROOT="$MNT" LC_ALL=C HOME=/ "$@"
}

# user_write_err FILE MESSAGE: `echo x > FILE` as the user fails with MESSAGE.
user_write_err() {
  local out
  if out=$(as_user bash -c "echo x > '$1'" 2>&1); then fail "user: echo x > $1 should fail"; fi
  [[ "$out" == *"$2"* ]] || fail "user: echo x > $1: expected '$2', got '$out'"
}

# user_cmd_err STATUS MESSAGE CMD...: CMD as the user exits STATUS and says MESSAGE (a glob).
user_cmd_err() {
  local want=$1 msg=$2 out rc
  shift 2
  out=$(as_user "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$want" ] || fail "user: $*: exit status $rc, expected $want (said: $out)"
  # shellcheck disable=SC2053
  [[ "$out" == $msg ]] || fail "user: $*: expected [$msg], got [$out]"
}

user_ok() {
  local out
  out=$(as_user "$@" 2>&1) || fail "user: $* failed: $out"
  printf '%s' "$out"
}

step "the user is not root"
expect_eq "uid" "$(id -u "$VDPA_USER")" "$(as_user id -u)"
[ "$(as_user id -u)" != 0 ] || fail "$VDPA_USER is root"

step "a kernel with vdpa0 on vhost_vdpa, vdpa1 (blk) on virtio_blk, eth0 from vdpa2"
reset_kernel vdpa vhost_vdpa vdpa_sim_net vdpa_sim_blk virtio_vdpa virtio_net virtio_blk
vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "dev add vdpa0"
vdpa dev add name vdpa1 mgmtdev vdpasim_blk || fail "dev add vdpa1"
vdpa dev add name vdpa2 mgmtdev vdpasim_net || fail "dev add vdpa2"
move_to vdpa1 virtio_vdpa
move_to vdpa2 virtio_vdpa
D=$(ls "$SYS/devices/vdpa1/$(virtio_of vdpa1)/block")
[ -e "$DEV/$D" ] || fail "no disk node for vdpa1"
[ -d "$SYS/class/net/eth0" ] || fail "no eth0"

step "reads: what sysfs lets anyone read"
expect_eq "driver_override" "(null)" "$(user_ok cat "$SYS/bus/vdpa/devices/vdpa0/driver_override")"
expect_eq "uevent" "DRIVER=vhost_vdpa" "$(user_ok cat "$SYS/devices/vdpa0/uevent")"
expect_eq "ls devices" "$(ls "$SYS/bus/vdpa/devices")" "$(user_ok ls "$SYS/bus/vdpa/devices")"
expect_eq "readlink" "$(readlink "$SYS/bus/vdpa/devices/vdpa0/driver")" "$(user_ok readlink "$SYS/bus/vdpa/devices/vdpa0/driver")"
expect_eq "mtu" "$(cat "$SYS/class/net/eth0/mtu")" "$(user_ok cat "$SYS/class/net/eth0/mtu")"
expect_eq "size" 262144 "$(user_ok cat "$SYS/block/$D/size")"
expect_eq "refcnt" "$(cat "$SYS/module/vdpa/refcnt")" "$(user_ok cat "$SYS/module/vdpa/refcnt")"
user_cmd_err 1 "*Permission denied" cat "$SYS/bus/vdpa/drivers_probe"

step "writes to root's sysfs files: EACCES, and nothing changes"
user_write_err "$SYS/bus/vdpa/drivers/vhost_vdpa/unbind" "Permission denied"
user_write_err "$SYS/bus/vdpa/drivers/vhost_vdpa/bind" "Permission denied"
user_write_err "$SYS/bus/vdpa/devices/vdpa0/driver_override" "Permission denied"
user_write_err "$SYS/bus/vdpa/drivers_probe" "Permission denied"
user_write_err "$SYS/bus/vdpa/drivers_autoprobe" "Permission denied"
user_write_err "$SYS/bus/vdpa/uevent" "Permission denied"
user_write_err "$SYS/devices/vdpa0/uevent" "Permission denied"
user_write_err "$SYS/class/net/eth0/mtu" "Permission denied"
user_write_err "$SYS/class/net/eth0/flags" "Permission denied"
expect_eq "vdpa0 still bound" vhost_vdpa "$(driver_of vdpa0)"
expect_file "$SYS/bus/vdpa/devices/vdpa0/driver_override" "(null)"
expect_file "$SYS/bus/vdpa/drivers_autoprobe" 1
expect_file "$SYS/class/net/eth0/mtu" 1500

step "chmod by someone who is not the owner: EPERM"
user_cmd_err 1 "*Operation not permitted" chmod 666 "$SYS/bus/vdpa/devices/vdpa0/driver_override"
user_cmd_err 1 "*Operation not permitted" chmod 666 "$DEV/vhost-vdpa-0"
user_cmd_err 1 "*Operation not permitted" chmod 666 "$DEV/$D"
expect_mode "$SYS/devices/vdpa0/driver_override" 644
expect_mode "$DEV/vhost-vdpa-0" 600

step "root-only nodes: the user opens none of them"
user_cmd_err 1 "*Permission denied" cat "$DEV/vhost-vdpa-0"
user_cmd_err 1 "*Permission denied" bash -c "echo hi > '$DEV/vhost-vdpa-0'"
echo 'root data on the disk' | dd of="$DEV/$D" conv=notrunc status=none || fail "root cannot write $D"
user_cmd_err 1 "*Permission denied" head -c 21 "$DEV/$D"
user_cmd_err 1 "*Permission denied" dd if=/dev/zero of="$DEV/$D" bs=512 count=1 conv=notrunc status=none
expect_eq "disk unchanged" 'root data on the disk' "$(head -c 21 "$DEV/$D")"

step "root keeps its rights, and sysfs's modes bind root too"
expect_write_ok 1 "$SYS/bus/vdpa/drivers_autoprobe"
expect_cmd_err 1 "*Permission denied" cat "$SYS/bus/vdpa/drivers/vhost_vdpa/unbind"

step "management: queries for anyone"
for q in "mgmtdev show" "dev show" "dev config show" "dev show vdpa0" "-j dev show" "dev config show vdpa2"; do
  # shellcheck disable=SC2086
  expect_eq "vdpa $q" "$(vdpa $q 2>&1)" "$(user_ok vdpa $q)"
done

step "management: changes need CAP_NET_ADMIN"
user_cmd_err 1 "*Operation not permitted*" vdpa dev add name vdpa9 mgmtdev vdpasim_net
user_cmd_err 1 "*Operation not permitted*" vdpa dev add name vdpa9 mgmtdev vdpasim_net mtu 9000
user_cmd_err 1 "*Operation not permitted*" vdpa dev del vdpa0
user_cmd_err 1 "*Operation not permitted*" vdpa dev set name vdpa2 mac 02:00:00:00:00:99
# iproute2 6.1's vstats show exits 0 even when the kernel refuses (6.4 changed that).
user_cmd_err 0 "*kernel answers: Operation not permitted" vdpa dev vstats show vdpa2 qidx 0
expect_eq "devices unchanged" "vdpa0 vdpa1 vdpa2" "$(ls "$SYS/bus/vdpa/devices" | tr '\n' ' ' | sed 's/ $//')"

step "modules: lsmod for anyone, loading and unloading need CAP_SYS_MODULE"
expect_eq "lsmod" "$(vdpafs lsmod)" "$(user_ok vdpafs lsmod)"
user_ok vdpafs modprobe vdpa > /dev/null   # loaded already: kmod does nothing, needs nothing
user_cmd_err 1 "modprobe: ERROR: could not remove 'vdpa_sim_blk': Operation not permitted" vdpafs modprobe -r vdpa_sim_blk
user_cmd_err 1 "rmmod: ERROR: could not remove module virtio_net: Operation not permitted" vdpafs rmmod virtio_net
vdpafs rmmod virtio_net || fail "root: rmmod virtio_net"
user_cmd_err 1 "modprobe: ERROR: could not insert 'virtio_net': Operation not permitted" vdpafs modprobe virtio_net
vdpafs modprobe virtio_net || fail "root: modprobe virtio_net"

step "the log and the uevents: anyone reads them"
expect_eq "dmesg" "$(vdpafs dmesg)" "$(user_ok vdpafs dmesg)"
as_user vdpafs monitor > "$TMPDIR_NR/monitor" 2>&1 &
MON=$!
for _ in $(seq 100); do grep -q '^monitor will print' "$TMPDIR_NR/monitor" 2>/dev/null && break; sleep 0.02; done
echo change > "$SYS/devices/vdpa0/uevent" || fail "root: synthesize a change"
for _ in $(seq 100); do grep -q 'change' "$TMPDIR_NR/monitor" && break; sleep 0.02; done
kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null
grep -q 'change *\/devices\/vdpa0 (vdpa)' "$TMPDIR_NR/monitor" || fail "user's monitor saw no change event: $(cat "$TMPDIR_NR/monitor")"

step "netdevs: up/down, raw frames need CAP_NET_ADMIN / CAP_NET_RAW"
user_cmd_err 1 "vdpafs net: set eth0: Operation not permitted" vdpafs net set eth0 up
user_cmd_err 1 "vdpafs net: send eth0: Operation not permitted" vdpafs net send eth0 ffffffffffff 020000000001 88b5 6869
user_cmd_err 1 "vdpafs net: recv eth0: Operation not permitted" vdpafs net recv eth0
expect_file "$SYS/class/net/eth0/operstate" down

step "the control socket itself: admin methods answer EPERM whatever the params"
for req in '{"id":1,"method":"genl","params":{"cmd":3,"attrs":[["VDPA_ATTR_DEV_NAME","x"]]}}' \
  '{"id":1,"method":"genl","params":{"cmd":4,"attrs":[["VDPA_ATTR_DEV_NAME",7]]}}' \
  '{"id":1,"method":"modprobe","params":{"name":"vdpa_sim_blk"}}' \
  '{"id":1,"method":"devview_mount"}' \
  '{"id":1,"method":"shutdown"}' \
  '{"id":1,"method":"fault_vring","params":{"device":"virtio0","vq":0}}'; do
  got=$(printf '%s\n' "$req" | as_user node "$CLI_ROOT/test/e2e/scripts/sock_send.js" "$MNT")
  [[ "$got" == '{"id":1,"errno":"EPERM"}' ]] || fail "user's $req: expected EPERM, got $got"
done
expect_eq "daemon still up" "vdpa0 vdpa1 vdpa2" "$(ls "$SYS/bus/vdpa/devices" | tr '\n' ' ' | sed 's/ $//')"
echo "all refusals held"
