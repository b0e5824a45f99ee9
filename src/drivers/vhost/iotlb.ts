/*
 * drivers/vhost/iotlb.c: the vhost IOTLB, a set of iova ranges [start, last]
 * each mapped to an address with a permission. For vhost-vdpa on vdpa_sim the
 * model keeps the owner's user address there (the kernel, with use_va=0,
 * keeps the physical address of the pinned page behind it).
 *
 * The kernel keeps an interval tree. Here the maps never overlap (addRange
 * refuses with EEXIST, the check vhost_vdpa_process_iotlb_update makes before
 * mapping), so a sorted array and a binary search do the same job.
 *
 * Bounds are u64 and kept as bigint so the API is exact (the sim's iova range
 * is 0..2^64-1). Each map also carries number copies for the data path: for
 * any address below 2^53 comparisons against them are still exact, and an
 * address at or above 2^53 is refused before the lookup.
 */
import { fail } from '../../kernel/errno';
import { AddressSpace, Access, GuestMemory, MemoryFault, Translation, copyPiece, newTranslation } from '../../mm/guest_memory';
import type { UserMm } from '../../mm/user_mm';

/* include/uapi/linux/vhost_types.h */
/* Module-local names for translate(): TS turns uses of an exported const into loads from `exports`, which TurboFan does not fold. */
const ACCESS_RO = 0x1;
const ACCESS_WO = 0x2;
export const VHOST_ACCESS_RO = ACCESS_RO;
export const VHOST_ACCESS_WO = ACCESS_WO;
export const VHOST_ACCESS_RW = 0x3;
export const VHOST_MAP_RO = VHOST_ACCESS_RO;
export const VHOST_MAP_WO = VHOST_ACCESS_WO;
export const VHOST_MAP_RW = VHOST_ACCESS_RW;

/* include/linux/vhost_iotlb.h: evict the oldest map instead of failing when full. */
export const VHOST_IOTLB_FLAG_RETIRE = 0x1;

const U64_MAX = 0xffff_ffff_ffff_ffffn;

export interface VhostIotlbMap {
  readonly start: bigint;
  readonly last: bigint;
  readonly size: bigint;
  readonly addr: bigint;
  readonly perm: number;
}

/* A map plus what the hot path needs: number bounds and insertion order. */
interface IotlbEntry extends VhostIotlbMap {
  readonly startN: number;
  readonly lastN: number;
  readonly addrN: number;
  readonly seq: number;
}

function u64(v: bigint | number): bigint {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) fail('EINVAL');
  return b;
}

export class VhostIotlb {
  private entries: IotlbEntry[] = []; /* sorted by start, disjoint */
  private lastHit: IotlbEntry | null = null;
  private seq = 0;
  private gen = 0;

  /* vhost_iotlb_init(): limit 0 means unlimited (vdpa_sim passes max_iotlb_entries = 2048). */
  constructor(
    readonly limit = 0,
    readonly flags = 0,
  ) {}

  get nmaps(): number {
    return this.entries.length;
  }

  /* Bumped on every change, so cached translations know to redo the walk. */
  get generation(): number {
    return this.gen;
  }

  /*
   * vhost_iotlb_add_range(). EFAULT when last < start (as the kernel);
   * EEXIST when it overlaps a map (vhost_vdpa_process_iotlb_update's check);
   * ENOMEM when full, unless RETIRE drops the oldest map. Upstream enforces
   * the limit only with RETIRE; here a limit without RETIRE is a hard cap.
   */
  addRange(start: bigint | number, last: bigint | number, addr: bigint | number, perm: number): void {
    const s = u64(start);
    const l = u64(last);
    const a = u64(addr);
    if (l < s) fail('EFAULT');
    if (this.itreeFirst(s, l) !== undefined) fail('EEXIST');
    /* [0, U64_MAX] is split in two so each size fits a u64, as the kernel does. */
    if (s === 0n && l === U64_MAX) {
      const mid = l / 2n;
      this.insert(s, mid, a, perm);
      this.insert(mid + 1n, l, (a + mid + 1n) & U64_MAX, perm);
      return;
    }
    this.insert(s, l, a, perm);
  }

  private insert(start: bigint, last: bigint, addr: bigint, perm: number): void {
    if (this.limit && this.entries.length >= this.limit) {
      if (!(this.flags & VHOST_IOTLB_FLAG_RETIRE)) fail('ENOMEM');
      let oldest = this.entries[0];
      for (const e of this.entries) if (e.seq < oldest.seq) oldest = e;
      this.remove(oldest);
    }
    const entry: IotlbEntry = {
      start,
      last,
      size: last - start + 1n,
      addr,
      perm,
      startN: Number(start),
      lastN: Number(last),
      addrN: Number(addr),
      seq: this.seq++,
    };
    const i = this.lowerBound(start);
    this.entries.splice(i, 0, entry);
    this.gen++;
  }

  private remove(e: IotlbEntry): void {
    this.entries.splice(this.entries.indexOf(e), 1);
    if (this.lastHit === e) this.lastHit = null;
    this.gen++;
  }

  /* vhost_iotlb_del_range(): drop every map that overlaps [start, last]. */
  delRange(start: bigint | number, last: bigint | number): void {
    const s = u64(start);
    const l = u64(last);
    for (let m = this.itreeFirst(s, l); m !== undefined; m = this.itreeFirst(s, l)) this.remove(m as IotlbEntry);
  }

  /* vhost_iotlb_reset() */
  reset(): void {
    this.delRange(0n, U64_MAX);
  }

  /* vhost_iotlb_itree_first(): the lowest map overlapping [start, last]. */
  itreeFirst(start: bigint | number, last: bigint | number): VhostIotlbMap | undefined {
    const s = BigInt(start);
    const l = BigInt(last);
    /* The first map whose last >= s is the only candidate: maps are disjoint and sorted. */
    const list = this.entries;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].last < s) lo = mid + 1;
      else hi = mid;
    }
    const e = list[lo];
    return e !== undefined && e.start <= l ? e : undefined;
  }

  /* Every map, in iova order. */
  maps(): readonly VhostIotlbMap[] {
    return this.entries;
  }

  /* The map holding iova (a safe integer), or null; last hit first. */
  lookup(iova: number): IotlbEntry | null {
    const hit = this.lastHit;
    if (hit !== null && iova >= hit.startN && iova <= hit.lastN) return hit;
    const list = this.entries;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = list[mid];
      if (iova < e.startN) hi = mid - 1;
      else if (iova > e.lastN) lo = mid + 1;
      else return (this.lastHit = e);
    }
    return null;
  }

  private lowerBound(start: bigint): number {
    const list = this.entries;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].start < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/*
 * The device's view through an IOTLB (vringh's iotlb_translate): iova ->
 * map -> user address -> the backing memory. A device read needs the RO bit,
 * a write the WO bit. A miss is an AddressFault, a permission failure a
 * PermissionFault. Over memory the model holds (a GuestMemory) the piece is
 * a Buffer, and a map pointing outside it is an AddressFault too (the
 * kernel could not have pinned those pages); over copy-based memory (a
 * client process's) the piece is an address there, and an unmapped page
 * faults when it is read or written.
 */
export class IotlbAddressSpace implements AddressSpace {
  /* The memory when it is a GuestMemory: its region lookup is inlined below. */
  private readonly direct: GuestMemory | null;

  constructor(
    readonly iotlb: VhostIotlb,
    readonly mem: UserMm,
  ) {
    this.direct = mem instanceof GuestMemory ? mem : null;
  }

  get generation(): number {
    /*
     * Either side changing invalidates translations. Both counts only go
     * up, so their sum changes whenever either does; and it stays a small
     * integer (a Smi), which the per-verb check in vringh compares without
     * boxing a heap number on every call.
     */
    return this.iotlb.generation + this.mem.generation;
  }

  translate(iova: number, len: number, access: Access, out: Translation = newTranslation()): Translation {
    if (!(iova <= Number.MAX_SAFE_INTEGER)) throw new MemoryFault('AddressFault', iova, len, access);
    const m = this.iotlb.lookup(iova);
    if (m === null) throw new MemoryFault('AddressFault', iova, len, access);
    if (!(m.perm & (access === 'w' ? ACCESS_WO : ACCESS_RO)))
      throw new MemoryFault('PermissionFault', iova, len, access);
    const uaddr = m.addrN + (iova - m.startN);
    /* The piece ends at the map's last byte, or sooner. */
    const mapRoom = m.lastN - iova + 1;
    const direct = this.direct;
    if (direct === null) {
      if (!(uaddr <= Number.MAX_SAFE_INTEGER)) throw new MemoryFault('AddressFault', iova, len, access);
      const n = len < mapRoom ? len : mapRoom;
      if (this.mem.translate === undefined) return copyPiece(out, this.mem, uaddr, n);
      this.mem.translate(uaddr, n, access, out);
      return out;
    }
    /* GuestMemory.translate() inlined, so the region is looked up once per access. */
    const r = direct.findRegion(uaddr);
    if (r === null) throw new MemoryFault('AddressFault', iova, len, access);
    const off = uaddr - r.base;
    const regionRoom = r.size - off;
    const room = mapRoom < regionRoom ? mapRoom : regionRoom;
    out.buf = r.buf;
    out.off = off;
    out.len = len < room ? len : room;
    out.mm = null;
    return out;
  }
}
