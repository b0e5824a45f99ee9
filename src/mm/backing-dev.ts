/*
 * mm/backing-dev.c: the bdi device every visible disk registers, named
 * "MAJ:MIN" in class `bdi`. It has no parent, so it lives at
 * /sys/devices/virtual/bdi/MAJ:MIN, and its KOBJ_ADD comes before the
 * disk's own (add_disk() announces the disk last).
 */
import { Device, deviceAdd, deviceDel } from '../drivers/base/core';
import { classGet } from '../drivers/base/class';
import { attr, roAttr, storeString } from '../fs/sysfs';
import { fail } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';
import type { MaybeWait } from '../kernel/completion';

export class BackingDevInfo {
  readAheadKb = 128;
  minRatio = 0;
  maxRatio = 100;
  dev: Device | null = null;
}

function ratioAttr(name: string, get: () => number, set: (v: number) => void) {
  return attr(name, {
    show: () => `${get()}\n`,
    store: (buf) => {
      const v = Number(storeString(buf).trim());
      if (!Number.isInteger(v) || v < 0 || v > 100) fail('EINVAL');
      set(v);
      return buf.length;
    },
  });
}

/* bdi_register(): device_create(bdi_class, NULL, MKDEV(0, 0), bdi, "%u:%u"). */
export function bdiRegister(k: Kernel, bdi: BackingDevInfo, name: string): void {
  const dev = new Device(k, name);
  dev.class = classGet(k, 'bdi');
  dev.groups.push(() => [
    attr('read_ahead_kb', {
      show: () => `${bdi.readAheadKb}\n`,
      store: (buf) => {
        const v = Number(storeString(buf).trim());
        if (!Number.isInteger(v) || v < 0) fail('EINVAL');
        bdi.readAheadKb = v;
        return buf.length;
      },
    }),
    ratioAttr('min_ratio', () => bdi.minRatio, (v) => (bdi.minRatio = v)),
    ratioAttr('max_ratio', () => bdi.maxRatio, (v) => (bdi.maxRatio = v)),
    roAttr('stable_pages_required', '0\n'),
    roAttr('strict_limit', '0\n'),
  ]);
  bdi.dev = dev;
  deviceAdd(dev);
}

/* bdi_unregister() */
export function bdiUnregister(bdi: BackingDevInfo): MaybeWait<void> {
  const dev = bdi.dev;
  bdi.dev = null;
  return dev ? deviceDel(dev) : undefined;
}
