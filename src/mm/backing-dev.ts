/*
 * mm/backing-dev.c: the bdi device every visible disk registers, named
 * "MAJ:MIN" in class `bdi`. It has no parent, so it lives at
 * /sys/devices/virtual/bdi/MAJ:MIN, and its KOBJ_ADD comes before the
 * disk's own (add_disk() announces the disk last).
 *
 * Its attributes are 6.12's, parsed as there: read_ahead_kb kstrtoul
 * base 10 (in pages underneath, so it rounds down to 4 KiB); the ratios
 * kstrtouint base 10, in percent or (the _fine ones) in millionths, with
 * mm/page-writeback.c's refusals; min_bytes and max_bytes converted to and
 * from a ratio of the dirty threshold, which depends on the host's memory
 * (src/kernel/config.ts).
 */
import { Device, deviceAdd, deviceDel } from '../drivers/base/core';
import { classGet } from '../drivers/base/class';
import { attr, roAttr } from '../fs/sysfs';
import { fail } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';
import type { MaybeWait } from '../kernel/completion';
import { kstrtoull, kstrtouint } from '../lib/kstrtox';
import { DIRTYABLE_PAGES } from '../kernel/config';

/* BDI_RATIO_SCALE: ratios are kept in millionths (100 * 10000 is 100%). */
const BDI_RATIO_SCALE = 10000;
const PAGE_SIZE = 4096;
/* VM_READAHEAD_PAGES: 128 KiB. */
export const VM_READAHEAD_PAGES = 32;

/* ratio * BDI_RATIO_SCALE in an unsigned int, wrapping as the C multiplication does. */
const scaled = (v: number) => Number(BigInt.asUintN(32, BigInt(v) * BigInt(BDI_RATIO_SCALE)));

export class BackingDevInfo {
  /* unsigned long ra_pages */
  raPages = BigInt(VM_READAHEAD_PAGES);
  minRatio = 0;
  maxRatio = 100 * BDI_RATIO_SCALE;
  strictLimit = false;
  dev: Device | null = null;
}

/* bdi_min_ratio: the sum of every bdi's min_ratio, which may not reach 100%. */
interface BdiGlobals {
  minRatioSum: number;
}
function bdiGlobals(k: Kernel): BdiGlobals {
  return k.global<BdiGlobals>('bdi', () => ({ minRatioSum: 0 }));
}

/*
 * global_dirty_limits(): the dirty threshold in pages, vm.dirty_ratio
 * (20%) of the dirtyable memory, computed in per-PAGE_SIZE units as
 * domain_dirty_limits() does.
 */
function dirtyThresh(): number {
  const ratio = Math.floor((20 * PAGE_SIZE) / 100);
  return Math.floor((ratio * DIRTYABLE_PAGES) / PAGE_SIZE);
}

/* __bdi_set_min_ratio() */
function setMinRatio(k: Kernel, bdi: BackingDevInfo, ratio: number): void {
  if (ratio > 100 * BDI_RATIO_SCALE) fail('EINVAL');
  const g = bdiGlobals(k);
  if (ratio > bdi.maxRatio) fail('EINVAL');
  if (ratio < bdi.minRatio) g.minRatioSum -= bdi.minRatio - ratio;
  else {
    const delta = ratio - bdi.minRatio;
    if (g.minRatioSum + delta >= 100 * BDI_RATIO_SCALE) fail('EINVAL');
    g.minRatioSum += delta;
  }
  bdi.minRatio = ratio;
}

/* __bdi_set_max_ratio() */
function setMaxRatio(bdi: BackingDevInfo, ratio: number): void {
  if (ratio > 100 * BDI_RATIO_SCALE) fail('EINVAL');
  if (bdi.minRatio > ratio) fail('EINVAL');
  bdi.maxRatio = ratio;
}

/* bdi_get_bytes() */
function bytesOf(ratio: number): bigint {
  return (BigInt(dirtyThresh()) * BigInt(PAGE_SIZE) * BigInt(ratio)) / BigInt(BDI_RATIO_SCALE) / 100n;
}

/* bdi_check_pages_limit() and bdi_ratio_from_pages() */
function ratioOfBytes(bytes: bigint): number {
  const pages = bytes >> 12n;
  if (pages > BigInt(DIRTYABLE_PAGES)) fail('EINVAL');
  return Number((pages * 100n * BigInt(BDI_RATIO_SCALE)) / BigInt(dirtyThresh()));
}

function bdiAttrs(k: Kernel, bdi: BackingDevInfo) {
  const rw = (name: string, show: () => string | number | bigint, store: (buf: Buffer) => void) =>
    attr(name, {
      show: () => `${show()}\n`,
      store: (buf) => {
        store(buf);
        return buf.length;
      },
    });
  return [
    /* "%lld" of K(ra_pages) */
    rw('read_ahead_kb', () => BigInt.asIntN(64, bdi.raPages << 2n), (buf) => (bdi.raPages = kstrtoull(buf, 10) >> 2n)),
    rw('min_ratio', () => Math.floor(bdi.minRatio / BDI_RATIO_SCALE), (buf) => setMinRatio(k, bdi, scaled(kstrtouint(buf, 10)))),
    rw('min_ratio_fine', () => bdi.minRatio, (buf) => setMinRatio(k, bdi, kstrtouint(buf, 10))),
    rw('max_ratio', () => Math.floor(bdi.maxRatio / BDI_RATIO_SCALE), (buf) => setMaxRatio(bdi, scaled(kstrtouint(buf, 10)))),
    rw('max_ratio_fine', () => bdi.maxRatio, (buf) => setMaxRatio(bdi, kstrtouint(buf, 10))),
    rw('min_bytes', () => bytesOf(bdi.minRatio), (buf) => setMinRatio(k, bdi, ratioOfBytes(kstrtoull(buf, 10)))),
    rw('max_bytes', () => bytesOf(bdi.maxRatio), (buf) => setMaxRatio(bdi, ratioOfBytes(kstrtoull(buf, 10)))),
    roAttr('stable_pages_required', () => {
      /* dev_warn_once() */
      if (!warned.has(bdi)) {
        warned.add(bdi);
        k.log.kmsg('warn', `bdi ${bdi.dev?.name}: the stable_pages_required attribute has been removed. Use the stable_writes queue attribute instead.`);
      }
      return '0\n';
    }),
    rw('strict_limit', () => (bdi.strictLimit ? 1 : 0), (buf) => {
      const v = kstrtouint(buf, 10);
      if (v > 1) fail('EINVAL');
      bdi.strictLimit = v === 1;
    }),
  ];
}
const warned = new WeakSet<BackingDevInfo>();

/* bdi_register(): device_create(bdi_class, NULL, MKDEV(0, 0), bdi, "%u:%u"). */
export function bdiRegister(k: Kernel, bdi: BackingDevInfo, name: string): void {
  const dev = new Device(k, name);
  dev.class = classGet(k, 'bdi');
  dev.groups.push(() => bdiAttrs(k, bdi));
  bdi.dev = dev;
  deviceAdd(dev);
}

/* bdi_unregister(): its min_ratio goes back to the pool. */
export function bdiUnregister(bdi: BackingDevInfo): MaybeWait<void> {
  const dev = bdi.dev;
  bdi.dev = null;
  if (!dev) return undefined;
  bdiGlobals(dev.kernel).minRatioSum -= bdi.minRatio;
  return deviceDel(dev);
}
