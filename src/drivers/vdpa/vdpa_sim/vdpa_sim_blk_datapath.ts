/*
 * vdpasim_blk_work() and vdpasim_blk_handle_req(): virtio-blk requests on a
 * ramdisk.
 *
 * A request is a chain: a 16-byte struct virtio_blk_outhdr {le32 type;
 * le32 ioprio; le64 sector} and, for OUT, the data (device-readable); then,
 * for IN and GET_ID, room for the data, and one status byte last
 * (device-writable). The used length is what the device wrote, status
 * included.
 *
 * The disk is sparse: 64 KiB chunks allocated on the first write that
 * touches them; a read of a hole gives zeros. So a 128 MiB device costs
 * memory only for what was written (WRITE_ZEROES of a whole chunk frees it).
 *
 * Where the kernel is unsafe the model is careful and says so: a request
 * reaching past the capacity (by sectors, or by a byte count that is not a
 * whole number of sectors) is IOERR instead of touching memory past the
 * buffer. A malformed ring or a fault on guest memory stops the queue
 * (sim.vqError) instead of answering IOERR.
 */
import type { Vdpasim } from './vdpa_sim';
import { MemoryFault } from '../../../mm/guest_memory';
import { DescriptorChain, Vring, VringError } from '../../vhost/vringh';
import {
  VIRTIO_BLK_DWZ,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_OUTHDR,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
} from '../../../include/uapi/virtio_blk';

const SECTOR_SHIFT = 9;
const SECTOR_SIZE = 512;
/* VDPASIM_BLK_SIZE_MAX * VDPASIM_BLK_SEG_MAX, compared with a sector count as the kernel does. */
const VDPASIM_BLK_RW_MAX_SECTORS = 0x1000 * 32;
const VDPASIM_BLK_DWZ_MAX_SECTORS = 0xffffffff;
/* vdpasim_blk_work(): "if (++reqs > 4)" reschedule. */
const VDPASIM_BLK_BUDGET = 5;

const VDPASIM_BLK_ID = (() => {
  const id = Buffer.alloc(VIRTIO_BLK_ID_BYTES);
  id.write('vdpa_blk_sim', 'latin1');
  return id;
})();

export const RAMDISK_CHUNK = 64 * 1024;
const ZEROES = Buffer.alloc(RAMDISK_CHUNK);

/* The ramdisk: capacity bytes in lazily allocated 64 KiB chunks. */
export class VdpasimBlkState {
  private readonly chunks: Array<Buffer | undefined>;
  readonly capacitySectors: number;
  private readonly hdr = Buffer.alloc(VIRTIO_BLK_OUTHDR.SIZE);
  private readonly status = Buffer.alloc(1);
  private chain: DescriptorChain | null = null;

  constructor(readonly capacityBytes: number) {
    this.chunks = new Array<Buffer | undefined>(Math.ceil(capacityBytes / RAMDISK_CHUNK));
    this.capacitySectors = Math.floor(capacityBytes / SECTOR_SIZE);
  }

  /* Bytes of memory the disk holds (allocated chunks). */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c !== undefined) n += c.length;
    return n;
  }

  /*
   * Copy disk bytes [off, off+len) into the chain's writable descriptors
   * (holes read as zeros); returns the count. Descriptors that are
   * contiguous in guest memory are copied as one piece: a driver honouring
   * size_max splits a 128 KiB transfer into 32 descriptors of 4 KiB, and a
   * copy per descriptor would cost more than the data.
   */
  pushTo(c: DescriptorChain, off: number, len: number): number {
    return guestRuns(c, c.readable, c.count, 0, len, 'w', (buf, boff, pos, n) => {
      for (let done = 0; done < n; ) {
        const at = off + pos + done;
        const i = Math.floor(at / RAMDISK_CHUNK);
        const o = at - i * RAMDISK_CHUNK;
        const k = Math.min(RAMDISK_CHUNK - o, n - done);
        copyBytes(this.chunks[i] ?? ZEROES, o, buf, boff + done, k);
        done += k;
      }
    });
  }

  /* Fill disk bytes [off, off+len) from the chain's readable descriptors, after `skip` header bytes. */
  pullFrom(c: DescriptorChain, skip: number, off: number, len: number): number {
    return guestRuns(c, 0, c.readable, skip, len, 'r', (buf, boff, pos, n) => {
      for (let done = 0; done < n; ) {
        const at = off + pos + done;
        const i = Math.floor(at / RAMDISK_CHUNK);
        const o = at - i * RAMDISK_CHUNK;
        const k = Math.min(RAMDISK_CHUNK - o, n - done);
        copyBytes(buf, boff + done, this.chunkForWrite(i), o, k);
        done += k;
      }
    });
  }

  zero(off: number, len: number): void {
    const end = off + len;
    for (let pos = off; pos < end; ) {
      const i = Math.floor(pos / RAMDISK_CHUNK);
      const o = pos - i * RAMDISK_CHUNK;
      const n = Math.min(RAMDISK_CHUNK - o, end - pos);
      if (n === RAMDISK_CHUNK) this.chunks[i] = undefined;
      else this.chunks[i]?.fill(0, o, o + n);
      pos += n;
    }
  }

  /* Plain access for tests and tools: read/write the disk as bytes. */
  read(off: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    for (let done = 0; done < len; ) {
      const pos = off + done;
      const i = Math.floor(pos / RAMDISK_CHUNK);
      const o = pos - i * RAMDISK_CHUNK;
      const n = Math.min(RAMDISK_CHUNK - o, len - done);
      this.chunks[i]?.copy(out, done, o, o + n);
      done += n;
    }
    return out;
  }

  write(off: number, data: Buffer): void {
    for (let done = 0; done < data.length; ) {
      const pos = off + done;
      const i = Math.floor(pos / RAMDISK_CHUNK);
      const o = pos - i * RAMDISK_CHUNK;
      const n = Math.min(RAMDISK_CHUNK - o, data.length - done);
      data.copy(this.chunkForWrite(i), o, done, done + n);
      done += n;
    }
  }

  private chunkForWrite(i: number): Buffer {
    let c = this.chunks[i];
    if (c === undefined) {
      const size = Math.min(RAMDISK_CHUNK, this.capacityBytes - i * RAMDISK_CHUNK);
      c = this.chunks[i] = Buffer.alloc(size);
    }
    return c;
  }

  /* vdpasim_blk_check_range(), made safe: the whole byte range must fit. */
  checkRange(sector: bigint, numSectors: number, maxSectors: number, bytes: number): boolean {
    if (numSectors > maxSectors) return false;
    const cap = BigInt(this.capacitySectors);
    if (sector > cap) return false;
    return BigInt(numSectors) <= cap - sector && sector * BigInt(SECTOR_SIZE) + BigInt(bytes) <= BigInt(this.capacityBytes);
  }

  /*
   * vdpasim_blk_handle_req(): take one request and complete it. Returns
   * false when there was nothing to take, or the request was too broken to
   * answer (completed with length 0): the work stops either way.
   */
  handleReq(vring: Vring): boolean {
    const c = vring.popDescriptorChain(this.chain ?? undefined);
    if (c === null) return false;
    this.chain = c;
    let pushed = 0;
    if (c.readable < 1 || c.writable < 1 || c.descriptor(c.count - 1).len < 1) {
      /* "missing headers" / "request in header too short" */
      vring.addUsed(c.head, 0);
      return false;
    }
    /* The last byte is the status; the rest of the writable part is for data. */
    const toPush = c.writableLength - 1;
    let toPull = c.readableLength;
    const hdr = this.hdr;
    if (c.readInto(hdr, 0, VIRTIO_BLK_OUTHDR.SIZE) !== VIRTIO_BLK_OUTHDR.SIZE) {
      vring.addUsed(c.head, 0);
      return false;
    }
    toPull -= VIRTIO_BLK_OUTHDR.SIZE;
    const type = hdr.readUInt32LE(VIRTIO_BLK_OUTHDR.TYPE);
    const sector = hdr.readBigUInt64LE(VIRTIO_BLK_OUTHDR.SECTOR);
    let status = VIRTIO_BLK_S_OK;

    if (type !== VIRTIO_BLK_T_IN && type !== VIRTIO_BLK_T_OUT && sector !== 0n) {
      status = VIRTIO_BLK_S_IOERR;
    } else {
      switch (type) {
        case VIRTIO_BLK_T_IN:
          if (!this.checkRange(sector, toPush >>> SECTOR_SHIFT, VDPASIM_BLK_RW_MAX_SECTORS, toPush)) {
            status = VIRTIO_BLK_S_IOERR;
            break;
          }
          pushed += c.skipWritable(this.pushTo(c, Number(sector) * SECTOR_SIZE, toPush));
          break;
        case VIRTIO_BLK_T_OUT:
          if (!this.checkRange(sector, toPull >>> SECTOR_SHIFT, VDPASIM_BLK_RW_MAX_SECTORS, toPull)) {
            status = VIRTIO_BLK_S_IOERR;
            break;
          }
          c.skipReadable(this.pullFrom(c, VIRTIO_BLK_OUTHDR.SIZE, Number(sector) * SECTOR_SIZE, toPull));
          break;
        case VIRTIO_BLK_T_GET_ID:
          pushed += c.writeFrom(VDPASIM_BLK_ID, 0, Math.min(VIRTIO_BLK_ID_BYTES, toPush));
          break;
        case VIRTIO_BLK_T_FLUSH:
          /* nothing to do */
          break;
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
          status = this.discardWriteZeroes(c, type, toPull);
          break;
        default:
          status = VIRTIO_BLK_S_IOERR;
      }
    }

    /* Skip what was not written, so the status lands in the last byte. */
    if (toPush > pushed) c.skipWritable(toPush - pushed);
    this.status[0] = status;
    pushed += c.writeFrom(this.status, 0, 1);
    vring.addUsed(c.head, pushed);
    return true;
  }

  private discardWriteZeroes(c: DescriptorChain, type: number, toPull: number): number {
    if (toPull !== VIRTIO_BLK_DWZ.SIZE) return VIRTIO_BLK_S_IOERR;
    const range = this.hdr;
    c.readInto(range, 0, VIRTIO_BLK_DWZ.SIZE);
    const sector = range.readBigUInt64LE(VIRTIO_BLK_DWZ.SECTOR);
    const numSectors = range.readUInt32LE(VIRTIO_BLK_DWZ.NUM_SECTORS);
    const flags = range.readUInt32LE(VIRTIO_BLK_DWZ.FLAGS);
    if (type === VIRTIO_BLK_T_DISCARD && flags !== 0) return VIRTIO_BLK_S_UNSUPP;
    if (type === VIRTIO_BLK_T_WRITE_ZEROES && flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) return VIRTIO_BLK_S_UNSUPP;
    if (!this.checkRange(sector, numSectors, VDPASIM_BLK_DWZ_MAX_SECTORS, numSectors * SECTOR_SIZE)) return VIRTIO_BLK_S_IOERR;
    /* DISCARD leaves the data as it is, as the sim does. */
    if (type === VIRTIO_BLK_T_WRITE_ZEROES) this.zero(Number(sector) * SECTOR_SIZE, numSectors * SECTOR_SIZE);
    return VIRTIO_BLK_S_OK;
  }
}

/* src[so, so+n) -> dst[do, do+n) without a view when both are one Buffer (copyWithin is a plain memmove). */
function copyBytes(src: Buffer, so: number, dst: Buffer, dOff: number, n: number): void {
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset) dst.copyWithin(dOff, so, so + n);
  else src.copy(dst, dOff, so, so + n);
}

/* The largest piece guestRuns() copies at once through copy-based memory. */
const RUN_BOUNCE = 128 * 1024;

/*
 * Visit len bytes of descriptors [first, end) of a chain, after skipping
 * `skip`, as maximal pieces of guest memory: adjacent descriptors whose
 * addresses follow each other are merged, then translated (and checked)
 * once. fn gets the backing Buffer, the offset in it, the position in the
 * transfer, and the length. Returns the bytes visited (less than len if the
 * descriptors run out). Faults come out as VringErrors.
 */
function guestRuns(
  c: DescriptorChain,
  first: number,
  end: number,
  skip: number,
  len: number,
  access: 'r' | 'w',
  fn: (buf: Buffer, off: number, pos: number, n: number) => void,
): number {
  const t = access === 'r' ? c.vring.tRead : c.vring.tWrite;
  let pos = 0;
  let i = first;
  while (pos < len && i < end) {
    /* Start a run at descriptor i (after the bytes still to skip). */
    let d = c.descriptor(i++);
    if (skip >= d.len) {
      skip -= d.len;
      continue;
    }
    let addr = d.addr + skip;
    let runLen = d.len - skip;
    skip = 0;
    while (i < end && runLen < len - pos) {
      d = c.descriptor(i);
      if (d.addr !== addr + runLen) break;
      runLen += d.len;
      i++;
    }
    if (runLen > len - pos) runLen = len - pos;
    while (runLen > 0) {
      c.vring.xlate(addr, runLen < RUN_BOUNCE ? runLen : RUN_BOUNCE, access, t);
      if (t.mm === null) fn(t.buf, t.off, pos, t.len);
      else {
        /* Copy-based memory (a client process's): through a bounce buffer, a piece at a time. */
        const b = c.vring.bounce(t.len);
        if (access === 'r') c.vring.mmRead(t.mm, t.uaddr, b, 0, t.len);
        fn(b, 0, pos, t.len);
        if (access === 'w') c.vring.mmWrite(t.mm, t.uaddr, b, 0, t.len);
      }
      pos += t.len;
      addr += t.len;
      runLen -= t.len;
    }
  }
  return pos;
}

export function vdpasimBlkWork(sim: Vdpasim): void {
  const blk = sim.priv as VdpasimBlkState;
  if (!sim.running) return;
  let reschedule = false;
  for (let i = 0; i < sim.vqs.length; i++) {
    const vq = sim.vqs[i];
    if (!vq.usable) continue;
    const vring = vq.vring!;
    let reqs = 0;
    try {
      while (blk.handleReq(vring)) {
        if (vring.needsNotification()) sim.vqNotify(i);
        if (++reqs >= VDPASIM_BLK_BUDGET) {
          reschedule = true;
          break;
        }
      }
    } catch (e) {
      if (!(e instanceof VringError || e instanceof MemoryFault)) throw e;
      sim.vqError(i, e.message);
    }
  }
  if (reschedule) sim.schedule();
}
