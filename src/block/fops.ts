/*
 * block/fops.c: /dev/<disk> opened as a file. Served by the mount as a
 * regular file (like /dev/vhost-vdpa-N) whose size is the disk's capacity;
 * reads and writes at any offset become requests on the disk's queue.
 *
 * There is no page cache: an access that does not cover whole sectors
 * reads the partial sectors first and writes them back whole (what the
 * page cache does for a buffered block-device write). A request carries at
 * most what the queue limits allow (max_sectors, and max_segments of
 * max_segment_size), so a 128 KiB FUSE read is one virtio request.
 */
import { Completion, MaybeWait } from '../kernel/completion';
import { fail } from '../kernel/errno';
import type { OpenFile, OpenFlags } from '../fs/kernfs';
import { BlkStatus, blkExecuteRq, blkMqAllocRequest, maxRequestBytes, ReqOp, SECTOR_SHIFT, SECTOR_SIZE } from './blk-mq';
import type { Gendisk } from './genhd';

/* Wait for every request: 'ok' when all were, else the first other status. */
function allDone(done: Array<Completion<BlkStatus>>): Completion<BlkStatus> {
  const c = new Completion<BlkStatus>();
  let left = done.length;
  let result: BlkStatus = 'ok';
  if (left === 0) c.complete('ok');
  for (const d of done) {
    d.then((status) => {
      if (status !== 'ok' && result === 'ok') result = status;
      if (--left === 0) c.complete(result);
    });
  }
  return c;
}

/* submit_bio() split to the queue limits: one request per chunk of `data`. */
function submitSectors(disk: Gendisk, op: ReqOp, sector: number, data: Buffer): Completion<BlkStatus> {
  const chunk = maxRequestBytes(disk.queue.limits);
  const done: Array<Completion<BlkStatus>> = [];
  for (let off = 0; off < data.length; off += chunk) {
    const part = data.subarray(off, Math.min(data.length, off + chunk));
    done.push(blkExecuteRq(disk.queue, blkMqAllocRequest(op, sector + (off >> SECTOR_SHIFT), part)));
  }
  return allDone(done);
}

/* blk_status_to_errno() for what reaches a file: any failure is EIO. */
function expectOk(status: BlkStatus): void {
  if (status !== 'ok') fail('EIO');
}

function capacityBytes(disk: Gendisk): number {
  return disk.capacity << SECTOR_SHIFT;
}

/* blkdev_read_iter(): EOF at the capacity. */
function blkdevRead(disk: Gendisk, dst: Buffer, pos: number): MaybeWait<number> {
  if (!disk.live) fail('EIO');
  const size = capacityBytes(disk);
  if (pos >= size || dst.length === 0) return 0;
  const len = Math.min(dst.length, size - pos);
  const s0 = Math.floor(pos / SECTOR_SIZE);
  const s1 = Math.ceil((pos + len) / SECTOR_SIZE);
  const buf = Buffer.alloc((s1 - s0) * SECTOR_SIZE);
  return submitSectors(disk, 'read', s0, buf).then((status) => {
    expectOk(status);
    return buf.copy(dst, 0, pos - s0 * SECTOR_SIZE, pos - s0 * SECTOR_SIZE + len);
  });
}

/* blkdev_write_iter(): ENOSPC at or past the end, short at the end. */
function blkdevWrite(disk: Gendisk, src: Buffer, pos: number): MaybeWait<number> {
  if (!disk.live) fail('EIO');
  if (disk.readOnly) fail('EPERM');
  const size = capacityBytes(disk);
  if (pos >= size) fail('ENOSPC');
  if (src.length === 0) return 0;
  const len = Math.min(src.length, size - pos);
  /* The caller's buffer is only lent for this call. */
  const data = Buffer.from(src.subarray(0, len));
  const s0 = Math.floor(pos / SECTOR_SIZE);
  const s1 = Math.ceil((pos + len) / SECTOR_SIZE);
  const whole = Buffer.alloc((s1 - s0) * SECTOR_SIZE);
  const head = pos % SECTOR_SIZE !== 0;
  const tail = (pos + len) % SECTOR_SIZE !== 0;
  const reads: Array<Completion<BlkStatus>> = [];
  if (head) reads.push(submitSectors(disk, 'read', s0, whole.subarray(0, SECTOR_SIZE)));
  if (tail && !(head && s1 - s0 === 1)) reads.push(submitSectors(disk, 'read', s1 - 1, whole.subarray(whole.length - SECTOR_SIZE)));
  return allDone(reads)
    .then((status) => {
      expectOk(status);
      data.copy(whole, pos - s0 * SECTOR_SIZE);
      return submitSectors(disk, 'write', s0, whole);
    })
    .then((status) => {
      expectOk(status);
      return len;
    });
}

/* blkdev_open(): ENXIO once the disk is gone; an open file pins the driver's module. */
export function blkdevOpen(disk: Gendisk, flags: OpenFlags): OpenFile {
  if (!disk.live) fail('ENXIO');
  if (flags.write && disk.readOnly) fail('EACCES');
  const k = disk.kernel;
  if (disk.owner) k.modules.moduleGet(disk.owner);
  let released = false;
  return {
    read: (dst, pos) => blkdevRead(disk, dst, pos),
    write: (src, pos) => blkdevWrite(disk, src, pos),
    /* O_TRUNC on a block device does nothing. */
    truncate: () => {},
    release: () => {
      if (released) return;
      released = true;
      if (disk.owner) k.modules.modulePut(disk.owner);
    },
  };
}
