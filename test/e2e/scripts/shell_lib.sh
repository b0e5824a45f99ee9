# Shared by the shell_*.sh scripts: lib.sh's assertions, `vdpafs shell`, and
# the kernel state they check afterwards from outside the namespace,
# through the mount itself ($SYS, $DEV).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# in_shell CMD...: run CMD inside `vdpafs shell`; prints what it printed
# (stdout and stderr), fails the script if it exits non-zero.
in_shell() {
  local out rc
  out=$(vdpafs shell -- "$@" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || fail "vdpafs shell -- $*: exit $rc: $out"
  printf '%s' "$out"
}

# expect_no_match GLOB: nothing matches GLOB (e.g. no virtioN child).
expect_no_match() {
  local m
  m=$(compgen -G "$1") && fail "nothing should match $1, found: $m"
  return 0
}

# expect_vdpa0_bound DRIVER: vdpa0 bound to DRIVER with everything Linux has
# then: both links, uevent, and the child of that driver (vhost-vdpa-0 and
# its /dev node for vhost_vdpa, virtio0 on the virtio bus for virtio_vdpa).
expect_vdpa0_bound() {
  local drv=$1 other
  case "$drv" in
    vhost_vdpa) other=virtio_vdpa ;;
    virtio_vdpa) other=vhost_vdpa ;;
    *) fail "expect_vdpa0_bound: unknown driver $drv" ;;
  esac
  expect_link "$SYS/devices/vdpa0/driver" "../../bus/vdpa/drivers/$drv"
  expect_link "$SYS/bus/vdpa/drivers/$drv/vdpa0" ../../../../devices/vdpa0
  expect_absent "$SYS/bus/vdpa/drivers/$other/vdpa0"
  expect_file "$SYS/devices/vdpa0/uevent" "DRIVER=$drv"
  if [ "$drv" = vhost_vdpa ]; then
    expect_exists "$DEV/vhost-vdpa-0"
    local devt
    devt=$(cat "$SYS/devices/vdpa0/vhost-vdpa-0/dev") || fail "vdpa0/vhost-vdpa-0/dev unreadable"
    expect_link "$SYS/dev/char/$devt" ../../devices/vdpa0/vhost-vdpa-0
    expect_no_match "$SYS/devices/vdpa0/virtio*"
  else
    expect_absent "$DEV/vhost-vdpa-0"
    expect_absent "$SYS/devices/vdpa0/vhost-vdpa-0"
    expect_exists "$SYS/devices/vdpa0/virtio0"
    expect_link "$SYS/bus/virtio/devices/virtio0" ../../../devices/vdpa0/virtio0
  fi
}

# expect_vdpa0_unbound: no driver, no child, no /dev node.
expect_vdpa0_unbound() {
  expect_absent "$SYS/devices/vdpa0/driver"
  expect_absent "$SYS/bus/vdpa/drivers/vhost_vdpa/vdpa0"
  expect_absent "$SYS/bus/vdpa/drivers/virtio_vdpa/vdpa0"
  expect_file "$SYS/devices/vdpa0/uevent" ""
  expect_absent "$DEV/vhost-vdpa-0"
  expect_absent "$SYS/devices/vdpa0/vhost-vdpa-0"
  expect_no_match "$SYS/devices/vdpa0/virtio*"
}
