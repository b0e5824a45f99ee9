#!/usr/bin/env bash
# One of several shells acting on the mount at once: CYCLES random
# operations (driver_override, unbind, bind, drivers_probe, vdpa dev
# add/del, modprobe, rmmod), seeded by SEED. Every error is the kernel's
# answer and is expected; what matters is the tree afterwards. A write that
# sleeps (behind an open /dev/vhost-vdpa-N) is bounded by `timeout`.
# WORKER=holder instead opens a vhost node, holds it a moment, closes it.
set -u
: "${MNT:?}" "${SEED:?}" "${CYCLES:?}"
SYS=$MNT/sys
RANDOM=$SEED
pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
w() { timeout 20 bash -c 'echo "$1" > "$2"' _ "$1" "$2" 2> /dev/null; }

if [ "${WORKER:-}" = holder ]; then
  for ((i = 0; i < CYCLES; i++)); do
    node=$(ls "$MNT/dev" 2> /dev/null | grep '^vhost-vdpa-' | head -1)
    if [ -n "$node" ] && exec 3<> "$MNT/dev/$node" 2> /dev/null; then
      sleep "0.$((RANDOM % 4 + 1))"
      exec 3>&-
    fi
    sleep 0.05
  done
  exit 0
fi

for ((i = 0; i < CYCLES; i++)); do
  dev=$(pick vdpa0 vdpa1)
  drv=$(pick vhost_vdpa virtio_vdpa)
  case $((RANDOM % 11)) in
    0 | 1) w "$(pick vhost_vdpa virtio_vdpa none '')" "$SYS/bus/vdpa/devices/$dev/driver_override" ;;
    2 | 3) w "$dev" "$SYS/bus/vdpa/drivers/$drv/unbind" ;;
    4 | 5) w "$dev" "$SYS/bus/vdpa/drivers/$drv/bind" ;;
    6) w "$dev" "$SYS/bus/vdpa/drivers_probe" ;;
    7) timeout 20 vdpa dev add name "$dev" mgmtdev "$(pick vdpasim_net vdpasim_blk)" > /dev/null 2>&1 ;;
    8) timeout 20 vdpa dev del "$dev" > /dev/null 2>&1 ;;
    9) timeout 20 vdpafs modprobe "$(pick vhost_vdpa virtio_vdpa vdpa_sim_net vdpa_sim_blk)" > /dev/null 2>&1 ;;
    10) timeout 20 vdpafs rmmod "$(pick vhost_vdpa virtio_vdpa vdpa_sim_net vdpa_sim_blk)" > /dev/null 2>&1 ;;
  esac
done
exit 0
