/*
 * block/genhd.c: gendisks, block majors, and what add_disk() makes of a
 * disk in sysfs and devtmpfs.
 *
 * device_add_disk() adds the disk device (class `block`, type "disk",
 * MAJ:MIN from the driver) with its KOBJ_ADD held back, links
 * /sys/block/<name>, makes holders/, slaves/ and queue/, registers the
 * bdi, and only then announces the disk. del_gendisk() undoes it in the
 * kernel's order: the bdi first, then the disk device.
 *
 * No partition table is scanned: the simulated disks start zeroed and no
 * partition devices are made.
 */
import createDebug from 'debug';
import { after, MaybeWait } from '../kernel/completion';
import { fail } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';
import { KernfsNode } from '../fs/kernfs';
import { attr, roAttr } from '../fs/sysfs';
import { Device, deviceAdd, deviceDel, kobjectUevent } from '../drivers/base/core';
import { classGet, DeviceClass } from '../drivers/base/class';
import { BackingDevInfo, bdiRegister, bdiUnregister } from '../mm/backing-dev';
import { blkQueueDying, Request, RequestQueue, SECTOR_SHIFT } from './blk-mq';
import { blkRegisterQueue, blkUnregisterQueue } from './blk-sysfs';
import { elevatorInitMq } from './elevator';
import { blkTraceGroup } from './blktrace';
import { blkIntegrityGroup } from './blk-integrity';
import { BackingDevInfo as Bdi, VM_READAHEAD_PAGES } from '../mm/backing-dev';
import { blkdevOpen } from './fops';

const trace = createDebug('vdpafs:block');

/* DISK_MAX_PARTS */
export const DISK_MAX_PARTS = 256;

/* Per-direction I/O counters (struct disk_stats). */
export interface DiskStats {
  /* Indexed by STAT_READ 0, STAT_WRITE 1, STAT_DISCARD 2, STAT_FLUSH 3. */
  ios: number[];
  sectors: number[];
}

export class Gendisk {
  major = 0;
  firstMinor = 0;
  minors = 1;
  diskName = '';
  /* Capacity in 512-byte sectors. */
  capacity = 0;
  readOnly = false;
  diskseq = 0;
  privateData: unknown = null;
  /* The module whose open files pin it (block_device_operations.owner). */
  owner: string | null = null;
  readonly bdi = new BackingDevInfo();
  readonly stats: DiskStats = { ios: [0, 0, 0, 0], sectors: [0, 0, 0, 0] };
  /* disk_to_dev(): the class `block` device. */
  dev: Device | null = null;
  live = false;

  constructor(
    readonly kernel: Kernel,
    readonly queue: RequestQueue,
  ) {}
}

interface BlockGlobals {
  cls: DeviceClass;
  /* major_names[]: major -> name */
  majors: Map<number, string>;
  diskseq: number;
}

function blockGlobals(k: Kernel): BlockGlobals {
  return k.global<BlockGlobals>('block', () => ({
    cls: classGet(k, 'block', { devUevent: (dev) => [['DISKSEQ', String((dev.drvdata as Gendisk).diskseq)]] }),
    majors: new Map(),
    diskseq: 0,
  }));
}

/*
 * __register_blkdev(0, name): the highest free major below 255 (the
 * major_names hash size), or the one asked for; EBUSY when taken.
 */
export function registerBlkdev(k: Kernel, major: number, name: string): number {
  const g = blockGlobals(k);
  if (major === 0) {
    for (let m = 254; m > 0; m--) {
      if (!g.majors.has(m)) {
        major = m;
        break;
      }
    }
    if (major === 0) {
      k.log.kmsg('warn', `__register_blkdev: failed to get major for ${name}`);
      fail('EBUSY');
    }
  } else if (g.majors.has(major)) {
    k.log.kmsg('warn', `register_blkdev: cannot get major ${major} for ${name}`);
    fail('EBUSY');
  }
  g.majors.set(major, name);
  return major;
}

export function unregisterBlkdev(k: Kernel, major: number, name: string): void {
  const g = blockGlobals(k);
  if (g.majors.get(major) === name) g.majors.delete(major);
}

/* __alloc_disk_node(): a disk for this queue, with the next diskseq. */
export function blkMqAllocDisk(k: Kernel, queue: RequestQueue): Gendisk {
  const disk = new Gendisk(k, queue);
  disk.diskseq = ++blockGlobals(k).diskseq;
  return disk;
}

/* Account a finished request in the disk's `stat` (part_stat_add). */
export function diskAccount(disk: Gendisk, rq: Request): void {
  const idx = rq.op === 'read' ? 0 : rq.op === 'write' ? 1 : rq.op === 'flush' ? 3 : -1;
  if (idx < 0) return;
  disk.stats.ios[idx]++;
  disk.stats.sectors[idx] += rq.data.length >> SECTOR_SHIFT;
}

/* part_stat_show(): the 17 columns of /sys/block/<disk>/stat. */
function statShow(disk: Gendisk): string {
  const s = disk.stats;
  const w = (n: number) => String(n).padStart(8);
  const inflight = disk.queue.inflight.read + disk.queue.inflight.write;
  return (
    [s.ios[0], 0, s.sectors[0], 0, s.ios[1], 0, s.sectors[1], 0, inflight, 0, 0, s.ios[2], 0, s.sectors[2], 0, s.ios[3], 0].map(w).join(' ') +
    '\n'
  );
}

/* disk_attrs */
function diskAttrs(disk: Gendisk): KernfsNode[] {
  const dec = (n: number) => `${n}\n`;
  return [
    roAttr('range', () => dec(disk.minors)),
    roAttr('ext_range', () => dec(disk.minors > 1 ? DISK_MAX_PARTS : 1)),
    roAttr('removable', '0\n'),
    roAttr('hidden', '0\n'),
    roAttr('ro', () => dec(disk.readOnly ? 1 : 0)),
    roAttr('size', () => dec(disk.capacity)),
    roAttr('alignment_offset', () => dec(disk.queue.limits.alignmentOffset)),
    roAttr('discard_alignment', () => dec(disk.queue.limits.alignmentOffset)),
    roAttr('capability', () => {
      /* disk_capability_show(): dev_warn_once() */
      if (!capabilityWarned.has(disk)) {
        capabilityWarned.add(disk);
        disk.kernel.log.kmsg('warn', `block ${disk.diskName}: the capability attribute has been deprecated.`);
      }
      return '0\n';
    }),
    roAttr('stat', () => statShow(disk)),
    roAttr('inflight', () => `${String(disk.queue.inflight.read).padStart(8)} ${String(disk.queue.inflight.write).padStart(8)}\n`),
    /* disk-events.c: no check_events (virtio_blk), so no events and no polling. */
    roAttr('events', ''),
    roAttr('events_async', ''),
    attr('events_poll_msecs', {
      show: () => '-1\n',
      /* sscanf("%ld") must find a number, -1 or >= 0; then ENODEV without disk->ev. */
      store: (buf) => {
        const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(buf.toString('latin1'));
        if (!m) fail('EINVAL');
        const v = BigInt(m[1]);
        if (v < 0n && v !== -1n) fail('EINVAL');
        fail('ENODEV');
      },
    }),
    roAttr('diskseq', () => dec(disk.diskseq)),
    roAttr('partscan', () => dec(disk.minors > 1 ? 1 : 0)),
    blkTraceGroup(disk),
    blkIntegrityGroup(disk),
  ];
}

/* blk_apply_bdi_limits(): read ahead at least twice the optimal I/O size, 128 KiB at least. */
function blkApplyBdiLimits(bdi: Bdi, disk: Gendisk): void {
  bdi.raPages = BigInt(Math.max(Math.floor((disk.queue.limits.ioOpt * 2) / 4096), VM_READAHEAD_PAGES));
}
const capabilityWarned = new WeakSet<Gendisk>();

/*
 * device_add_disk(parent, disk, groups): see the file comment. The driver's
 * attribute groups (virtio_blk's serial, cache_type) go into the disk's
 * directory.
 */
export function deviceAddDisk(parent: Device, disk: Gendisk, groups: Array<(disk: Gendisk) => KernfsNode[]> = []): void {
  const k = disk.kernel;
  const g = blockGlobals(k);
  elevatorInitMq(disk.queue);
  blkApplyBdiLimits(disk.bdi, disk);
  const dev = new Device(k, disk.diskName);
  dev.parent = parent;
  dev.class = g.cls;
  dev.devtype = 'disk';
  dev.isBlock = true;
  dev.devt = { major: disk.major, minor: disk.firstMinor };
  dev.drvdata = disk;
  dev.devnode = { open: (flags) => blkdevOpen(disk, flags), size: () => (disk.live ? disk.capacity << SECTOR_SHIFT : 0) };
  dev.groups.push(() => diskAttrs(disk));
  for (const group of groups) dev.groups.push(() => group(disk));
  /* delay uevents, until we scanned partition table */
  dev.ueventSuppress = true;
  disk.dev = dev;
  deviceAdd(dev);
  const dir = dev.kobj!;
  k.sysfs.block.symlink(disk.diskName, dir);
  dir.mkdir('holders');
  dir.mkdir('slaves');
  blkRegisterQueue(disk);
  bdiRegister(k, disk.bdi, `${disk.major}:${disk.firstMinor}`);
  dir.symlink('bdi', disk.bdi.dev!.kobj!);
  disk.live = true;
  /* Announce the disk after all partitions are created. */
  dev.ueventSuppress = false;
  kobjectUevent(dev, 'add');
  trace('add disk %s %d:%d, %d sectors', disk.diskName, disk.major, disk.firstMinor, disk.capacity);
}

/*
 * del_gendisk(): new I/O fails, the bdi goes (before the device numbers
 * can be reused), then queue/, holders/, slaves/, the /sys/block link and
 * the disk device.
 */
export function delGendisk(disk: Gendisk): MaybeWait<void> {
  const dev = disk.dev!;
  disk.live = false;
  blkQueueDying(disk.queue);
  const dir = dev.kobj!;
  dir.remove('bdi');
  return after(bdiUnregister(disk.bdi), () => {
    blkUnregisterQueue(disk);
    dir.remove('holders');
    dir.remove('slaves');
    disk.kernel.sysfs.block.remove(disk.diskName);
    return deviceDel(dev);
  });
}

/*
 * set_capacity_and_notify(): silent while the disk is not live (probe);
 * afterwards the kernel's line, and a KOBJ_CHANGE with RESIZE=1 unless the
 * size goes to or from zero.
 */
export function setCapacityAndNotify(disk: Gendisk, sectors: number): boolean {
  const capacity = disk.capacity;
  disk.capacity = sectors;
  if (sectors === capacity || !disk.live) return false;
  disk.kernel.log.kmsg('info', `${disk.diskName}: detected capacity change from ${capacity} to ${sectors}`);
  if (!capacity || !sectors) return false;
  kobjectUevent(disk.dev!, 'change', [['RESIZE', '1']]);
  return true;
}
