#!/usr/bin/env bash
# Never stale under load. With the host kernel caching names and attributes,
# reader processes keep those caches warm (positive and negative entries,
# links, attributes) while writers bind, unbind, add and delete devices.
# After each change returns, the writer checks the new state from separate
# processes (stat, readlink, ls, cat); every check that sees the old state
# counts as a stale observation. There must be none.
#
#   WRITERS (2) writers, each owning its own devices, CYCLES (25) rounds each,
#   READERS (3) readers polling the same paths as fast as they can.
source "$(dirname "$0")/lib.sh"
WRITERS=${WRITERS:-2}
CYCLES=${CYCLES:-25}
READERS=${READERS:-3}
VDPA=$SYS/bus/vdpa
VHOST=$VDPA/drivers/vhost_vdpa
classic_kernel

tmp=$(mktemp -d)
cleanup() {
  touch "$tmp/stop"
  wait
  rm -rf "$tmp"
}
trap cleanup EXIT

# Each writer owns c<w> (added at the start) and a device it adds and deletes, d<w>.
for w in $(seq "$WRITERS"); do
  vdpa dev add name "c$w" mgmtdev vdpasim_net || fail "vdpa dev add c$w"
done

reader() {
  local n=0 w
  while [ ! -e "$tmp/stop" ]; do
    for w in $(seq "$WRITERS"); do
      stat "$SYS/devices/c$w/driver" "$SYS/devices/d$w" "$VDPA/devices/d$w" > /dev/null 2>&1
      readlink "$SYS/devices/c$w/driver" > /dev/null 2>&1
      ls "$SYS/devices/c$w" "$VHOST" "$DEV" > /dev/null 2>&1
      cat "$SYS/devices/c$w/uevent" > /dev/null 2>&1
    done
    n=$((n + 1))
  done
  echo "$n" > "$tmp/reader.$BASHPID"
}

# stale WHAT: count one stale observation (the writer goes on, to count them all).
writer() {
  local w=$1 stale=0 i node
  note() { printf 'stale (writer %s, cycle %s): %s\n' "$w" "$i" "$1" >&2; stale=$((stale + 1)); }
  for i in $(seq "$CYCLES"); do
    echo "c$w" > "$VHOST/unbind" || note "unbind failed"
    stat "$SYS/devices/c$w/driver" > /dev/null 2>&1 && note "devices/c$w/driver after unbind"
    readlink "$SYS/devices/c$w/driver" > /dev/null 2>&1 && note "readlink devices/c$w/driver after unbind"
    ls "$VHOST" | grep -qx "c$w" && note "drivers/vhost_vdpa/c$w listed after unbind"
    [ -z "$(cat "$SYS/devices/c$w/uevent")" ] || note "uevent of c$w names a driver after unbind"

    echo "c$w" > "$VHOST/bind" || note "bind failed"
    [ "$(readlink "$SYS/devices/c$w/driver")" = ../../bus/vdpa/drivers/vhost_vdpa ] || note "no driver link after bind"
    node=$(ls "$SYS/devices/c$w" | grep '^vhost-vdpa-') || note "no vhost-vdpa-N under c$w after bind"
    [ -n "$node" ] && { stat "$DEV/$node" > /dev/null 2>&1 || note "dev/$node missing after bind"; }
    [ "$(cat "$SYS/devices/c$w/uevent")" = DRIVER=vhost_vdpa ] || note "uevent of c$w stale after bind"

    vdpa dev add name "d$w" mgmtdev vdpasim_net || note "vdpa dev add d$w failed"
    stat "$SYS/devices/d$w/driver" > /dev/null 2>&1 || note "devices/d$w/driver missing after add"
    stat "$VDPA/devices/d$w" > /dev/null 2>&1 || note "bus/vdpa/devices/d$w missing after add"
    ls "$SYS/devices" | grep -qx "d$w" || note "devices/d$w not listed after add"

    vdpa dev del "d$w" || note "vdpa dev del d$w failed"
    stat "$SYS/devices/d$w" > /dev/null 2>&1 && note "devices/d$w after del"
    stat "$VDPA/devices/d$w" > /dev/null 2>&1 && note "bus/vdpa/devices/d$w after del"
    ls "$SYS/devices" | grep -qx "d$w" && note "devices/d$w listed after del"
  done
  echo "$stale" > "$tmp/writer.$w"
}

step "$READERS readers polling while $WRITERS writers each run $CYCLES cycles of unbind, bind, add, del"
for _ in $(seq "$READERS"); do reader & done
pids=()
for w in $(seq "$WRITERS"); do
  writer "$w" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
touch "$tmp/stop"
wait

total=0
for w in $(seq "$WRITERS"); do total=$((total + $(cat "$tmp/writer.$w"))); done
polls=0
for f in "$tmp"/reader.*; do polls=$((polls + $(cat "$f"))); done
printf 'stale observations: %d in %d writer cycles; %d reader passes\n' "$total" "$((WRITERS * CYCLES))" "$polls"
[ "$polls" -gt 0 ] || fail "the readers never completed a pass"
[ "$total" -eq 0 ] || fail "$total stale observations"
echo "never stale under load"
