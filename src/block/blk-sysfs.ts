/*
 * block/blk-sysfs.c: the disk's queue/ directory, shown from the queue
 * limits the driver set (virtio_blk: virtblk_read_limits()).
 */
import { fail } from '../kernel/errno';
import { attr, roAttr, storeString } from '../fs/sysfs';
import type { Gendisk } from './genhd';
import { SECTOR_SHIFT } from './blk-mq';

/* blk_register_queue(): queue/ under the disk (a kobject with no uevent of its own). */
export function blkRegisterQueue(disk: Gendisk): void {
  const l = disk.queue.limits;
  const dir = disk.dev!.kobj!.mkdir('queue');
  const dec = (n: number | bigint) => `${n}\n`;
  const ro = (name: string, show: () => string) => dir.add(roAttr(name, show));
  ro('logical_block_size', () => dec(l.logicalBlockSize));
  ro('physical_block_size', () => dec(l.physicalBlockSize));
  ro('hw_sector_size', () => dec(l.logicalBlockSize));
  ro('minimum_io_size', () => dec(l.ioMin));
  ro('optimal_io_size', () => dec(l.ioOpt));
  ro('max_hw_sectors_kb', () => dec(Math.floor(l.maxHwSectors / 2)));
  ro('max_segments', () => dec(l.maxSegments));
  ro('max_segment_size', () => dec(l.maxSegmentSize));
  ro('max_discard_segments', () => dec(l.maxDiscardSegments));
  ro('discard_granularity', () => dec(l.discardGranularity));
  ro('discard_max_hw_bytes', () => dec(BigInt(l.maxHwDiscardSectors) << BigInt(SECTOR_SHIFT)));
  ro('write_zeroes_max_bytes', () => dec(BigInt(l.maxWriteZeroesSectors) << BigInt(SECTOR_SHIFT)));
  ro('write_same_max_bytes', () => '0\n');
  ro('discard_zeroes_data', () => '0\n');
  ro('dma_alignment', () => dec(l.logicalBlockSize - 1));
  ro('fua', () => '0\n');
  ro('dax', () => '0\n');
  ro('zoned', () => 'none\n');
  ro('nr_zones', () => '0\n');
  ro('chunk_sectors', () => '0\n');
  ro('stable_writes', () => '0\n');
  ro('max_integrity_segments', () => '0\n');
  ro('zone_append_max_bytes', () => '0\n');
  ro('zone_write_granularity', () => '0\n');
  /* queue_max_sectors_store(): between a page and max_hw_sectors_kb. */
  dir.add(
    attr('max_sectors_kb', {
      show: () => dec(Math.floor(l.maxSectors / 2)),
      store: (buf) => {
        const kb = Number(storeString(buf).trim());
        if (!Number.isInteger(kb) || kb < 4 || kb > Math.floor(l.maxHwSectors / 2)) fail('EINVAL');
        l.maxSectors = kb * 2;
        return buf.length;
      },
    }),
  );
  dir.add(
    attr('discard_max_bytes', {
      show: () => dec(BigInt(l.maxHwDiscardSectors) << BigInt(SECTOR_SHIFT)),
      store: (buf) => buf.length,
    }),
  );
  dir.add(
    attr('rotational', {
      show: () => dec(l.rotational ? 1 : 0),
      store: (buf) => {
        l.rotational = storeString(buf).trim() !== '0';
        return buf.length;
      },
    }),
  );
  dir.add(
    attr('read_ahead_kb', {
      show: () => dec(disk.bdi.readAheadKb),
      store: (buf) => {
        const v = Number(storeString(buf).trim());
        if (!Number.isInteger(v) || v < 0) fail('EINVAL');
        disk.bdi.readAheadKb = v;
        return buf.length;
      },
    }),
  );
  /* elv_iosched_show(): the elevators known, the current one in brackets. */
  const elevators = ['none', 'mq-deadline'];
  let elevator = 'none';
  dir.add(
    attr('scheduler', {
      show: () => `${elevators.map((e) => (e === elevator ? `[${e}]` : e)).join(' ')}\n`,
      store: (buf) => {
        const want = storeString(buf).trim();
        if (!elevators.includes(want)) fail('EINVAL');
        elevator = want;
        return buf.length;
      },
    }),
  );
  /* queue_wc_show(): "write back" when the device has a volatile cache (virtio FLUSH). */
  dir.add(attr('write_cache', { show: () => (l.writeCache ? 'write back\n' : 'write through\n'), store: (buf) => buf.length }));
  for (const [name, value] of [
    ['nr_requests', '128'],
    ['nomerges', '0'],
    ['rq_affinity', '1'],
    ['iostats', '1'],
    ['add_random', '0'],
    ['io_poll', '0'],
    ['io_poll_delay', '-1'],
    ['io_timeout', '30000'],
  ] as const) {
    let v: string = value;
    dir.add(
      attr(name, {
        show: () => `${v}\n`,
        store: (buf) => {
          v = storeString(buf).replace(/\n$/, '');
          return buf.length;
        },
      }),
    );
  }
}
