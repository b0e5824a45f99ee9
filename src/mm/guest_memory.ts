/*
 * Guest (or process) memory, and the device's view of it.
 *
 * GuestMemory is the CPU view: a set of non-overlapping regions, each a
 * Buffer at a base address, with bounds-checked little-endian accessors and
 * a small first-fit allocator for the driver side (rings, buffers, indirect
 * tables). It stands for a VM's RAM or, on the vhost-vdpa path, for the
 * user process whose virtual addresses the IOTLB maps to.
 *
 * Addresses are JS numbers and must be safe integers (< 2^53): exact, and
 * cheap on the data path. A u64 from the guest that does not fit faults.
 *
 * GuestMemory is also a UserMm (user_mm.ts): the memory of a process the
 * model holds itself, which hands out Buffers.
 *
 * AddressSpace is the device's view (what a DMA address means):
 *  - PassthroughAddressSpace: the device sees the memory directly, as
 *    vdpa_sim does when bound to virtio_vdpa (no IOMMU in between);
 *  - IotlbAddressSpace (drivers/vhost/iotlb.ts): iova -> uaddr through a
 *    vhost IOTLB, with permissions, as vringh_*_iotlb() does.
 * translate() returns the contiguous piece at `addr` (possibly shorter than
 * asked: callers loop for ranges crossing mappings) and throws a MemoryFault
 * on a miss or a permission fault; it never returns stale or partial garbage.
 * A piece is either direct (a Buffer, `mm` null: read and write it in
 * place) or, over copy-based memory (another process's), an address in
 * that memory (`mm`, `uaddr`): read and write it with pieceRead/pieceWrite,
 * whose faults are MemoryFaults too.
 */
import { KernelError, fail } from '../kernel/errno';
import type { UserMm } from './user_mm';

export type Access = 'r' | 'w';

export interface Translation {
  /* Direct pieces: the bytes are buf[off, off+len). */
  buf: Buffer;
  off: number;
  len: number;
  /* Copy-based pieces: the bytes are at uaddr in mm (buf is then empty). */
  mm: UserMm | null;
  uaddr: number;
}

export interface AddressSpace {
  translate(addr: number, len: number, access: Access, out?: Translation): Translation;
  /* Bumped whenever a translation handed out earlier may have become stale. */
  readonly generation: number;
}

export type MemoryFaultKind = 'AddressFault' | 'PermissionFault';

/*
 * A failed access. It is an EFAULT KernelError (what copy_from_user gives a
 * syscall), and carries the kind so vringh can report it as a VringError.
 */
export class MemoryFault extends KernelError {
  constructor(
    readonly kind: MemoryFaultKind,
    readonly addr: number,
    readonly len: number,
    readonly access: Access,
  ) {
    super('EFAULT', `${kind} ${access} ${len}@0x${addr.toString(16)}`);
    this.name = 'MemoryFault';
  }
}

export interface GuestRegion {
  readonly base: number;
  readonly size: number;
  readonly buf: Buffer;
}

/* A free extent [start, end) inside one region, for the allocator. */
interface Extent {
  start: number;
  end: number;
}

export function newTranslation(): Translation {
  return { buf: EMPTY, off: 0, len: 0, mm: null, uaddr: 0 };
}
const EMPTY = Buffer.alloc(0);

/* Read a piece translate() returned into dst (copy_from_user for a copy-based one). */
export function pieceRead(t: Translation, dst: Uint8Array, dstOff: number): void {
  if (t.mm === null) t.buf.copy(dst, dstOff, t.off, t.off + t.len);
  else t.mm.readInto(t.uaddr, dst, dstOff, t.len);
}

/* Write src[srcOff, srcOff + t.len) into a piece translate() returned. */
export function pieceWrite(t: Translation, src: Uint8Array, srcOff: number): void {
  if (t.mm === null) t.buf.set(src.subarray(srcOff, srcOff + t.len), t.off);
  else t.mm.write(t.uaddr, src, srcOff, t.len);
}

/*
 * A copy-based piece of `mm` at uaddr: the memory behind it is not
 * checked here (the read or write that uses it faults instead).
 */
export function copyPiece(out: Translation, mm: UserMm, uaddr: number, len: number): Translation {
  out.buf = EMPTY;
  out.off = 0;
  out.len = len;
  out.mm = mm;
  out.uaddr = uaddr;
  return out;
}

export class GuestMemory implements UserMm {
  private regionList: GuestRegion[] = []; /* sorted by base */
  private lastHit: GuestRegion | null = null;
  private freeList: Extent[] = []; /* sorted by start, coalesced */
  private allocated = new Map<number, number>(); /* addr -> size */
  private gen = 0;

  /* `new GuestMemory(size)` is one zeroed region at 0; or a list of regions. */
  constructor(regions: number | ReadonlyArray<{ base: number; size?: number; buf?: Buffer }> = []) {
    if (typeof regions === 'number') regions = [{ base: 0, size: regions }];
    for (const r of regions) this.addRegion(r.base, r.buf ?? r.size ?? 0);
  }

  get generation(): number {
    return this.gen;
  }

  get regions(): readonly GuestRegion[] {
    return this.regionList;
  }

  addRegion(base: number, sizeOrBuf: number | Buffer): GuestRegion {
    const buf = typeof sizeOrBuf === 'number' ? Buffer.alloc(sizeOrBuf) : sizeOrBuf;
    const size = buf.length;
    if (!Number.isSafeInteger(base) || base < 0 || size === 0 || !Number.isSafeInteger(base + size)) fail('EINVAL');
    for (const r of this.regionList) if (base < r.base + r.size && r.base < base + size) fail('EEXIST');
    const region: GuestRegion = { base, size, buf };
    this.regionList.push(region);
    this.regionList.sort((a, b) => a.base - b.base);
    this.freeExtent(base, base + size);
    this.gen++;
    return region;
  }

  /* The region holding addr, or null. Last-hit first: accesses cluster. */
  findRegion(addr: number): GuestRegion | null {
    if (!(addr >= 0)) return null; /* NaN compares false everywhere below */
    const hit = this.lastHit;
    if (hit !== null && addr >= hit.base && addr < hit.base + hit.size) return hit;
    const list = this.regionList;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = list[mid];
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else return (this.lastHit = r);
    }
    return null;
  }

  /* The contiguous piece at addr: at most len bytes, up to the region's end. */
  translate(addr: number, len: number, access: Access = 'r', out: Translation = newTranslation()): Translation {
    const r = this.findRegion(addr);
    if (r === null) throw new MemoryFault('AddressFault', addr, len, access);
    const off = addr - r.base;
    const room = r.size - off;
    out.buf = r.buf;
    out.off = off;
    out.len = len < room ? len : room;
    out.mm = null;
    return out;
  }

  /* UserMm: every byte of the range lies in a region (all of it is read-write). */
  pinnable(addr: bigint, size: bigint, _write: boolean): boolean {
    const end = addr + size;
    if (size <= 0n || end > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    let a = Number(addr);
    const e = Number(end);
    while (a < e) {
      const r = this.findRegion(a);
      if (r === null) return false;
      a = r.base + r.size;
    }
    return true;
  }

  /* UserMm: memory the model holds lives as long as someone refers to it. */
  mmput(): void {}

  /* A zero-copy Buffer over [addr, addr+len); the range must sit in one region. */
  view(addr: number, len: number): Buffer {
    const t = this.translate(addr, len, 'r');
    if (t.len < len) throw new MemoryFault('AddressFault', addr, len, 'r');
    return t.buf.subarray(t.off, t.off + len);
  }

  readInto(addr: number, dst: Uint8Array, dstOff = 0, len = dst.length - dstOff): void {
    copyFromAddressSpace(this, addr, dst, dstOff, len);
  }

  read(addr: number, len: number): Buffer {
    const b = Buffer.alloc(len);
    this.readInto(addr, b, 0, len);
    return b;
  }

  write(addr: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    copyToAddressSpace(this, addr, src, srcOff, len);
  }

  fill(addr: number, len: number, byte = 0): void {
    const t = newTranslation();
    while (len > 0) {
      this.translate(addr, len, 'w', t);
      t.buf.fill(byte, t.off, t.off + t.len);
      addr += t.len;
      len -= t.len;
    }
  }

  readU8(addr: number): number {
    return this.read(addr, 1)[0];
  }
  readU16(addr: number): number {
    return this.read(addr, 2).readUInt16LE(0);
  }
  readU32(addr: number): number {
    return this.read(addr, 4).readUInt32LE(0);
  }
  readU64(addr: number): bigint {
    return this.read(addr, 8).readBigUInt64LE(0);
  }
  writeU8(addr: number, v: number): void {
    this.write(addr, Uint8Array.of(v & 0xff));
  }
  writeU16(addr: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.write(addr, b);
  }
  writeU32(addr: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.write(addr, b);
  }
  writeU64(addr: number, v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.write(addr, b);
  }

  /*
   * First-fit allocation inside the regions, for the driver side. Memory is
   * not cleared on free; alloc() hands it back zeroed, as dma_alloc_coherent.
   */
  alloc(size: number, align = 8): number {
    if (!(size > 0) || !Number.isSafeInteger(size) || align <= 0 || (align & (align - 1)) !== 0) fail('EINVAL');
    for (let i = 0; i < this.freeList.length; i++) {
      const e = this.freeList[i];
      const addr = Math.ceil(e.start / align) * align;
      if (addr + size > e.end) continue;
      const tail: Extent = { start: addr + size, end: e.end };
      const pieces: Extent[] = [];
      if (addr > e.start) pieces.push({ start: e.start, end: addr });
      if (tail.end > tail.start) pieces.push(tail);
      this.freeList.splice(i, 1, ...pieces);
      this.allocated.set(addr, size);
      this.fill(addr, size, 0);
      return addr;
    }
    return fail('ENOMEM');
  }

  /* Give back an alloc() result; anything else is EINVAL. */
  free(addr: number): void {
    const size = this.allocated.get(addr);
    if (size === undefined) fail('EINVAL');
    this.allocated.delete(addr);
    this.freeExtent(addr, addr + size);
  }

  /* Put [start, end) back on the sorted free list, merging neighbours that
   * touch it inside the same region (an extent never spans two regions, so
   * an allocation is always one contiguous Buffer). */
  private freeExtent(start: number, end: number): void {
    const list = this.freeList;
    let i = 0;
    while (i < list.length && list[i].start < start) i++;
    list.splice(i, 0, { start, end });
    const mergeable = (a: Extent, b: Extent): boolean =>
      a.end === b.start && this.findRegion(a.start) === this.findRegion(b.start);
    if (i + 1 < list.length && mergeable(list[i], list[i + 1])) {
      list[i].end = list[i + 1].end;
      list.splice(i + 1, 1);
    }
    if (i > 0 && mergeable(list[i - 1], list[i])) {
      list[i - 1].end = list[i].end;
      list.splice(i, 1);
    }
  }
}

/*
 * The device sees guest memory as is: vdpa_sim bound to virtio_vdpa, where
 * the DMA address is the guest address. Everything is readable and writable.
 */
export class PassthroughAddressSpace implements AddressSpace {
  constructor(readonly mem: UserMm) {}

  get generation(): number {
    return this.mem.generation;
  }

  translate(addr: number, len: number, access: Access, out: Translation = newTranslation()): Translation {
    if (this.mem.translate !== undefined) return this.mem.translate(addr, len, access, out);
    if (!(addr >= 0 && addr <= Number.MAX_SAFE_INTEGER)) throw new MemoryFault('AddressFault', addr, len, access);
    return copyPiece(out, this.mem, addr, len);
  }
}

/* Copy len bytes at addr out of an address space, piece by piece. */
export function copyFromAddressSpace(as: AddressSpace, addr: number, dst: Uint8Array, dstOff: number, len: number): void {
  const t = newTranslation();
  while (len > 0) {
    as.translate(addr, len, 'r', t);
    pieceRead(t, dst, dstOff);
    addr += t.len;
    dstOff += t.len;
    len -= t.len;
  }
}

/* Copy len bytes into an address space at addr, piece by piece. */
export function copyToAddressSpace(as: AddressSpace, addr: number, src: Uint8Array, srcOff: number, len: number): void {
  const t = newTranslation();
  while (len > 0) {
    as.translate(addr, len, 'w', t);
    pieceWrite(t, src, srcOff);
    addr += t.len;
    srcOff += t.len;
    len -= t.len;
  }
}
