# Helpers for the virtio-half scripts (source after lib.sh).

# move_to DEV DRIVER: the usual sequence -- driver_override, unbind the
# current driver (through the device's driver link), drivers_probe.
move_to() {
  local dev=$1 drv=$2
  echo "$drv" > "$SYS/bus/vdpa/devices/$dev/driver_override" || fail "override $dev -> $drv"
  if [ -e "$SYS/bus/vdpa/devices/$dev/driver" ]; then
    echo "$dev" > "$SYS/bus/vdpa/devices/$dev/driver/unbind" || fail "unbind $dev"
  fi
  echo "$dev" > "$SYS/bus/vdpa/drivers_probe" || fail "drivers_probe $dev"
  expect_eq "$dev driver" "$drv" "$(driver_of "$dev")"
}

# virtio_of DEV: the virtioN child of a vdpa device bound to virtio_vdpa.
virtio_of() {
  local d
  for d in "$SYS/devices/$1"/virtio*; do [ -d "$d" ] && basename "$d" && return; done
  fail "$1 has no virtio child"
}

# features_bits N...: the 64-character bitstring `features` shows (a u64 in 6.12).
features_bits() {
  local i out=
  declare -A on=()
  for i in "$@"; do on[$i]=1; done
  for ((i = 0; i < 64; i++)); do out+=${on[$i]:-0}; done
  printf '%s' "$out"
}

# vdpafs_call METHOD JSON: one request on the control socket (for test hooks with no CLI).
vdpafs_call() {
  node -e '
    const { ControlClient } = require(process.argv[1]);
    ControlClient.connect(process.argv[2]).then(async (c) => {
      try { console.log(JSON.stringify(await c.call(process.argv[3], JSON.parse(process.argv[4])))); }
      catch (e) { console.error(e.errno || e.message); process.exitCode = 1; }
      finally { c.close(); }
    });
  ' "$(dirname "$(command -v vdpafs)")/../dist/control/client.js" "$MNT" "$1" "$2"
}

# monitor_lines FILE: what vdpafs monitor printed, minus its banner and the timestamps.
monitor_lines() {
  sed -e '1,3d' -e 's/^KERNEL\[[0-9.]*\]/KERNEL/' "$1"
}

# stat_of IFACE FIELD: one statistics counter.
stat_of() { cat "$SYS/class/net/$1/statistics/$2"; }

# vstat DEV QIDX NAME: one vendor counter from `vdpa -j dev vstats show`.
vstat() {
  vdpa -j dev vstats show "$1" qidx "$2" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const v = JSON.parse(s).vstats[process.argv[1]];
      console.log(v[process.argv[2]]);
    });' "$1" "$3"
}
