#!/usr/bin/env bash
# scripts/guest.sh: make (once) and print the Linux guest the QEMU
# end-to-end test boots on a vhost-vdpa NIC.
#
# Everything comes from Debian packages and is cached outside the checkout,
# in $VDPAFS_CACHE (default /var/cache/vdpafs):
#   - qemu-system-x86, busybox-static, cpio and a C toolchain are installed
#     with apt-get (as root) when missing;
#   - the guest kernel is Debian's linux-image-amd64, downloaded with
#     `apt-get download` and unpacked with dpkg-deb -x, never installed:
#     kernel/<release>/vmlinux (uncompressed, booted through PVH, which is
#     the fastest way under TCG) and the virtio modules it needs;
#   - the initramfs (guest/<hash>/initramfs.cpio): busybox, those modules,
#     test/guest/init and test/guest/frames (built static here).
# A later run reuses what is cached and asks apt nothing; the initramfs is
# rebuilt only when init, frames.c, the kernel or busybox change (builds
# unused for a week are removed). Remove $VDPAFS_CACHE to start afresh,
# e.g. to take a newer Debian kernel.
#
# On success it prints, on stdout, what the test needs:
#   GUEST_KERNEL=...  GUEST_INITRD=...  GUEST_KRELEASE=...  GUEST_MODULES=...  QEMU=...
# Progress goes to stderr. Exit 1 with one line saying why on failure.
set -euo pipefail
case "${1:-}" in
  -h|--help)
    cat <<'USAGE'
Usage: scripts/guest.sh

Build (once) the Linux guest the QEMU test boots, cached in $VDPAFS_CACHE
(default /var/cache/vdpafs), and print on stdout:
  GUEST_KERNEL=...  GUEST_INITRD=...  GUEST_KRELEASE=...  GUEST_MODULES=...  QEMU=...
so that  eval "$(scripts/guest.sh)"  sets them. Installs qemu-system-x86,
busybox-static, cpio and a C toolchain with apt when missing (as root).
USAGE
    exit 0 ;;
  '') ;;
  *) printf 'guest: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
REPO=$PWD

CACHE=${VDPAFS_CACHE:-/var/cache/vdpafs}
# The modules the guest needs for a virtio-net-pci NIC; their dependencies
# are read from the modules themselves and loaded first.
GUEST_MODULE_ROOTS=(virtio_pci virtio_net)
APT_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils binutils gcc libc6-dev)

say() { printf 'guest: %s\n' "$*" >&2; }
die() {
  printf 'guest: %s\n' "$*" >&2
  exit 1
}

apt_get() {
  # Another apt (a parallel job) may hold a lock: wait for it, retry a lock
  # failure; any other failure (no network, no such package) is final.
  local i
  for i in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq "$@" >/dev/null 2>"$CACHE/apt.err" && return 0
    grep -qi 'lock' "$CACHE/apt.err" || return 1
    sleep 10
  done
  return 1
}
apt_update_once() {
  [ -n "${APT_UPDATED:-}" ] && return 0
  say "updating apt's package lists (apt-get update)"
  apt_get update || die "cannot reach Debian's package archive (apt-get update failed: $(tail -1 "$CACHE/apt.err")); the QEMU test needs ${APT_PACKAGES[*]} and linux-image-amd64"
  APT_UPDATED=1
}

mkdir -p "$CACHE" || die "cannot create $CACHE"
exec 9>"$CACHE/.lock"
flock 9

# ---- Debian packages ----
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  apt_update_once
  say "installing ${missing[*]} (apt-get install)"
  apt_get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install ${missing[*]} failed: $(tail -1 "$CACHE/apt.err")"
fi
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 is not on PATH after installing qemu-system-x86"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (busybox-static)"

# ---- the kernel ----

# vmlinux out of a bzImage: the setup header says where the compressed
# payload is (setup_sects at 0x1f1, payload_offset at 0x248, payload_length
# at 0x24c; Documentation/arch/x86/boot.rst); Debian compresses it with xz.
u32_at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
extract_vmlinux() {
  local bz=$1 out=$2 setup_sects off len magic
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
  [ "$setup_sects" -eq 0 ] && setup_sects=4
  off=$(((setup_sects + 1) * 512 + $(u32_at "$bz" $((0x248)))))
  len=$(u32_at "$bz" $((0x24c)))
  magic=$(od -An -tx1 -j "$off" -N6 "$bz" | tr -d ' ')
  case "$magic" in
    fd377a585a00) tail -c +$((off + 1)) "$bz" | head -c "$len" | xz -dc ;;
    1f8b*) tail -c +$((off + 1)) "$bz" | head -c "$len" | gzip -dc ;;
    *) die "unknown kernel compression (payload magic $magic) in $bz" ;;
  esac >"$out" 2>/dev/null || true
  [ "$(od -An -tx1 -N4 "$out" | tr -d ' ')" = 7f454c46 ] || die "could not extract an ELF vmlinux from $bz"
}

# The file of module $1 in the unpacked tree $2, as a plain .ko (an .xz is
# decompressed beside it).
module_file() {
  local f
  f=$(find "$2" -name "$1.ko" -o -name "$1.ko.xz" | head -1)
  [ -n "$f" ] || die "module $1 is not in the kernel package"
  case "$f" in *.xz) xz -dc "$f" >"${f%.xz}" && f=${f%.xz} ;; esac
  echo "$f"
}
# The modules $1 depends on: .modinfo's depends=.
module_depends() {
  objcopy -O binary --only-section=.modinfo "$(module_file "$1" "$2")" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
# Post-order walk: every module after what it depends on.
ORDER=()
visit() {
  local m=$1 tree=$2 d seen
  for seen in "${ORDER[@]+"${ORDER[@]}"}"; do [ "$seen" = "$m" ] && return 0; done
  local deps
  deps=$(module_depends "$m" "$tree")
  for d in $deps; do visit "$d" "$tree"; done
  ORDER+=("$m")
}

cached_kernel() {
  local d
  for d in "$CACHE"/kernel/*/; do
    [ -f "$d/.complete" ] && { basename "$d"; return 0; }
  done
  return 1
}

if ! KREL=$(cached_kernel); then
  apt_update_once
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$pkg" ] || die "apt knows no linux-image-amd64 (is deb.debian.org in the sources?)"
  KREL=${pkg#linux-image-}
  tmp=$(mktemp -d "$CACHE/kernel-tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  say "downloading $pkg ($(apt-cache show "$pkg" | awk '/^Size:/{printf "%d MB", $2/1e6; exit}')) with apt-get download; it is unpacked, not installed"
  (cd "$tmp" && apt_get download "$pkg") || die "apt-get download $pkg failed: $(tail -1 "$CACHE/apt.err")"
  say "unpacking $pkg (dpkg-deb -x)"
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$tmp/out/modules"
  extract_vmlinux "$tmp/x/boot/vmlinuz-$KREL" "$tmp/out/vmlinux"
  cp "$tmp/x/boot/config-$KREL" "$tmp/out/config"
  for root in "${GUEST_MODULE_ROOTS[@]}"; do visit "$root" "$tmp/x/lib/modules/$KREL"; done
  for m in "${ORDER[@]}"; do
    f=$(module_file "$m" "$tmp/x/lib/modules/$KREL")
    cp "$f" "$tmp/out/modules/$m.ko"
  done
  printf '%s\n' "${ORDER[@]}" >"$tmp/out/modules.order"
  touch "$tmp/out/.complete"
  mkdir -p "$CACHE/kernel"
  rm -rf "${CACHE:?}/kernel/$KREL"
  mv "$tmp/out" "$CACHE/kernel/$KREL"
  rm -rf "$tmp"
  trap - EXIT
  say "kernel $KREL cached in $CACHE/kernel/$KREL (modules: ${ORDER[*]})"
fi
KDIR=$CACHE/kernel/$KREL

# PVH boots the ELF vmlinux directly (no decompression, no real-mode setup);
# it needs the kernel's XEN_ELFNOTE_PHYS32_ENTRY note (CONFIG_PVH).
readelf -n "$KDIR/vmlinux" 2>/dev/null | grep -A1 -E '^ +Xen ' | grep -q '0x00000012' ||
  die "$KDIR/vmlinux has no PVH entry note: QEMU cannot boot it directly"

# ---- the initramfs ----
BB_VERSION=$(dpkg-query -W -f='${Version}' busybox-static)
key=$( (
  echo "$KREL $BB_VERSION"
  cat "$KDIR/modules.order" test/guest/init test/guest/frames.c
) | sha256sum | cut -c1-16)
GDIR=$CACHE/guest/$key
if [ ! -f "$GDIR/.complete" ]; then
  say "building the initramfs ($GDIR)"
  tmp=$(mktemp -d "$CACHE/guest-tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  root=$tmp/root
  mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  gcc -static -O2 -Wall -Werror -o "$root/bin/frames" test/guest/frames.c || die "cannot build test/guest/frames.c"
  cp "$KDIR"/modules/*.ko "$root/lib/modules/"
  cp "$KDIR/modules.order" "$root/modules.order"
  install -m 0755 test/guest/init "$root/init"
  mkdir -p "$tmp/out"
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$tmp/out/initramfs.cpio"
  touch "$tmp/out/.complete"
  mkdir -p "$CACHE/guest"
  rm -rf "$GDIR"
  mv "$tmp/out" "$GDIR"
  rm -rf "$tmp"
  trap - EXIT
fi

# In use: keep it; initramfs builds of other sources unused for a week go.
touch "$GDIR/.complete"
find "$CACHE/guest" -mindepth 1 -maxdepth 1 -type d ! -path "$GDIR" -mtime +7 -exec rm -rf {} + 2>/dev/null || true

echo "GUEST_KERNEL=$KDIR/vmlinux"
echo "GUEST_INITRD=$GDIR/initramfs.cpio"
echo "GUEST_KRELEASE=$KREL"
echo "GUEST_MODULES=$(tr '\n' ',' <"$KDIR/modules.order" | sed 's/,$//')"
echo "QEMU=$QEMU"
