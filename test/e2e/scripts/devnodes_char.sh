#!/usr/bin/env bash
# --dev-nodes=char: /dev/vhost-vdpa-N stats as a character device with the
# major and minor sysfs shows; opening it is the host's char layer's
# business, which refuses on this nodev mount. sysfs is unchanged.
source "$(dirname "$0")/lib.sh"
dev=$(cat "$SYS/devices/vdpa0/vhost-vdpa-0/dev")

step "stat says character special file, mode 0600, rdev = dev"
expect_eq "file type" "character special file" "$(stat -c %F "$DEV/vhost-vdpa-0")"
expect_mode "$DEV/vhost-vdpa-0" 600
expect_eq "rdev" "$dev" "$(stat -c '%t %T' "$DEV/vhost-vdpa-0" | { read -r ma mi; printf '%d:%d' "0x$ma" "0x$mi"; })"
[[ "$(ls -l "$DEV/vhost-vdpa-0")" == c* ]] || fail "ls -l does not show a c: $(ls -l "$DEV/vhost-vdpa-0")"
expect_link "$SYS/dev/char/$dev" ../../devices/vdpa0/vhost-vdpa-0

step "open fails: the node belongs to the host's char layer, not the daemon"
out=$( { exec 3<> "$DEV/vhost-vdpa-0"; } 2>&1 ) && fail "opening a char-device node succeeded"
[[ "$out" == *"Permission denied"* || "$out" == *"No such device or address"* ]] || fail "unexpected open error: $out"
expect_file "$SYS/module/vhost_vdpa/refcnt" 0

step "a second device's node follows the same rules; sysfs files stay regular files"
vdpa dev add name vdpa1 mgmtdev vdpasim_net || fail "vdpa dev add vdpa1"
expect_eq "file type" "character special file" "$(stat -c %F "$DEV/vhost-vdpa-1")"
expect_eq "rdev of vhost-vdpa-1" "$(cat "$SYS/devices/vdpa1/vhost-vdpa-1/dev")" \
  "$(stat -c '%t %T' "$DEV/vhost-vdpa-1" | { read -r ma mi; printf '%d:%d' "0x$ma" "0x$mi"; })"
expect_eq "file type of an attribute" "regular file" "$(stat -c %F "$SYS/devices/vdpa0/vhost-vdpa-0/dev")"
echo "char device nodes passed"
