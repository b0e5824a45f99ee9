/*
 * block/blk-sysfs.c: the disk's queue/ directory of 6.12, shown from the
 * queue limits the driver set (virtio_blk: virtblk_read_limits()).
 *
 * Writable entries parse as the kernel does: queue_var_store() is
 * kstrtoul base 10 with every failure, and anything above UINT_MAX, turned
 * into EINVAL; io_poll refuses without BLK_FEAT_POLL; io_poll_delay takes
 * anything and ignores it; write_cache matches "write back", "write
 * through" or "none" by prefix. Limits go through queue_limits_commit_update()
 * (blk_validate_limits()), so max_sectors_kb below a page is EINVAL and
 * above the hardware's is clamped. Attributes a queue does not have are
 * absent: io_timeout (virtio_blk has no mq_ops->timeout), max_open_zones
 * and max_active_zones (not zoned). The kobject sends no uevent.
 */
import { fail } from '../kernel/errno';
import { KernDir } from '../fs/kernfs';
import { attr, roAttr, storeString } from '../fs/sysfs';
import { kstrtoll, kstrtou32, kstrtoul } from '../lib/kstrtox';
import type { Gendisk } from './genhd';
import { blkQueueWriteCache, queueLimitsCommitUpdate, RequestQueue, SECTOR_SHIFT } from './blk-mq';
import { BLKDEV_MIN_RQ, blkMqUpdateNrRequests, elvIoschedShow, elvIoschedStore, elvRegisterQueue, elvUnregisterQueue } from './elevator';
import { blkMqSysfsRegister, blkMqSysfsUnregister } from './blk-mq-sysfs';

const UINT_MAX = 0xffff_ffffn;

/* queue_var_store(): kstrtoul(page, 10), EINVAL for any failure or above UINT_MAX. */
function queueVarStore(buf: Buffer): number {
  let v: bigint;
  try {
    v = kstrtoul(buf, 10);
  } catch {
    fail('EINVAL');
  }
  if (v > UINT_MAX) fail('EINVAL');
  return Number(v);
}

/* wbt_default_latency_nsec(): 2 ms for non-rotational storage, 75 ms for rotational. */
function wbtDefaultLatencyNsec(q: RequestQueue): bigint {
  return q.limits.features.rotational ? 75_000_000n : 2_000_000n;
}

/* wbt_enable_default() at registration: blk-mq queues get writeback throttling. */
function wbtEnableDefault(q: RequestQueue): void {
  q.wbt ??= { minLatNsec: wbtDefaultLatencyNsec(q), state: 'on_default' };
}

/* blk_register_queue(): queue/ (attributes, then mq/ under the disk, then iosched/). */
export function blkRegisterQueue(disk: Gendisk): void {
  const q = disk.queue;
  const dir = disk.dev!.kobj!.mkdir('queue');
  for (const node of queueAttrs(disk, dir)) dir.add(node);
  blkMqSysfsRegister(disk);
  elvRegisterQueue(q, dir);
  q.registered = true;
  wbtEnableDefault(q);
}

/* blk_unregister_queue(): mq/, iosched/, then queue/. */
export function blkUnregisterQueue(disk: Gendisk): void {
  const q = disk.queue;
  q.registered = false;
  blkMqSysfsUnregister(disk);
  elvUnregisterQueue(q);
  disk.dev!.kobj!.remove('queue');
}

/* queue_attrs and blk_mq_queue_attrs, as queue_attr_visible() lets them through. */
function queueAttrs(disk: Gendisk, dir: KernDir) {
  const q = disk.queue;
  const l = q.limits;
  const dec = (n: number | bigint) => `${n}\n`;
  const bytes = (sectors: number) => dec(BigInt(sectors) << BigInt(SECTOR_SHIFT));
  const ro = (name: string, show: () => string) => roAttr(name, show);
  const rw = (name: string, show: () => string, store: (buf: Buffer) => number) => attr(name, { show, store });
  /* queue_feature_store(): a number, non-zero sets the feature. */
  const feature = (name: string, key: 'rotational' | 'ioStat' | 'addRandom' | 'stableWrites') =>
    rw(
      name,
      () => dec(l.features[key] ? 1 : 0),
      (buf) => {
        const v = queueVarStore(buf);
        queueLimitsCommitUpdate(q, (nl) => (nl.features[key] = v !== 0));
        return buf.length;
      },
    );
  return [
    rw(
      'read_ahead_kb',
      () => dec(BigInt.asUintN(64, disk.bdi.raPages << 2n)),
      (buf) => {
        disk.bdi.raPages = BigInt(queueVarStore(buf) >>> 2);
        return buf.length;
      },
    ),
    ro('max_hw_sectors_kb', () => dec(Math.floor(l.maxHwSectors / 2))),
    rw(
      'max_sectors_kb',
      () => dec(Math.floor(l.maxSectors / 2)),
      /* max_user_sectors is an unsigned int: kb << 1 wraps, and 0 means "the default". */
      (buf) => {
        const kb = queueVarStore(buf);
        queueLimitsCommitUpdate(q, (nl) => (nl.maxUserSectors = (kb * 2) >>> 0));
        return buf.length;
      },
    ),
    ro('max_segments', () => dec(l.maxSegments)),
    ro('max_discard_segments', () => dec(l.maxDiscardSegments)),
    ro('max_integrity_segments', () => '0\n'),
    ro('max_segment_size', () => dec(l.maxSegmentSize)),
    ro('hw_sector_size', () => dec(l.logicalBlockSize)),
    ro('logical_block_size', () => dec(l.logicalBlockSize)),
    ro('physical_block_size', () => dec(l.physicalBlockSize)),
    ro('chunk_sectors', () => '0\n'),
    ro('minimum_io_size', () => dec(l.ioMin)),
    ro('optimal_io_size', () => dec(l.ioOpt)),
    ro('discard_granularity', () => dec(l.discardGranularity)),
    rw(
      'discard_max_bytes',
      () => bytes(l.maxDiscardSectors),
      /* queue_max_discard_sectors_store(): a multiple of the granularity. */
      (buf) => {
        const v = queueVarStore(buf);
        if (v & (l.discardGranularity - 1)) fail('EINVAL');
        queueLimitsCommitUpdate(q, (nl) => (nl.maxUserDiscardSectors = Math.floor(v / 512)));
        return buf.length;
      },
    ),
    ro('discard_max_hw_bytes', () => bytes(l.maxHwDiscardSectors)),
    ro('discard_zeroes_data', () => '0\n'),
    ro('atomic_write_max_bytes', () => '0\n'),
    ro('atomic_write_boundary_bytes', () => '0\n'),
    ro('atomic_write_unit_min_bytes', () => '0\n'),
    ro('atomic_write_unit_max_bytes', () => '0\n'),
    ro('write_same_max_bytes', () => '0\n'),
    ro('write_zeroes_max_bytes', () => bytes(l.maxWriteZeroesSectors)),
    ro('zone_append_max_bytes', () => '0\n'),
    ro('zone_write_granularity', () => '0\n'),
    feature('rotational', 'rotational'),
    ro('zoned', () => 'none\n'),
    ro('nr_zones', () => '0\n'),
    rw(
      'nomerges',
      () => dec((q.flags.noMerges ? 2 : 0) | (q.flags.noxMerges ? 1 : 0)),
      (buf) => {
        const nm = queueVarStore(buf);
        q.flags.noMerges = nm === 2;
        q.flags.noxMerges = nm !== 0 && nm !== 2;
        return buf.length;
      },
    ),
    feature('iostats', 'ioStat'),
    feature('stable_writes', 'stableWrites'),
    feature('add_random', 'addRandom'),
    rw(
      'io_poll',
      /* blk_mq_can_poll(): BLK_FEAT_POLL and poll queues (virtio_blk's poll_queues, 0 here). */
      () => '0\n',
      (buf) => {
        if (!l.features.poll) fail('EINVAL');
        disk.kernel.log.kmsg('info', 'writes to the poll attribute are ignored.');
        disk.kernel.log.kmsg('info', 'please use driver specific parameters instead.');
        return buf.length;
      },
    ),
    rw(
      'write_cache',
      () => (blkQueueWriteCache(q) ? 'write back\n' : 'write through\n'),
      (buf) => {
        const s = storeString(buf);
        let disable: boolean;
        if (s.startsWith('write back')) disable = false;
        else if (s.startsWith('write through') || s.startsWith('none')) disable = true;
        else fail('EINVAL');
        queueLimitsCommitUpdate(q, (nl) => (nl.writeCacheDisabled = disable));
        return buf.length;
      },
    ),
    ro('fua', () => dec(l.features.fua ? 1 : 0)),
    ro('dax', () => dec(l.features.dax ? 1 : 0)),
    /* Deprecated: shows -1 and takes anything. */
    rw('io_poll_delay', () => '-1\n', (buf) => buf.length),
    ro('virt_boundary_mask', () => '0\n'),
    ro('dma_alignment', () => dec(l.dmaAlignment)),
    /* blk_mq_queue_attrs */
    rw(
      'nr_requests',
      () => dec(q.nrRequests),
      (buf) => {
        const nr = Math.max(queueVarStore(buf), BLKDEV_MIN_RQ);
        blkMqUpdateNrRequests(q, nr);
        return buf.length;
      },
    ),
    rw('scheduler', () => elvIoschedShow(q), (buf) => elvIoschedStore(q, dir, buf)),
    rw(
      'rq_affinity',
      () => dec(q.flags.sameComp ? (q.flags.sameForce ? 2 : 1) : 0),
      /* queue_rq_affinity_store(): 0, 1 or 2; any other number is accepted and changes nothing. */
      (buf) => {
        const v = queueVarStore(buf);
        if (v === 2) q.flags = { ...q.flags, sameComp: true, sameForce: true };
        else if (v === 1) q.flags = { ...q.flags, sameComp: true, sameForce: false };
        else if (v === 0) q.flags = { ...q.flags, sameComp: false, sameForce: false };
        return buf.length;
      },
    ),
    ...(q.tagSet.hasTimeout ? [ioTimeoutAttr()] : []),
    rw(
      'wbt_lat_usec',
      () => {
        if (!q.wbt) fail('EINVAL');
        return q.wbt.state === 'off_manual' ? '0\n' : dec(q.wbt.minLatNsec / 1000n);
      },
      /* queue_wb_lat_store(): kstrtos64 base 10; -1 is the default, 0 turns it off, below -1 EINVAL. */
      (buf) => {
        const v = kstrtoll(buf, 10);
        if (v < -1n) fail('EINVAL');
        const ns = v === -1n ? wbtDefaultLatencyNsec(q) : v * 1000n;
        wbtEnableDefault(q);
        if (q.wbt!.minLatNsec === ns) return buf.length;
        q.wbt = { minLatNsec: ns, state: ns ? 'on_manual' : 'off_manual' };
        return buf.length;
      },
    ),
  ];

  /* queue_io_timeout_store(): kstrtou32 base 10, 0 refused. Only for drivers with a timeout handler. */
  function ioTimeoutAttr() {
    let ms = 30_000;
    return attr('io_timeout', {
      show: () => dec(ms),
      store: (buf) => {
        let v: number;
        try {
          v = kstrtou32(buf, 10);
        } catch {
          fail('EINVAL');
        }
        if (v === 0) fail('EINVAL');
        ms = v;
        return buf.length;
      },
    });
  }
}
